//! Which ReLU networks `ann-to-snn` converts: Gemm/Conv layers each followed by a ReLU, linear
//! shape and pooling ops in between, and a last Gemm/Conv that feeds the graph outputs. Every
//! other op makes the pass not applicable, naming the node.

use snnc_ir::op::PoolKind;
use snnc_ir::{Graph, NodeId, Op};

use crate::passes::snn::synapse::Synapse;
use crate::passes::PassError;

/// What a Gemm/Conv is in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Followed by the ReLU `relu`, which becomes a spiking neuron.
    Hidden { relu: NodeId },
    /// Feeds only graph outputs: the readout layer.
    Output,
}

/// A Gemm/Conv layer of the network.
#[derive(Clone, Debug)]
pub struct Layer {
    pub syn: Synapse,
    pub role: Role,
}

/// The layers of `g` in topological order, after checking that every node is convertible.
pub fn find_layers(pass: &str, g: &Graph) -> Result<Vec<Layer>, PassError> {
    let order = g.topo_order().map_err(|e| PassError::ir(pass, e))?;
    let na = |reason: String| PassError::not_applicable(pass, reason);
    if let Some(n) = order
        .iter()
        .map(|id| g.node(*id))
        .find(|n| n.op.is_stateful())
    {
        return Err(na(format!(
            "{} `{}`: the graph already has state (neurons or delays); ann-to-snn converts \
             stateless ReLU networks",
            n.op.name(),
            n.name
        )));
    }
    let mut layers = Vec::new();
    let mut relus = 0usize;
    for &id in &order {
        let node = g.node(id);
        let what = || format!("{} `{}`", node.op.name(), node.name);
        match &node.op {
            Op::Input { .. } => {
                if !g.ty(id).dtype.is_float() {
                    return Err(na(format!(
                        "input `{}` is {}; ann-to-snn converts float networks",
                        node.name,
                        g.ty(id)
                    )));
                }
            }
            Op::Const(_) | Op::Output { .. } | Op::Flatten(_) | Op::Reshape(_) => {}
            Op::Pool(p) if matches!(p.kind, PoolKind::Avg | PoolKind::Sum) => {}
            Op::Relu => {
                relus += 1;
                let feeds = g
                    .operand(id, 0)
                    .map(|src| (src, &g.node(src).op, g.users(src).len()));
                if !matches!(feeds, Some((_, Op::Gemm(_) | Op::Conv(_), 1))) {
                    return Err(na(format!(
                        "{} must directly follow a gemm or conv that feeds nothing else",
                        what()
                    )));
                }
            }
            Op::Gemm(_) | Op::Conv(_) => {
                let syn = Synapse::at(pass, g, id)?.ok_or_else(|| na(what()))?;
                let users = g.users(id);
                let role = match users.as_slice() {
                    [(u, _)] if matches!(g.node(*u).op, Op::Relu) => Role::Hidden { relu: *u },
                    us if !us.is_empty()
                        && us
                            .iter()
                            .all(|(u, _)| matches!(g.node(*u).op, Op::Output { .. })) =>
                    {
                        Role::Output
                    }
                    _ => {
                        return Err(na(format!(
                            "{} is neither followed by a relu nor read only by graph outputs",
                            what()
                        )))
                    }
                };
                layers.push(Layer { syn, role });
            }
            Op::Pool(_) => {
                return Err(na(format!(
                    "{}: max pooling has no spiking equivalent here (use average pooling)",
                    what()
                )))
            }
            Op::BatchNorm(_) => {
                return Err(na(format!(
                    "{}: fold it into the preceding layer first (fold-bn)",
                    what()
                )))
            }
            _ => {
                return Err(na(format!(
                    "{} has no spiking equivalent (ann-to-snn converts gemm/conv + relu networks \
                     with flatten, reshape and average pooling)",
                    what()
                )))
            }
        }
    }
    if relus == 0 {
        return Err(na(
            "the graph has no ReLU to convert to spiking neurons".into()
        ));
    }
    Ok(layers)
}
