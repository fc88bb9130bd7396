//! Quantization ops: QONNX Quant / BipolarQuant / Trunc and ONNX QuantizeLinear /
//! DequantizeLinear.
//!
//! The reference semantics follow the peers bit for bit where the peers are deterministic: the
//! QONNX reference executor (NumPy in float32) for the QONNX ops, onnxruntime's CPU kernels for
//! the ONNX ops. `docs/semantics.md` states every formula, the order of the float32 operations,
//! the rounding and what happens to NaN and infinities.

mod qdq;
mod qonnx;
mod round;

pub(crate) use crate::broadcast::{broadcast_shapes as broadcast_shape, expand};
pub use qdq::{eval_dequantize_linear, eval_quantize_linear};
pub use qonnx::{eval_bipolar_quant, eval_quant, eval_trunc};

use crate::DType;

/// How a real value is rounded to an integer. [`RoundingMode::apply`] is the definition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RoundingMode {
    /// Round half to even (QONNX `ROUND` / `HALF_EVEN`, ONNX QuantizeLinear).
    HalfEven,
    /// Round half away from zero (QONNX `HALF_UP`).
    HalfUp,
    /// Round half toward zero (QONNX `HALF_DOWN`).
    HalfDown,
    /// Toward +∞ (`CEIL`).
    Ceil,
    /// Toward −∞ (`FLOOR`).
    Floor,
    /// Toward zero (QONNX `DOWN`, also spelled `ROUND_TO_ZERO`).
    TowardZero,
    /// Away from zero (QONNX `UP`).
    AwayFromZero,
}

/// QONNX Quant attributes; scale, zero point and bit width are inputs.
#[derive(Clone, PartialEq, Debug)]
pub struct Quant {
    pub signed: bool,
    pub narrow: bool,
    pub rounding: RoundingMode,
}

/// QONNX Trunc attributes (opset 1: inputs x, scale, zeropt, in_bitwidth, out_bitwidth).
///
/// `signed` and `narrow` describe the integer range of the output for type inference; they do
/// not change the value the op computes (QONNX's opset-1 Trunc does not clamp).
#[derive(Clone, PartialEq, Debug)]
pub struct Trunc {
    pub signed: bool,
    pub narrow: bool,
    pub rounding: RoundingMode,
}

/// ONNX QuantizeLinear: `saturate(round_half_even(x / scale) + zero_point)` into `out`.
/// `axis` (resolved, non-negative) selects the channel for per-axis scales.
#[derive(Clone, PartialEq, Debug)]
pub struct QuantizeLinear {
    pub axis: usize,
    pub out: DType,
}

/// ONNX DequantizeLinear: `(x − zero_point) · scale`, per tensor or per `axis`.
#[derive(Clone, PartialEq, Debug)]
pub struct DequantizeLinear {
    pub axis: usize,
}
