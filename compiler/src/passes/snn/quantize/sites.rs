//! Which parts of a graph `quantize-snn` rewrites: every float spiking neuron (LIF or IF) with
//! the Gemm/Conv that feeds it, and where that synapse's input comes from. Anything the pass
//! cannot express in fixed point makes the whole pass not applicable, naming the node, so a
//! graph is never left half float, half integer.

use std::collections::BTreeSet;

use snnc_ir::{Graph, NodeId, Op};

use crate::passes::snn::synapse::Synapse;
use crate::passes::PassError;

/// Where a layer's synapse reads its input from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Spikes of another converted neuron (possibly through Flatten/Reshape).
    Spikes,
    /// Values of graph input `input`; `reader` is the node on the path that reads the input
    /// directly (the synapse itself, or a Flatten/Reshape in between).
    Analog { input: NodeId, reader: NodeId },
}

/// A neuron, its synapse and the synapse's source.
#[derive(Clone, Debug)]
pub struct Site {
    pub neuron: NodeId,
    pub syn: Synapse,
    pub source: Source,
}

/// Every spiking neuron of `g` in topological order, each with its synapse and source.
pub fn find_sites(pass: &str, g: &Graph) -> Result<Vec<Site>, PassError> {
    let order = g.topo_order().map_err(|e| PassError::ir(pass, e))?;
    let na = |reason: String| PassError::not_applicable(pass, reason);
    let mut found = Vec::new();
    for &id in &order {
        let node = g.node(id);
        match &node.op {
            Op::Lif(_) | Op::If(_) => {}
            Op::CubaLif(_) => {
                return Err(na(format!(
                    "cuba_lif `{}`: there is no fixed-point CubaLIF (its synaptic current needs a \
                     second state register that int_lif does not have)",
                    node.name
                )))
            }
            Op::Li(_) | Op::Integrator(_) => {
                return Err(na(format!(
                    "{} `{}` has no fixed-point form (only lif and if neurons are quantized)",
                    node.op.name(),
                    node.name
                )))
            }
            _ => continue,
        }
        let feed = g.operands(id);
        let syn = match feed.first() {
            Some((src, e)) if !e.recurrent => Synapse::at(pass, g, *src)?,
            _ => None,
        };
        let Some(syn) = syn else {
            let what = feed
                .first()
                .map(|(s, _)| format!("`{}` ({})", g.node(*s).name, g.node(*s).op.name()))
                .unwrap_or_else(|| "nothing".into());
            return Err(na(format!(
                "{} `{}` is fed by {what}; every neuron needs a gemm or conv in front of it",
                node.op.name(),
                node.name
            )));
        };
        if g.users(syn.id).len() != 1 {
            return Err(na(format!(
                "{} `{}` feeds more than the neuron `{}`",
                syn.op.name(),
                syn.name,
                node.name
            )));
        }
        found.push((id, syn));
    }
    if found.is_empty() {
        return Err(na(
            "the graph has no float spiking neurons (lif or if) to quantize".into(),
        ));
    }
    let neurons: BTreeSet<NodeId> = found.iter().map(|(n, _)| *n).collect();
    found
        .into_iter()
        .map(|(neuron, syn)| {
            let source = trace_source(pass, g, &syn, &neurons)?;
            Ok(Site {
                neuron,
                syn,
                source,
            })
        })
        .collect()
}

/// Follow the synapse's data input back through single-user Flatten/Reshape nodes to a
/// converted neuron or a graph input.
fn trace_source(
    pass: &str,
    g: &Graph,
    syn: &Synapse,
    neurons: &BTreeSet<NodeId>,
) -> Result<Source, PassError> {
    let mut reader = syn.id;
    let mut at = syn.data;
    loop {
        let node = g.node(at);
        match &node.op {
            _ if neurons.contains(&at) => return Ok(Source::Spikes),
            Op::Input { .. } => return Ok(Source::Analog { input: at, reader }),
            Op::Flatten(_) | Op::Reshape(_) if g.users(at).len() == 1 => {
                match g.operands(at).first() {
                    Some((src, e)) if !e.recurrent => {
                        reader = at;
                        at = *src;
                    }
                    _ => break,
                }
            }
            _ => break,
        }
    }
    let node = g.node(at);
    Err(PassError::not_applicable(
        pass,
        format!(
            "the input of {} `{}` comes from {} `{}`; it must be spikes (a lif or if) or a graph \
             input",
            syn.op.name(),
            syn.name,
            node.op.name(),
            node.name
        ),
    ))
}
