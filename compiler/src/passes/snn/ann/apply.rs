//! The graph rewrite of `ann-to-snn`: renormalized weights and biases, ReLUs replaced in place
//! by spiking neurons, and a readout neuron after the last layer.

use std::collections::BTreeMap;

use snnc_ir::op::{IfNeuron, Integrator, Lif};
use snnc_ir::{Graph, NodeId, Op, Tensor};

use super::layers::{Layer, Role};
use super::options::{Neuron, Options, Readout};
use crate::passes::snn::names::unique_name;
use crate::passes::PassError;

/// Rewrite `g`: `scales` holds `λ` of each probed node (hidden ReLUs, and the output layer for
/// a spiking readout). Returns the number of nodes changed or added.
pub fn apply(
    pass: &str,
    g: &mut Graph,
    layers: &[Layer],
    scales: &[(NodeId, f64)],
    opts: &Options,
    dt: f32,
) -> Result<usize, PassError> {
    let ir = |e| PassError::ir(pass, e);
    let lambda: BTreeMap<NodeId, f64> = scales.iter().copied().collect();
    let by_syn: BTreeMap<NodeId, &Layer> = layers.iter().map(|l| (l.syn.id, l)).collect();
    // Scale of every value: an activation a is represented by rate a/σ.
    let mut sigma: BTreeMap<NodeId, f64> = BTreeMap::new();
    let mut changed = 0;
    for id in g.topo_order().map_err(ir)? {
        let kind = match &g.node(id).op {
            Op::Input { .. } => Kind::Input,
            Op::Flatten(_) | Op::Reshape(_) | Op::Pool(_) => Kind::Linear,
            Op::Relu => Kind::Relu,
            Op::Gemm(_) | Op::Conv(_) => Kind::Layer,
            _ => continue,
        };
        let s_in = g
            .operand(id, 0)
            .and_then(|src| sigma.get(&src))
            .copied()
            .unwrap_or(1.0);
        let s = match kind {
            Kind::Input => 1.0,
            Kind::Linear => s_in,
            Kind::Relu => lambda.get(&id).copied().unwrap_or(1.0),
            Kind::Layer => {
                let Some(layer) = by_syn.get(&id) else {
                    continue;
                };
                let out = match layer.role {
                    Role::Hidden { relu } => lambda.get(&relu).copied().unwrap_or(1.0),
                    Role::Output => lambda.get(&id).copied().unwrap_or(1.0),
                };
                rescale(pass, g, layer, s_in / out, 1.0 / out)?;
                changed += 1;
                out
            }
        };
        sigma.insert(id, s);
    }
    for layer in layers {
        match layer.role {
            Role::Hidden { relu } => {
                g.node_mut(relu).op = neuron_op(opts, dt);
                changed += 1;
            }
            Role::Output => {
                let users = g.users(layer.syn.id);
                let (suffix, op) = match opts.readout {
                    Readout::Spikes => (
                        match opts.neuron {
                            Neuron::If => "if",
                            Neuron::Lif { .. } => "lif",
                        },
                        neuron_op(opts, dt),
                    ),
                    Readout::Membrane => (
                        "integrator",
                        Op::Integrator(Integrator {
                            r: Tensor::scalar_f32(1.0 / dt),
                        }),
                    ),
                };
                let name = unique_name(g, &format!("{}.{suffix}", layer.syn.name));
                let out = g.add_node(name, op, &[layer.syn.id]).map_err(ir)?;
                for (dst, e) in users {
                    g.set_operand(dst, e.slot, out);
                }
                changed += 1;
            }
        }
    }
    g.infer_types().map_err(ir)?;
    Ok(changed)
}

/// How a node passes the scale of the values it carries.
enum Kind {
    Input,
    /// Flatten, Reshape, pooling: the scale of their input.
    Linear,
    Relu,
    Layer,
}

/// The spiking neuron that replaces a ReLU: threshold 1, reset 0 or by subtraction, and a gain
/// of exactly one input current per step (`r = 1/dt` for IF, `r = tau/dt` for LIF).
fn neuron_op(opts: &Options, dt: f32) -> Op {
    let s = Tensor::scalar_f32;
    match opts.neuron {
        Neuron::If => Op::If(IfNeuron {
            r: s(1.0 / dt),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: opts.reset,
        }),
        Neuron::Lif { tau } => Op::Lif(Lif {
            tau: s(tau),
            r: s(tau / dt),
            v_leak: s(0.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: opts.reset,
        }),
    }
}

/// Multiply the layer's (alpha-folded) weights by `w_factor` and its (beta-folded) bias by
/// `b_factor`, writing new constants (in place when the layer is their only reader).
fn rescale(
    pass: &str,
    g: &mut Graph,
    layer: &Layer,
    w_factor: f64,
    b_factor: f64,
) -> Result<(), PassError> {
    let ir = |e| PassError::ir(pass, e);
    let syn = &layer.syn;
    let w: Vec<f32> = syn
        .effective_weight()
        .iter()
        .map(|w| (w * w_factor) as f32)
        .collect();
    let w = Tensor::from_f32(syn.weight.shape().to_vec(), w).map_err(ir)?;
    replace_const(g, syn.id, 1, syn.weight_id, w)?;
    if let (Some(bias_id), Some(bias)) = (syn.bias_id, &syn.bias) {
        let beta = match &syn.op {
            Op::Gemm(gm) => f64::from(gm.beta),
            _ => 1.0,
        };
        let b: Vec<f32> = bias
            .to_f32_vec()
            .iter()
            .map(|b| (f64::from(*b) * beta * b_factor) as f32)
            .collect();
        let b = Tensor::from_f32(bias.shape().to_vec(), b).map_err(ir)?;
        replace_const(g, syn.id, 2, bias_id, b)?;
    }
    g.node_mut(syn.id).op = syn.unscaled_op();
    Ok(())
}

/// Give input `slot` of `user` the value `t`: rewrite the constant `old` when `user` is its only
/// reader, else add a new constant for `user` alone.
fn replace_const(
    g: &mut Graph,
    user: NodeId,
    slot: usize,
    old: NodeId,
    t: Tensor,
) -> Result<(), PassError> {
    if g.users(old).len() == 1 {
        g.node_mut(old).op = Op::Const(t);
        return Ok(());
    }
    let base = format!("{}.{}", g.node(old).name, g.node(user).name);
    let name = unique_name(g, &base);
    let c = g.add_const(name, t);
    g.set_operand(user, slot, c);
    Ok(())
}
