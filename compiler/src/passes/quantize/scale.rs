//! Scale and zero-point choice (docs/semantics.md §8.2).
//!
//! - **Weights** are symmetric and narrow-range, as in TFLite, ONNX Runtime's and Brevitas'
//!   defaults: `b` bits give integers in `[−(2^(b−1)−1), 2^(b−1)−1]` (int8: ±127, int4: ±7), zero
//!   point 0, `scale = max|w| / qmax` per output channel (or over the whole tensor). Symmetric
//!   weights keep the zero-point correction out of the inner loop; the narrow range keeps
//!   `−w` representable, so a negated weight never saturates.
//! - **Activations** are per tensor. A range that never goes below zero (inputs in `[0, 1]`,
//!   ReLU outputs) uses the unsigned type with zero point 0 and `scale = max / qmax`. A range with
//!   negative values uses, with `sym`, the signed type with zero point 0 and
//!   `scale = max(|min|, |max|) / (2^(b−1)−1)`; with `asym`, the unsigned type with
//!   `scale = (max − min) / (2^b − 1)` and `zero_point = round(−min / scale)`. Every range is
//!   first widened to include 0, so that 0 (ReLU's floor, zero padding) is exactly representable.

use snnc_ir::{DType, QuantParams};

use super::calibration::Range;

/// Symmetric (zero point 0) or asymmetric activation quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActScheme {
    Sym,
    Asym,
}

/// The quantization of one activation tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: i64,
    /// Storage type (`u8`/`i8` up to 8 bits, `u16`/`i16` up to 16).
    pub dtype: DType,
    /// The integer range of `bits` bits (inside `dtype`'s range).
    pub lo: i64,
    pub hi: i64,
    pub bits: u8,
}

impl ActQuant {
    /// The parameters as the IR records them on a type.
    pub fn params(&self) -> QuantParams {
        QuantParams {
            scale: vec![self.scale],
            zero_point: vec![self.zero_point],
            axis: None,
            bits: self.bits,
            signed: self.lo < 0,
            narrow: false,
        }
    }
}

/// Activation parameters for an observed `range` with `bits` bits (2..=16). `zero_zp` forces a
/// zero point of 0 (a tensor read by a zero-padded convolution: padding must mean real 0).
pub fn activation(range: Range, scheme: ActScheme, bits: u8, zero_zp: bool) -> ActQuant {
    let bits = bits.clamp(2, 16);
    let lo_r = range.min.min(0.0);
    let hi_r = range.max.max(0.0);
    let unsigned_max = (1i64 << bits) - 1;
    let signed_max = (1i64 << (bits - 1)) - 1;
    let (udt, sdt) = if bits <= 8 {
        (DType::U8, DType::I8)
    } else {
        (DType::U16, DType::I16)
    };
    let positive = |v: f32| if v.is_finite() && v > 0.0 { v } else { 1.0 };
    if lo_r == 0.0 {
        return ActQuant {
            scale: positive(hi_r / unsigned_max as f32),
            zero_point: 0,
            dtype: udt,
            lo: 0,
            hi: unsigned_max,
            bits,
        };
    }
    if scheme == ActScheme::Sym || zero_zp {
        let m = (-lo_r).max(hi_r);
        return ActQuant {
            scale: positive(m / signed_max as f32),
            zero_point: 0,
            dtype: sdt,
            lo: -signed_max - 1,
            hi: signed_max,
            bits,
        };
    }
    let scale = positive((hi_r - lo_r) / unsigned_max as f32);
    let zp = (f64::from(-lo_r) / f64::from(scale)).round_ties_even() as i64;
    ActQuant {
        scale,
        zero_point: zp.clamp(0, unsigned_max),
        dtype: udt,
        lo: 0,
        hi: unsigned_max,
        bits,
    }
}

/// Largest magnitude of a `bits`-bit narrow signed weight: `2^(bits−1) − 1`.
pub fn weight_qmax(bits: u8) -> i64 {
    (1i64 << (bits.clamp(2, 32) - 1)) - 1
}

/// Where element `i` of a row-major tensor finds its channel along `axis`.
pub fn channel_of(shape: &[usize], axis: usize, i: usize) -> usize {
    let inner: usize = shape.get(axis + 1..).map_or(1, |s| s.iter().product());
    let count = shape.get(axis).copied().unwrap_or(1).max(1);
    (i / inner.max(1)) % count
}

/// Weight scales: one per index of `axis` (per channel) or a single one (`axis = None`), each
/// `max|w| / qmax` in f32. A channel of zeros borrows the tensor's scale (or 1 when the whole
/// tensor is zero), so every scale is positive.
pub fn weight_scales(w: &[f32], shape: &[usize], axis: Option<usize>, qmax: i64) -> Vec<f32> {
    let tensor_max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let fallback = if tensor_max > 0.0 {
        tensor_max / qmax as f32
    } else {
        1.0
    };
    let Some(axis) = axis else {
        return vec![fallback];
    };
    let count = shape.get(axis).copied().unwrap_or(1);
    let mut max = vec![0f32; count];
    for (i, v) in w.iter().enumerate() {
        if let Some(m) = max.get_mut(channel_of(shape, axis, i)) {
            *m = m.max(v.abs());
        }
    }
    max.into_iter()
        .map(|m| {
            let s = m / qmax as f32;
            if s.is_finite() && s > 0.0 {
                s
            } else {
                fallback
            }
        })
        .collect()
}

/// `clamp(round_half_even(w ⊘ scale), −qmax, qmax)` per element with its channel's scale (the
/// QuantizeLinear arithmetic: one f32 division).
pub fn quantize_weights(
    w: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    scales: &[f32],
    qmax: i64,
) -> Vec<i64> {
    w.iter()
        .enumerate()
        .map(|(i, v)| {
            let c = axis.map_or(0, |a| channel_of(shape, a, i));
            let s = scales.get(c).copied().unwrap_or(1.0);
            let r = (v / s).round_ties_even();
            (r as i64).clamp(-qmax, qmax)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(min: f32, max: f32) -> Range {
        Range { min, max }
    }

    #[test]
    fn non_negative_ranges_are_unsigned() {
        for scheme in [ActScheme::Sym, ActScheme::Asym] {
            let q = activation(r(0.0, 2.55), scheme, 8, false);
            assert_eq!((q.dtype, q.zero_point, q.lo, q.hi), (DType::U8, 0, 0, 255));
            assert_eq!(q.scale, 2.55f32 / 255.0);
        }
        // A positive minimum is widened to 0.
        let q = activation(r(0.5, 1.0), ActScheme::Asym, 8, false);
        assert_eq!((q.zero_point, q.scale), (0, 1.0f32 / 255.0));
    }

    #[test]
    fn signed_ranges_sym_and_asym() {
        let q = activation(r(-2.0, 1.0), ActScheme::Sym, 8, false);
        assert_eq!(
            (q.dtype, q.zero_point, q.lo, q.hi),
            (DType::I8, 0, -128, 127)
        );
        assert_eq!(q.scale, 2.0f32 / 127.0);
        let q = activation(r(-1.0, 3.0), ActScheme::Asym, 8, false);
        assert_eq!((q.dtype, q.lo, q.hi), (DType::U8, 0, 255));
        assert_eq!(q.scale, 4.0f32 / 255.0);
        // -min/scale = 63.75 -> 64.
        assert_eq!(q.zero_point, 64);
        // Forced zero point falls back to the symmetric signed form.
        let q = activation(r(-1.0, 3.0), ActScheme::Asym, 8, true);
        assert_eq!((q.dtype, q.zero_point), (DType::I8, 0));
        // 16 bits.
        let q = activation(r(-1.0, 1.0), ActScheme::Sym, 16, false);
        assert_eq!((q.dtype, q.hi), (DType::I16, 32767));
        // 4 bits: the range narrows inside u8.
        let q = activation(r(0.0, 1.0), ActScheme::Sym, 4, false);
        assert_eq!((q.dtype, q.hi), (DType::U8, 15));
    }

    #[test]
    fn all_zero_range_has_a_positive_scale() {
        let q = activation(r(0.0, 0.0), ActScheme::Sym, 8, false);
        assert_eq!((q.scale, q.zero_point), (1.0, 0));
    }

    #[test]
    fn weights_per_channel_and_per_tensor() {
        // [2, 3], channels along axis 0.
        let w = [0.5, -1.27, 0.0, 0.0, 0.0, 0.0];
        let s = weight_scales(&w, &[2, 3], Some(0), 127);
        assert_eq!(s, vec![1.27f32 / 127.0, 1.27f32 / 127.0]);
        let q = quantize_weights(&w, &[2, 3], Some(0), &s, 127);
        assert_eq!(q, vec![50, -127, 0, 0, 0, 0]);
        // Per tensor, 4 bits: qmax 7.
        assert_eq!(weight_qmax(4), 7);
        assert_eq!(weight_qmax(8), 127);
        let w = [0.7, -0.35, 0.05, 0.15];
        let s = weight_scales(&w, &[2, 2], None, 7);
        assert_eq!(s, vec![0.7f32 / 7.0]);
        // Ties round half to even: -3.5 -> -4, 0.5 -> 0, 1.5 -> 2.
        assert_eq!(
            quantize_weights(&w, &[2, 2], None, &s, 7),
            vec![7, -4, 0, 2]
        );
        // Channels along axis 1 of a [K, N] matrix.
        let w = [1.0, 2.0, -3.0, 4.0];
        let s = weight_scales(&w, &[2, 2], Some(1), 127);
        assert_eq!(s, vec![3.0f32 / 127.0, 4.0f32 / 127.0]);
        assert_eq!(channel_of(&[2, 2], 1, 2), 0);
    }
}
