//! Lowering: the verified integer SNN graph the passes leave → the target's [`Network`].
//!
//! The graph must have the shape `quantize-snn` produces (one input, one output):
//!
//! ```text
//! input ─ [quantize_linear] ─┬─ gemm ─ requant ─┐
//!                            │   (…)            add? ─ int_lif ─ … ─ int_lif ─ output
//! int_lif ─(recurrent?)──────┴─ gemm ─ requant ─┘
//! ```
//!
//! Every `int_lif` becomes a LIF population, the (quantized) input a source population, and
//! every `gemm → requant` path from a population into an `int_lif` a projection; `add` nodes that
//! join several requantized projections are accepted when the integer sum is exact (no wrap for
//! the operand ranges), `reshape`/`flatten` (which never reorder elements) are looked through,
//! `delay` ops and recurrent edges become projection delays. Anything else is refused with the
//! node, the op and the reason, all refused nodes in one error.
//!
//! The checks the hardware needs are done here, once: weights fit i16, per post neuron and
//! projection `Σ|w|·max|payload| < 2^31` (the i32 accumulator cannot overflow), requant and LIF
//! parameters fit i32, and the network can be pipelined ([`Network::schedule`]).

mod input;
mod params;
mod scan;
mod synapses;
mod trace;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use snnc_ir::{Graph, GraphInfo, NodeId, Op};

use super::error::{Spinnaker2Error, Unsupported};
use super::network::{Network, OutputSpec, Population, PopulationKind};

/// Options of the lowering that the graph itself does not carry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LowerOptions {
    /// Step length in seconds, needed only to turn `delay` ops (given in seconds) into steps;
    /// it must be the `dt` the reference interpreter runs with. `None` refuses `delay` ops.
    pub dt: Option<f32>,
}

/// Lower a verified integer SNN graph to a [`Network`] (no `delay` ops allowed: see
/// [`lower_with`]).
pub fn lower(graph: &Graph, info: &GraphInfo) -> Result<Network, Spinnaker2Error> {
    lower_with(graph, info, &LowerOptions::default())
}

/// Lower a verified integer SNN graph to a [`Network`]; populations are in the topological order
/// of `info` (the source first), projections grouped by post population in that order.
pub fn lower_with(
    graph: &Graph,
    info: &GraphInfo,
    opts: &LowerOptions,
) -> Result<Network, Spinnaker2Error> {
    let refused = scan::unsupported_ops(graph);
    if !refused.is_empty() {
        return Err(Spinnaker2Error::unsupported(refused));
    }
    let source = input::source(graph)?;
    let mut populations = vec![Population {
        name: source.name.clone(),
        size: source.size,
        kind: PopulationKind::Source,
    }];
    let mut pop_of: BTreeMap<NodeId, usize> = BTreeMap::new();
    pop_of.insert(source.producer, 0);
    let mut lifs: Vec<(NodeId, usize)> = Vec::new();
    for &id in &info.order {
        let Some(node) = graph.get(id) else { continue };
        let Op::IntLif(l) = &node.op else { continue };
        let shape = node_shape(graph, id)?;
        let params = params::lif(l, &shape, &node.name)?;
        let index = populations.len();
        populations.push(Population {
            name: node.name.clone(),
            size: snnc_ir::numel(&shape),
            kind: PopulationKind::Lif(params),
        });
        pop_of.insert(id, index);
        lifs.push((id, index));
    }
    let mut problems: Vec<Unsupported> = Vec::new();
    let mut terms = Vec::new();
    for &(lif, post) in &lifs {
        let (found, mut bad) = trace::terms(graph, lif, populations[post].size, &pop_of, opts);
        problems.append(&mut bad);
        terms.extend(found.into_iter().map(|t| (t, post)));
    }
    let output = match output(graph, &pop_of) {
        Ok(o) => Some(o),
        Err(Spinnaker2Error::UnsupportedOp { node, op, reason }) => {
            problems.push(Unsupported { node, op, reason });
            None
        }
        Err(e) => return Err(e),
    };
    let output = match output {
        Some(o) if problems.is_empty() => o,
        _ => return Err(Spinnaker2Error::unsupported(problems)),
    };
    let mut names = synapses::Names::default();
    let mut projections = Vec::with_capacity(terms.len());
    for (term, post) in &terms {
        let pre = pop_of
            .get(&term.pre)
            .copied()
            .ok_or_else(|| Spinnaker2Error::Invalid {
                what: format!("node `{}`", graph.node(term.gemm).name),
                reason: "its input is not a population".into(),
            })?;
        let payload = pre == 0 && source.encoding.payload();
        let max_abs = if pre == 0 {
            source.encoding.max_abs()
        } else {
            1
        };
        let shapes = synapses::Sizes {
            pre: populations[pre].size,
            post: populations[*post].size,
            post_name: &populations[*post].name,
        };
        let mut p = synapses::projection(graph, term, shapes, max_abs, &mut names)?;
        p.pre = pre;
        p.post = *post;
        p.payload = payload;
        projections.push(p);
    }
    let network = Network {
        name: graph.name.clone(),
        populations,
        projections,
        input: source.spec(),
        output,
    };
    network.schedule()?;
    Ok(network)
}

/// The shape of a node's value, or an error for an untyped node (a verified graph has none).
fn node_shape(g: &Graph, id: NodeId) -> Result<Vec<usize>, Spinnaker2Error> {
    let node = g.node(id);
    node.ty
        .as_ref()
        .map(|t| t.shape.clone())
        .ok_or_else(|| Spinnaker2Error::Invalid {
            what: format!("node `{}`", node.name),
            reason: "has no type: verify the graph first".into(),
        })
}

/// The graph output: exactly one, reading (through reshape/flatten) the spikes of an int_lif.
fn output(g: &Graph, pop_of: &BTreeMap<NodeId, usize>) -> Result<OutputSpec, Spinnaker2Error> {
    let outs = g.outputs();
    let [out] = outs else {
        return Err(Spinnaker2Error::Invalid {
            what: "graph outputs".into(),
            reason: format!(
                "spinnaker2 models have exactly one output, this graph has {}",
                outs.len()
            ),
        });
    };
    let out_node = g.node(*out);
    let refuse = |reason: String| Spinnaker2Error::UnsupportedOp {
        node: out_node.name.clone(),
        op: out_node.op.name().into(),
        reason,
    };
    let mut cur = *out;
    for _ in 0..=g.len() {
        let Some((src, edge)) = g.operands(cur).into_iter().next() else {
            break;
        };
        if edge.recurrent {
            return Err(refuse(
                "reads a recurrent edge; the output must be this step's spikes".into(),
            ));
        }
        if let Some(&population) = pop_of.get(&src) {
            if population == 0 {
                break;
            }
            return Ok(OutputSpec {
                name: out_node.name.clone(),
                shape: node_shape(g, *out)?,
                population,
            });
        }
        match g.node(src).op {
            Op::Reshape(_) | Op::Flatten(_) => cur = src,
            _ => {
                let n = g.node(src);
                return Err(refuse(format!(
                    "the model output must be the spikes of an int_lif, but it reads {} `{}`",
                    n.op.name(),
                    n.name
                )));
            }
        }
    }
    Err(refuse(
        "the model output must be the spikes of an int_lif, but it reads the model input".into(),
    ))
}
