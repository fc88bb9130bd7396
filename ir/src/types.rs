//! Tensor types: what every edge of the graph carries.

use std::fmt;

use crate::DType;

/// Affine quantization of an integer tensor: `real = (q - zero_point) * scale`.
///
/// Per-tensor when `axis` is `None` (one scale and zero point), per-channel along `axis`
/// otherwise. `bits`, `signed` and `narrow` give the integer range exactly as QONNX `Quant`
/// defines it, so a 4-bit value stored in an `i8` keeps its true range.
#[derive(Clone, PartialEq, Debug)]
pub struct QuantParams {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: Option<usize>,
    pub bits: u8,
    pub signed: bool,
    pub narrow: bool,
}

impl QuantParams {
    /// The inclusive integer range `[lo, hi]` of the quantized values.
    pub fn range(&self) -> (i64, i64) {
        int_range(self.bits, self.signed, self.narrow)
    }
}

/// The integer range QONNX assigns to a bit width, signedness and narrow flag.
pub fn int_range(bits: u8, signed: bool, narrow: bool) -> (i64, i64) {
    let bits = bits.min(63) as u32;
    if signed {
        let hi = (1i64 << (bits - 1)) - 1;
        let lo = if narrow { -hi } else { -hi - 1 };
        (lo, hi)
    } else {
        let hi = (1i64 << bits) - 1;
        (0, if narrow { hi - 1 } else { hi })
    }
}

/// Shape, element type and (for quantized integer tensors) quantization of a value.
///
/// Shapes are concrete: symbolic dimensions of imported models (an ONNX `batch`) are fixed to 1,
/// because every target compiles for one sample at a time and the interpreter runs a batch as a
/// loop over samples.
#[derive(Clone, PartialEq, Debug)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub quant: Option<QuantParams>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        TensorType {
            dtype,
            shape,
            quant: None,
        }
    }

    pub fn f32(shape: Vec<usize>) -> Self {
        TensorType::new(DType::F32, shape)
    }

    pub fn numel(&self) -> usize {
        crate::tensor::numel(&self.shape)
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qonnx_ranges() {
        assert_eq!(int_range(8, true, false), (-128, 127));
        assert_eq!(int_range(8, true, true), (-127, 127));
        assert_eq!(int_range(8, false, false), (0, 255));
        assert_eq!(int_range(4, false, true), (0, 14));
        assert_eq!(int_range(1, false, false), (0, 1));
    }
}
