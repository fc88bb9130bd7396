//! The graph: nodes holding ops, edges feeding input slots.

use std::collections::BTreeSet;

use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use petgraph::Direction;

use crate::{infer, IrError, NodeId, Op, Tensor, TensorType};

/// A node: an op, the name users know it by (from the source model), and the type of the one
/// value it produces (`None` only while a frontend is still building the graph).
#[derive(Clone, PartialEq, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub ty: Option<TensorType>,
}

/// An edge feeds the source's value into input `slot` of the target. A `recurrent` edge closes a
/// cycle: the value it delivers at step t is the one its source produced at step t−1 (zeros at
/// t = 0). The type an edge carries is its source node's type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Edge {
    pub slot: usize,
    pub recurrent: bool,
}

/// A dataflow graph of ops. Node ids stay valid when other nodes are removed.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The model's name (from the source file), printed in the text form.
    pub name: String,
    g: StableDiGraph<Node, Edge, u32>,
    inputs: Vec<NodeId>,
    outputs: Vec<NodeId>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Add graph input number `inputs().len()`.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> NodeId {
        let index = self.inputs.len();
        let id = self.push(name.into(), Op::Input { index }, Some(ty));
        self.inputs.push(id);
        id
    }

    /// Add a constant; its type is the tensor's.
    pub fn add_const(&mut self, name: impl Into<String>, t: Tensor) -> NodeId {
        let ty = TensorType::new(t.dtype(), t.shape().to_vec());
        self.push(name.into(), Op::Const(t), Some(ty))
    }

    /// Add graph output number `outputs().len()`, reading `src`.
    pub fn add_output(&mut self, name: impl Into<String>, src: NodeId) -> Result<NodeId, IrError> {
        let index = self.outputs.len();
        let id = self.add_node(name, Op::Output { index }, &[src])?;
        self.outputs.push(id);
        Ok(id)
    }

    /// Add a node fed by `operands` (slot i from `operands[i]`, none recurrent) and infer its
    /// type. Fails, adding nothing, when the arity or the input types do not fit the op.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        operands: &[NodeId],
    ) -> Result<NodeId, IrError> {
        let name = name.into();
        check_arity(&name, &op, operands.len())?;
        let tys: Vec<Option<&TensorType>> = operands
            .iter()
            .map(|o| self.get(*o).and_then(|n| n.ty.as_ref()))
            .collect();
        let ty = infer::infer(&op, &name, &tys)?;
        let id = self.push(name, op, Some(ty));
        for (slot, src) in operands.iter().enumerate() {
            self.g.add_edge(
                src.index(),
                id.index(),
                Edge {
                    slot,
                    recurrent: false,
                },
            );
        }
        Ok(id)
    }

    /// Add a node without inputs or type, for graphs with cycles: connect it with
    /// [`Graph::connect`], then call [`Graph::infer_types`]. `Input`/`Output` ops added this way
    /// are registered as graph inputs/outputs in `index` order.
    pub fn add_node_untyped(&mut self, name: impl Into<String>, op: Op) -> NodeId {
        let io = match op {
            Op::Input { index } => Some((true, index)),
            Op::Output { index } => Some((false, index)),
            _ => None,
        };
        let id = self.push(name.into(), op, None);
        match io {
            Some((true, index)) => insert_at(&mut self.inputs, index, id),
            Some((false, index)) => insert_at(&mut self.outputs, index, id),
            None => {}
        }
        id
    }

    /// Feed `src` into input `slot` of `dst`.
    pub fn connect(
        &mut self,
        src: NodeId,
        dst: NodeId,
        slot: usize,
        recurrent: bool,
    ) -> Result<(), IrError> {
        if self.get(src).is_none() || self.get(dst).is_none() {
            return Err(IrError::Graph(format!("connect: no node {src} or {dst}")));
        }
        if self.operand(dst, slot).is_some() {
            let n = self.node(dst);
            return Err(IrError::node(
                &n.name,
                n.op.name(),
                format!("input slot {slot} is already connected"),
            ));
        }
        self.g
            .add_edge(src.index(), dst.index(), Edge { slot, recurrent });
        Ok(())
    }

    /// (Re)compute the type of every node from its inputs, in topological order. Recurrent
    /// inputs whose source has no type yet are passed as `None`; sweeps repeat until every type
    /// is known and stable.
    pub fn infer_types(&mut self) -> Result<(), IrError> {
        let order = self.topo_order()?;
        for _sweep in 0..3 {
            let mut changed = false;
            for &id in &order {
                let node = self.node(id);
                if matches!(node.op, Op::Input { .. } | Op::Const(_)) {
                    continue;
                }
                let ops = self.operands(id);
                check_arity(&node.name, &node.op, ops.len())?;
                let tys: Vec<Option<&TensorType>> = ops
                    .iter()
                    .map(|(src, _)| self.node(*src).ty.as_ref())
                    .collect();
                let ty = infer::infer(&node.op, &node.name, &tys)?;
                if node.ty.as_ref() != Some(&ty) {
                    changed = true;
                    self.node_mut(id).ty = Some(ty);
                }
            }
            if !changed {
                return Ok(());
            }
        }
        Ok(())
    }

    fn push(&mut self, name: String, op: Op, ty: Option<TensorType>) -> NodeId {
        NodeId::from_index(self.g.add_node(Node { name, op, ty }))
    }

    /// The node, or `None` for an id that was removed or never existed.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.g.node_weight(id.index())
    }

    /// The node. Panics on an id that is not in this graph: ids come from the graph itself.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id.index()]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id.index()]
    }

    /// The type of `id`'s value. Panics on an untyped node; a verified graph has none.
    pub fn ty(&self, id: NodeId) -> &TensorType {
        match &self.node(id).ty {
            Some(t) => t,
            None => panic!("node {id} has no type: verify the graph first"),
        }
    }

    /// The inputs of `id`, ordered by slot.
    pub fn operands(&self, id: NodeId) -> Vec<(NodeId, Edge)> {
        let mut v: Vec<(NodeId, Edge)> = self
            .g
            .edges_directed(id.index(), Direction::Incoming)
            .map(|e| (NodeId::from_index(e.source()), *e.weight()))
            .collect();
        v.sort_by_key(|(src, e)| (e.slot, *src));
        v
    }

    /// The node feeding input `slot` of `id`.
    pub fn operand(&self, id: NodeId, slot: usize) -> Option<NodeId> {
        self.g
            .edges_directed(id.index(), Direction::Incoming)
            .find(|e| e.weight().slot == slot)
            .map(|e| NodeId::from_index(e.source()))
    }

    /// The nodes reading `id`, with the edge, ordered by (user, slot).
    pub fn users(&self, id: NodeId) -> Vec<(NodeId, Edge)> {
        let mut v: Vec<(NodeId, Edge)> = self
            .g
            .edges_directed(id.index(), Direction::Outgoing)
            .map(|e| (NodeId::from_index(e.target()), *e.weight()))
            .collect();
        v.sort_by_key(|(dst, e)| (*dst, e.slot));
        v
    }

    /// Every node id in ascending order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self.g.node_indices().map(NodeId::from_index).collect();
        v.sort();
        v
    }

    /// Every edge as (source, target, edge), ordered by (target, slot).
    pub fn edges(&self) -> Vec<(NodeId, NodeId, Edge)> {
        let mut v: Vec<(NodeId, NodeId, Edge)> = self
            .g
            .edge_references()
            .map(|e| {
                (
                    NodeId::from_index(e.source()),
                    NodeId::from_index(e.target()),
                    *e.weight(),
                )
            })
            .collect();
        v.sort_by_key(|(s, t, e)| (*t, e.slot, *s));
        v
    }

    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Graph inputs in index order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// Graph outputs in index order.
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// A topological order of the graph without its recurrent edges. Among ready nodes the
    /// smallest id goes first, so the order depends only on the graph.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, IrError> {
        let ids = self.node_ids();
        let mut indeg: std::collections::HashMap<NodeId, usize> =
            ids.iter().map(|i| (*i, 0)).collect();
        for (_, dst, e) in self.edges() {
            if !e.recurrent {
                *indeg.entry(dst).or_default() += 1;
            }
        }
        let mut ready: BTreeSet<NodeId> = ids.iter().copied().filter(|i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(ids.len());
        while let Some(id) = ready.pop_first() {
            order.push(id);
            for (dst, e) in self.users(id) {
                if e.recurrent {
                    continue;
                }
                let d = indeg.entry(dst).or_default();
                *d -= 1;
                if *d == 0 {
                    ready.insert(dst);
                }
            }
        }
        if order.len() != ids.len() {
            let stuck: BTreeSet<NodeId> = ids.iter().copied().filter(|i| indeg[i] > 0).collect();
            return Err(self.cycle_error(&stuck));
        }
        Ok(order)
    }

    /// The error for the nodes a topological sort could not order: it names the node with the
    /// smallest id on one cycle, found by walking from the smallest stuck node to its smallest
    /// stuck predecessor until a node repeats (stuck nodes downstream of a cycle are not named).
    fn cycle_error(&self, stuck: &BTreeSet<NodeId>) -> IrError {
        let Some(mut cur) = stuck.first().copied() else {
            return IrError::Graph("the graph has a cycle".to_string());
        };
        let mut path: Vec<NodeId> = Vec::new();
        let mut at: std::collections::BTreeMap<NodeId, usize> = Default::default();
        loop {
            if let Some(&start) = at.get(&cur) {
                let on_cycle = path.get(start..).and_then(|c| c.iter().min().copied());
                let node = on_cycle.unwrap_or(cur);
                return IrError::Cycle {
                    node: self.node(node).name.clone(),
                };
            }
            at.insert(cur, path.len());
            path.push(cur);
            let pred = self
                .operands(cur)
                .into_iter()
                .filter(|(s, e)| !e.recurrent && stuck.contains(s))
                .map(|(s, _)| s)
                .min();
            match pred {
                Some(p) => cur = p,
                None => {
                    return IrError::Cycle {
                        node: self.node(cur).name.clone(),
                    }
                }
            }
        }
    }

    /// Remove a node and its edges. Graph input/output lists drop it too.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        self.inputs.retain(|i| *i != id);
        self.outputs.retain(|o| *o != id);
        self.g.remove_node(id.index())
    }

    /// Make every reader of `old` read `new` instead (same slot, same recurrence).
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        let out: Vec<_> = self
            .g
            .edges_directed(old.index(), Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
            .collect();
        for (eid, dst, w) in out {
            self.g.remove_edge(eid);
            self.g.add_edge(new.index(), dst, w);
        }
    }

    /// Replace the source of input `slot` of `dst`.
    pub fn set_operand(&mut self, dst: NodeId, slot: usize, src: NodeId) {
        let old = self
            .g
            .edges_directed(dst.index(), Direction::Incoming)
            .find(|e| e.weight().slot == slot)
            .map(|e| (e.id(), *e.weight()));
        let edge = match old {
            Some((eid, w)) => {
                self.g.remove_edge(eid);
                w
            }
            None => Edge {
                slot,
                recurrent: false,
            },
        };
        self.g.add_edge(src.index(), dst.index(), edge);
    }
}

fn insert_at(list: &mut Vec<NodeId>, index: usize, id: NodeId) {
    let at = index.min(list.len());
    list.insert(at, id);
}

fn check_arity(name: &str, op: &Op, n: usize) -> Result<(), IrError> {
    let (lo, hi) = op.arity();
    if n < lo || n > hi {
        let want = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo} to {hi}")
        };
        return Err(IrError::node(
            name,
            op.name(),
            format!("takes {want} inputs, got {n}"),
        ));
    }
    Ok(())
}
