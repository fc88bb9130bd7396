//! The closed set of operations.
//!
//! One file per op family holds the attributes, the shape rules (`infer`) and the reference
//! semantics (`eval`) of its ops, so everything that defines an op's meaning is in one place.
//! Tensors that can be computed (weights behind a QONNX `Quant`, say) are *inputs* of an op;
//! neuron parameters, which no frontend computes, are *attributes*.

pub mod conv;
pub mod delay;
pub mod elementwise;
pub mod int;
pub mod linear;
pub mod neuron;
pub mod pool;
pub mod quant;
pub mod shape;

pub use conv::Conv;
pub use delay::Delay;
pub use elementwise::{BatchNorm, Clip, Threshold};
pub use int::{BinThreshold, IntLif, Requant};
pub use linear::Gemm;
pub use neuron::{CubaLif, IfNeuron, Integrator, Li, Lif, ResetMode};
pub use pool::{Pool, PoolKind};
pub use quant::{DequantizeLinear, Quant, QuantizeLinear, RoundingMode, Trunc};
pub use shape::{Flatten, Reshape};

use crate::Tensor;

/// An operation. Every node of a [`crate::Graph`] holds exactly one and produces one value.
///
/// Input slots are listed per variant as `inputs: (a, b, [optional])`.
#[derive(Clone, PartialEq, Debug)]
pub enum Op {
    /// Graph input number `index`. inputs: ().
    Input { index: usize },
    /// Graph output number `index`; its value is its single input. inputs: (x).
    Output { index: usize },
    /// A constant tensor. inputs: ().
    Const(Tensor),
    /// ONNX Gemm, extended to a rank-1 `a` (a single row, result of rank 1).
    /// inputs: `(a, b, [c])`.
    Gemm(Gemm),
    /// NumPy-style matrix product, as ONNX MatMul. inputs: (a, b).
    MatMul,
    /// 1-D or 2-D convolution, as ONNX Conv; the batch dimension may be absent (NIR).
    /// inputs: `(x, w, [bias])`.
    Conv(Conv),
    /// Max, average or sum pooling. inputs: (x).
    Pool(Pool),
    /// Merge dimensions `start_dim..=end_dim` into one. inputs: (x).
    Flatten(Flatten),
    /// Reinterpret with a concrete shape of the same element count. inputs: (x).
    Reshape(Reshape),
    /// Elementwise sum with NumPy broadcasting. inputs: (a, b).
    Add,
    /// Elementwise product with NumPy broadcasting. inputs: (a, b).
    Mul,
    /// max(x, 0). inputs: (x).
    Relu,
    /// Clamp to `[min, max]`. inputs: (x).
    Clip(Clip),
    /// Inference-mode batch normalisation over axis 1. inputs: (x, scale, bias, mean, var).
    BatchNorm(BatchNorm),
    /// ONNX Sign: −1, 0 or +1. inputs: (x).
    Sign,
    /// NIR Threshold: 1 where `x > threshold`, else 0. inputs: (x).
    Threshold(Threshold),
    /// QONNX Quant. inputs: (x, scale, zeropt, bitwidth).
    Quant(Quant),
    /// QONNX BipolarQuant: ±scale, zero maps to +scale. inputs: (x, scale).
    BipolarQuant,
    /// QONNX Trunc. inputs: (x, scale, zeropt, in_bitwidth, out_bitwidth).
    Trunc(Trunc),
    /// ONNX QuantizeLinear. inputs: `(x, scale, [zero_point])`.
    QuantizeLinear(QuantizeLinear),
    /// ONNX DequantizeLinear. inputs: `(x, scale, [zero_point])`.
    DequantizeLinear(DequantizeLinear),
    /// Leaky integrate-and-fire neurons (stateful). inputs: (current).
    Lif(Lif),
    /// Current-based LIF: a synaptic current filter in front of a LIF. inputs: (x).
    CubaLif(CubaLif),
    /// Integrate-and-fire without leak. inputs: (current).
    If(IfNeuron),
    /// Leaky integrator without spikes. inputs: (current).
    Li(Li),
    /// Pure integrator. inputs: (current).
    Integrator(Integrator),
    /// Per-element delay by a whole number of steps. inputs: (x).
    Delay(Delay),
    /// Fixed-point rescale of an integer accumulator. inputs: (x).
    Requant(Requant),
    /// Per-channel integer threshold to ±1 (BatchNorm + sign folded). inputs: (x).
    BinThreshold(BinThreshold),
    /// Fixed-point LIF neurons (stateful). inputs: (current).
    IntLif(IntLif),
}

impl Op {
    /// The mnemonic used by the text form, diagnostics and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Output { .. } => "output",
            Op::Const(_) => "const",
            Op::Gemm(_) => "gemm",
            Op::MatMul => "matmul",
            Op::Conv(_) => "conv",
            Op::Pool(_) => "pool",
            Op::Flatten(_) => "flatten",
            Op::Reshape(_) => "reshape",
            Op::Add => "add",
            Op::Mul => "mul",
            Op::Relu => "relu",
            Op::Clip(_) => "clip",
            Op::BatchNorm(_) => "batchnorm",
            Op::Sign => "sign",
            Op::Threshold(_) => "threshold",
            Op::Quant(_) => "quant",
            Op::BipolarQuant => "bipolar_quant",
            Op::Trunc(_) => "trunc",
            Op::QuantizeLinear(_) => "quantize_linear",
            Op::DequantizeLinear(_) => "dequantize_linear",
            Op::Lif(_) => "lif",
            Op::CubaLif(_) => "cuba_lif",
            Op::If(_) => "if",
            Op::Li(_) => "li",
            Op::Integrator(_) => "integrator",
            Op::Delay(_) => "delay",
            Op::Requant(_) => "requant",
            Op::BinThreshold(_) => "bin_threshold",
            Op::IntLif(_) => "int_lif",
        }
    }

    /// How many input slots the op takes: `(required, maximum)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Input { .. } | Op::Const(_) => (0, 0),
            Op::Gemm(_) | Op::Conv(_) => (2, 3),
            Op::MatMul | Op::Add | Op::Mul | Op::BipolarQuant => (2, 2),
            Op::BatchNorm(_) | Op::Trunc(_) => (5, 5),
            Op::Quant(_) => (4, 4),
            Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => (2, 3),
            Op::Output { .. }
            | Op::Pool(_)
            | Op::Flatten(_)
            | Op::Reshape(_)
            | Op::Relu
            | Op::Clip(_)
            | Op::Sign
            | Op::Threshold(_)
            | Op::Lif(_)
            | Op::CubaLif(_)
            | Op::If(_)
            | Op::Li(_)
            | Op::Integrator(_)
            | Op::Delay(_)
            | Op::Requant(_)
            | Op::BinThreshold(_)
            | Op::IntLif(_) => (1, 1),
        }
    }

    /// True for ops that keep state from one time step to the next.
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            Op::Lif(_)
                | Op::CubaLif(_)
                | Op::If(_)
                | Op::Li(_)
                | Op::Integrator(_)
                | Op::Delay(_)
                | Op::IntLif(_)
        )
    }

    /// True for the spiking neuron ops (those that emit 0/1 events).
    pub fn is_spiking(&self) -> bool {
        matches!(
            self,
            Op::Lif(_) | Op::CubaLif(_) | Op::If(_) | Op::IntLif(_)
        )
    }
}
