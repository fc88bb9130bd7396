//! The reference interpreter: the oracle every backend is tested against.
//!
//! It runs a verified graph one time step at a time (DESIGN.md §2): the inputs enter, nodes are
//! evaluated in the verifier's topological order (recurrent edges ignored), a value produced at
//! step t reaches its readers in the same step over ordinary edges and at step t+1 over
//! recurrent ones (zeros of the source's type at t = 0). Constants are evaluated once; neurons
//! and delays keep their state between steps. The meaning of each op is in its family's file
//! (`op/<family>.rs`) and in `docs/semantics.md`.

mod dispatch;
pub(crate) mod num;
mod state;

use std::collections::BTreeMap;

use crate::infer::fmt_shape;
use crate::{Graph, GraphInfo, IrError, NodeId, Op, Tensor, TensorType};
use state::NodeState;

/// Where a node reads one of its inputs from.
#[derive(Clone, Copy, Debug)]
struct Operand {
    /// Position of the source node in the evaluation order.
    src: usize,
    /// Read the source's value of the previous step.
    recurrent: bool,
}

/// One node, resolved for evaluation.
struct Planned<'g> {
    id: NodeId,
    name: &'g str,
    op: &'g Op,
    ty: &'g TensorType,
    operands: Vec<Operand>,
}

/// Executes one graph step by step. Borrows the graph; holds every node's current value and
/// the state of stateful nodes.
pub struct Interpreter<'g> {
    plan: Vec<Planned<'g>>,
    /// Plan positions of the graph inputs and outputs, in index order.
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// The value of every node at the current step (constants: always).
    values: Vec<Option<Tensor>>,
    /// For sources of recurrent edges: their value at the previous step.
    prev: Vec<Option<Tensor>>,
    /// For stateful nodes: their state.
    states: Vec<Option<NodeState>>,
}

impl<'g> Interpreter<'g> {
    /// Prepare to run `graph`, which `info` (from [`crate::verify()`]) describes. `dt` is the time
    /// step in seconds, used by neurons and delays and ignored by stateless graphs.
    pub fn new(graph: &'g Graph, info: &GraphInfo, dt: f32) -> Result<Self, IrError> {
        if info.order.len() != graph.len() {
            return Err(IrError::Graph(format!(
                "the graph info lists {} nodes but the graph has {}: verify this graph first",
                info.order.len(),
                graph.len()
            )));
        }
        let mut pos: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (i, id) in info.order.iter().enumerate() {
            if graph.get(*id).is_none() || pos.insert(*id, i).is_some() {
                return Err(IrError::Graph(format!(
                    "the graph info's order does not match the graph at {id}: verify this graph first"
                )));
            }
        }
        let mut plan = Vec::with_capacity(info.order.len());
        for id in &info.order {
            let node = graph.node(*id);
            let ty = node.ty.as_ref().ok_or_else(|| {
                IrError::node(
                    &node.name,
                    node.op.name(),
                    "has no type: verify the graph first",
                )
            })?;
            let mut operands = Vec::new();
            for (slot, (src, edge)) in graph.operands(*id).into_iter().enumerate() {
                if edge.slot != slot {
                    return Err(IrError::node(
                        &node.name,
                        node.op.name(),
                        format!("input slot {slot} is not connected"),
                    ));
                }
                let src = *pos.get(&src).ok_or_else(|| {
                    IrError::node(&node.name, node.op.name(), "reads a node outside the graph")
                })?;
                operands.push(Operand {
                    src,
                    recurrent: edge.recurrent,
                });
            }
            plan.push(Planned {
                id: *id,
                name: &node.name,
                op: &node.op,
                ty,
                operands,
            });
        }
        let lookup = |ids: &[NodeId], what: &str| -> Result<Vec<usize>, IrError> {
            ids.iter()
                .map(|id| {
                    pos.get(id)
                        .copied()
                        .ok_or_else(|| IrError::Graph(format!("graph {what} {id} is not a node")))
                })
                .collect()
        };
        let inputs = lookup(graph.inputs(), "input")?;
        let outputs = lookup(graph.outputs(), "output")?;
        let mut values = vec![None; plan.len()];
        let mut states: Vec<Option<NodeState>> = Vec::with_capacity(plan.len());
        for (i, p) in plan.iter().enumerate() {
            if let Op::Const(t) = p.op {
                values[i] = Some(t.clone());
            }
            let state = if p.op.is_stateful() {
                let s = NodeState::new(p.op, &p.ty.shape, dt)
                    .map_err(|e| e.in_node(p.name, p.op.name()))?;
                if s.is_none() {
                    return Err(IrError::node(p.name, p.op.name(), "has no step state"));
                }
                s
            } else {
                None
            };
            states.push(state);
        }
        let mut it = Interpreter {
            plan,
            inputs,
            outputs,
            values,
            prev: Vec::new(),
            states,
        };
        it.reset();
        Ok(it)
    }

    /// Back to t = 0: recurrent edges deliver zeros again and every neuron and delay starts
    /// from its initial state.
    pub fn reset(&mut self) {
        let mut prev = vec![None; self.plan.len()];
        for p in &self.plan {
            for o in p.operands.iter().filter(|o| o.recurrent) {
                if let Some(src) = self.plan.get(o.src) {
                    prev[o.src] = Some(Tensor::zeros(src.ty.dtype, src.ty.shape.clone()));
                }
            }
        }
        self.prev = prev;
        for s in self.states.iter_mut().flatten() {
            s.reset();
        }
        for (v, p) in self.values.iter_mut().zip(&self.plan) {
            if !matches!(p.op, Op::Const(_)) {
                *v = None;
            }
        }
    }

    /// Run one time step. `inputs` are in graph-input order, each of exactly the input node's
    /// shape and dtype; the result holds the graph outputs in output order.
    pub fn step(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
        if inputs.len() != self.inputs.len() {
            return Err(IrError::Graph(format!(
                "the graph takes {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut given: Vec<Option<&Tensor>> = vec![None; self.plan.len()];
        for (k, (&at, t)) in self.inputs.iter().zip(inputs).enumerate() {
            let p = &self.plan[at];
            if t.dtype() != p.ty.dtype || t.shape() != p.ty.shape.as_slice() {
                return Err(IrError::node(
                    p.name,
                    p.op.name(),
                    format!(
                        "graph input {k} must be {}, got {}{}",
                        p.ty,
                        t.dtype(),
                        fmt_shape(t.shape())
                    ),
                ));
            }
            given[at] = Some(t);
        }
        for (i, p) in self.plan.iter().enumerate() {
            if matches!(p.op, Op::Const(_)) {
                continue;
            }
            let fail = |reason: String| IrError::node(p.name, p.op.name(), reason);
            let mut ins: Vec<&Tensor> = Vec::with_capacity(p.operands.len());
            for (slot, o) in p.operands.iter().enumerate() {
                let v = if o.recurrent {
                    self.prev.get(o.src)
                } else {
                    self.values.get(o.src)
                };
                let v = v.and_then(Option::as_ref).ok_or_else(|| {
                    fail(format!(
                        "input {slot} has no value yet: the evaluation order is not topological"
                    ))
                })?;
                ins.push(v);
            }
            let out = match (p.op, self.states.get_mut(i).and_then(Option::as_mut)) {
                (Op::Input { .. }, _) => given[i]
                    .cloned()
                    .ok_or_else(|| fail("is not one of the graph's inputs".into())),
                (_, Some(state)) => {
                    let x = ins
                        .first()
                        .ok_or_else(|| fail("input 0 is missing".into()))?;
                    state.step(x)
                }
                (op, None) => dispatch::eval_stateless(op, &ins),
            }
            .map_err(|e| e.in_node(p.name, p.op.name()))?;
            if out.dtype() != p.ty.dtype || out.shape() != p.ty.shape.as_slice() {
                return Err(fail(format!(
                    "computed {}{} but the graph says {}",
                    out.dtype(),
                    fmt_shape(out.shape()),
                    p.ty
                )));
            }
            self.values[i] = Some(out);
        }
        for (i, prev) in self.prev.iter_mut().enumerate() {
            if prev.is_some() {
                *prev = self.values[i].clone();
            }
        }
        self.outputs
            .iter()
            .map(|&at| {
                self.values[at].clone().ok_or_else(|| {
                    let p = &self.plan[at];
                    IrError::node(p.name, p.op.name(), "produced no value")
                })
            })
            .collect()
    }

    /// The node ids in evaluation order (for tools that trace values per node).
    pub fn order(&self) -> Vec<NodeId> {
        self.plan.iter().map(|p| p.id).collect()
    }

    /// The value `id` produced at the last step (constants: always), if any.
    pub fn value(&self, id: NodeId) -> Option<&Tensor> {
        let i = self.plan.iter().position(|p| p.id == id)?;
        self.values.get(i).and_then(Option::as_ref)
    }
}

/// Run a stateless graph once: [`Interpreter::new`] and one [`Interpreter::step`]. Graphs with
/// state (neurons, delays or recurrent edges, see [`GraphInfo::stateful`]) need a time step and
/// more than one step to mean anything: use the interpreter directly.
pub fn run(graph: &Graph, info: &GraphInfo, inputs: &[Tensor]) -> Result<Vec<Tensor>, IrError> {
    if info.stateful {
        let advice = "run it with Interpreter::new(graph, info, dt) and step()";
        let stateful_node = info
            .order
            .iter()
            .filter_map(|id| graph.get(*id))
            .find(|n| n.op.is_stateful());
        return Err(match stateful_node {
            Some(n) => IrError::node(
                &n.name,
                n.op.name(),
                format!("is stateful, so the graph cannot be run once: {advice}"),
            ),
            None => IrError::Graph(format!(
                "the graph has recurrent edges, so it cannot be run once: {advice}"
            )),
        });
    }
    Interpreter::new(graph, info, 1.0)?.step(inputs)
}

#[cfg(test)]
mod int_cases;
#[cfg(test)]
mod onnx_cases;
#[cfg(test)]
mod tests;
