//! Which nodes are layers, and which parameter tensors each one holds.

use std::collections::{BTreeMap, BTreeSet};

use snnc_ir::{Graph, NodeId, Op, Tensor};

use super::bits::value_bits;

/// One parameter tensor of a layer: a constant(-derived) input or a tensor attribute.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ParamTensor {
    /// Its role: `weight`, `bias`, `tau`, `threshold`, ...
    pub role: String,
    pub count: u64,
    pub bits: u32,
    /// `ceil(count · bits / 8)`: packed storage of this tensor.
    pub bytes: u64,
}

impl ParamTensor {
    pub fn new(role: &str, count: u64, bits: u32) -> Self {
        ParamTensor {
            role: role.to_string(),
            count,
            bits,
            bytes: (count.saturating_mul(u64::from(bits))).div_ceil(8),
        }
    }
}

/// A computing node the report lists: dense, convolution and pooling ops, BatchNorm, neurons and
/// delays, the integer rescale/threshold ops, and Add/Mul with a constant operand (a bias or
/// scale written as its own node). Activation functions and quantizers of activations are not
/// layers: they hold no parameters and do no MACs.
pub fn is_layer(g: &Graph, id: NodeId, derived: &BTreeMap<NodeId, bool>) -> bool {
    if derived.get(&id).copied().unwrap_or(false) {
        return false;
    }
    match &g.node(id).op {
        Op::Gemm(_)
        | Op::MatMul
        | Op::Conv(_)
        | Op::Pool(_)
        | Op::BatchNorm(_)
        | Op::Requant(_)
        | Op::BinThreshold(_)
        | Op::Threshold(_) => true,
        Op::Add | Op::Mul => g
            .operands(id)
            .iter()
            .any(|(s, _)| derived.get(s).copied().unwrap_or(false)),
        op => op.is_stateful(),
    }
}

/// Names of the input slots of an op, for the roles of constant inputs.
fn slot_role(op: &Op, slot: usize) -> &'static str {
    let names: &[&'static str] = match op {
        Op::Gemm(_) | Op::Conv(_) => &["input", "weight", "bias"],
        Op::BatchNorm(_) => &["input", "scale", "bias", "mean", "var"],
        _ => &["a", "b"],
    };
    names.get(slot).copied().unwrap_or("input")
}

/// The weight input of a dense or convolution layer: slot 1 of Gemm/Conv, the constant side of
/// a MatMul, if constant-derived.
pub fn weight_of(g: &Graph, id: NodeId, derived: &BTreeMap<NodeId, bool>) -> Option<NodeId> {
    let is_derived = |s: &NodeId| derived.get(s).copied().unwrap_or(false);
    match &g.node(id).op {
        Op::Gemm(_) | Op::Conv(_) => g.operand(id, 1).filter(is_derived),
        Op::MatMul => g.operands(id).into_iter().map(|(s, _)| s).find(is_derived),
        _ => None,
    }
}

/// The layer's parameter tensors: constant-derived inputs not yet `counted` by an earlier layer
/// (a shared tensor is stored once), then tensor attributes.
pub fn param_tensors(
    g: &Graph,
    id: NodeId,
    derived: &BTreeMap<NodeId, bool>,
    counted: &mut BTreeSet<NodeId>,
) -> Vec<ParamTensor> {
    let op = &g.node(id).op;
    let mut out: Vec<ParamTensor> = g
        .operands(id)
        .into_iter()
        .filter(|(s, _)| derived.get(s).copied().unwrap_or(false))
        .filter(|(s, _)| counted.insert(*s))
        .map(|(s, e)| {
            let role = match op {
                Op::MatMul => "weight",
                _ => slot_role(op, e.slot),
            };
            ParamTensor::new(role, g.ty(s).numel() as u64, value_bits(g, s))
        })
        .collect();
    out.extend(
        attr_tensors(op)
            .into_iter()
            .map(|(role, t, bits)| ParamTensor::new(role, t.len() as u64, bits)),
    );
    out
}

/// Tensor attributes with the bits a target stores per element: f32 neuron parameters 32; the
/// fixed-point neuron's parameters at its membrane width; requantization multipliers 32 bits
/// (they lie in `[0, 2^31)`) and shifts 8; binary thresholds 32 (an i32 accumulator) and their
/// flip flags 1; delays 32.
pub fn attr_tensors(op: &Op) -> Vec<(&'static str, &Tensor, u32)> {
    match op {
        Op::Lif(p) => vec![
            ("tau", &p.tau, 32),
            ("r", &p.r, 32),
            ("v_leak", &p.v_leak, 32),
            ("v_threshold", &p.v_threshold, 32),
            ("v_reset", &p.v_reset, 32),
        ],
        Op::CubaLif(p) => vec![
            ("tau_syn", &p.tau_syn, 32),
            ("tau_mem", &p.tau_mem, 32),
            ("r", &p.r, 32),
            ("v_leak", &p.v_leak, 32),
            ("v_threshold", &p.v_threshold, 32),
            ("v_reset", &p.v_reset, 32),
            ("w_in", &p.w_in, 32),
        ],
        Op::If(p) => vec![
            ("r", &p.r, 32),
            ("v_threshold", &p.v_threshold, 32),
            ("v_reset", &p.v_reset, 32),
        ],
        Op::Li(p) => vec![
            ("tau", &p.tau, 32),
            ("r", &p.r, 32),
            ("v_leak", &p.v_leak, 32),
        ],
        Op::Integrator(p) => vec![("r", &p.r, 32)],
        Op::Delay(p) => vec![("delay", &p.delay, 32)],
        Op::Threshold(p) => vec![("threshold", &p.threshold, 32)],
        Op::IntLif(p) => {
            let b = u32::from(p.state_bits);
            vec![
                ("decay", &p.decay, b),
                ("bias", &p.bias, b),
                ("threshold", &p.threshold, b),
                ("v_reset", &p.v_reset, b),
            ]
        }
        Op::Requant(p) => vec![("multiplier", &p.multiplier, 32), ("shift", &p.shift, 8)],
        Op::BinThreshold(p) => vec![("threshold", &p.threshold, 32), ("flip", &p.flip, 1)],
        _ => vec![],
    }
}

/// The node whose spikes (0/1 events) `id` carries: a spiking neuron or a `bool` graph input,
/// possibly reshaped, delayed or max-pooled on the way. `None` for other values.
pub fn spike_source(g: &Graph, id: NodeId) -> Option<NodeId> {
    let mut id = id;
    for _ in 0..64 {
        let node = g.node(id);
        let through = match &node.op {
            Op::Reshape(_) | Op::Flatten(_) | Op::Delay(_) => true,
            Op::Pool(p) => p.kind == snnc_ir::op::PoolKind::Max,
            Op::Input { .. } => {
                let bool_input = node.ty.as_ref().map(|t| t.dtype) == Some(snnc_ir::DType::Bool);
                return bool_input.then_some(id);
            }
            op => return op.is_spiking().then_some(id),
        };
        if !through {
            return None;
        }
        id = g.operand(id, 0)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_up_per_tensor() {
        assert_eq!(ParamTensor::new("w", 10, 1).bytes, 2);
        assert_eq!(ParamTensor::new("w", 3, 4).bytes, 2);
        assert_eq!(ParamTensor::new("w", 3, 32).bytes, 12);
    }
}
