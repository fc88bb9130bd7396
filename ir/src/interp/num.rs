//! Numeric helpers shared by the ops' reference evaluation: element access without copies,
//! integer wrapping, NumPy broadcasting of data, and the accumulation the dense kernels use.

use std::borrow::Cow;

use crate::{DType, IrError, Tensor, TensorType};

/// The type of a value (without quantization, which tensors do not carry).
pub(crate) fn type_of(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// Input `i` of an op, or an error naming the missing slot.
pub(crate) fn arg<'a>(inputs: &[&'a Tensor], i: usize) -> Result<&'a Tensor, IrError> {
    inputs
        .get(i)
        .copied()
        .ok_or_else(|| IrError::Tensor(format!("input {i} is missing")))
}

/// The elements as f32, borrowed when the tensor already is f32 (integers convert exactly up to
/// 2^24 and round to nearest above).
pub(crate) fn f32_data(t: &Tensor) -> Cow<'_, [f32]> {
    match t.as_f32() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(t.to_f32_vec()),
    }
}

/// The elements of an integer tensor as i64 (borrowed). Fails on a float tensor.
pub(crate) fn i64_data(t: &Tensor) -> Result<&[i64], IrError> {
    t.as_i64()
        .ok_or_else(|| IrError::Tensor(format!("expected an integer tensor, got {}", t.dtype())))
}

/// `v` reduced to `dtype`'s width with two's-complement wrap-around (what a fixed-width integer
/// register holds after the same operations). Identity for `i64` and floats.
pub(crate) fn wrap(dtype: DType, v: i64) -> i64 {
    let (bits, signed) = match dtype {
        DType::Bool => (1, false),
        DType::I8 => (8, true),
        DType::U8 => (8, false),
        DType::I16 => (16, true),
        DType::U16 => (16, false),
        DType::I32 => (32, true),
        DType::U32 => (32, false),
        // ±1 values are never the result of wrapping arithmetic (Add/Mul of binaries is i32).
        DType::I64 | DType::F32 | DType::Bin => return v,
    };
    let shift = 64 - bits;
    if signed {
        (v << shift) >> shift
    } else {
        ((v as u64) << shift >> shift) as i64
    }
}

/// An integer tensor of `dtype` from values wrapped into its range.
pub(crate) fn wrapped_tensor(
    dtype: DType,
    shape: Vec<usize>,
    mut data: Vec<i64>,
) -> Result<Tensor, IrError> {
    for v in &mut data {
        *v = wrap(dtype, *v);
    }
    Tensor::from_i64(dtype, shape, data)
}

/// A number the dense kernels accumulate: f32 (IEEE, in index order) or i64 (wrapping, exact
/// modulo 2^64 and therefore modulo the narrower output width).
pub(crate) trait Acc: Copy {
    const ZERO: Self;
    /// `self + a·b`. For f32 this is a fused multiply-add (one rounding), the way onnxruntime's
    /// MLAS kernels accumulate dot products; `f32::mul_add` is exact on every CPU (a software
    /// fallback where there is no FMA instruction), so results stay host-independent.
    fn mac(self, a: Self, b: Self) -> Self;
    fn plus(self, b: Self) -> Self;
}

impl Acc for f32 {
    const ZERO: f32 = 0.0;
    #[inline]
    fn mac(self, a: f32, b: f32) -> f32 {
        a.mul_add(b, self)
    }
    #[inline]
    fn plus(self, b: f32) -> f32 {
        self + b
    }
}

impl Acc for i64 {
    const ZERO: i64 = 0;
    #[inline]
    fn mac(self, a: i64, b: i64) -> i64 {
        self.wrapping_add(a.wrapping_mul(b))
    }
    #[inline]
    fn plus(self, b: i64) -> i64 {
        self.wrapping_add(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_fixed_width_registers() {
        assert_eq!(wrap(DType::I8, 128), -128);
        assert_eq!(wrap(DType::I8, -129), 127);
        assert_eq!(wrap(DType::U8, 256 + 7), 7);
        assert_eq!(wrap(DType::U8, -1), 255);
        assert_eq!(wrap(DType::I32, 1 << 31), i32::MIN as i64);
        assert_eq!(wrap(DType::I64, i64::MAX), i64::MAX);
    }
}
