//! Quantization ops: QONNX Quant / BipolarQuant / Trunc and ONNX QuantizeLinear /
//! DequantizeLinear.

use crate::DType;

/// How a real value is rounded to an integer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RoundingMode {
    /// Round half to even (QONNX `ROUND`, ONNX QuantizeLinear).
    HalfEven,
    /// Round half away from zero (QONNX `HALF_UP`... see docs/semantics.md).
    HalfUp,
    /// Round half toward zero.
    HalfDown,
    /// Toward +∞ (`CEIL`).
    Ceil,
    /// Toward −∞ (`FLOOR`).
    Floor,
    /// Toward zero (`ROUND_TO_ZERO`, `DOWN`).
    TowardZero,
    /// Away from zero (`UP`).
    AwayFromZero,
}

/// QONNX Quant attributes; scale, zero point and bit width are inputs.
#[derive(Clone, PartialEq, Debug)]
pub struct Quant {
    pub signed: bool,
    pub narrow: bool,
    pub rounding: RoundingMode,
}

/// QONNX Trunc attributes.
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
