//! Fixed-point encodings shared by the SNN passes: the one rounding they use, integer
//! multiplier + shift for a real ratio, and compact parameter tensors.
//!
//! Every real → integer conversion of the SNN passes rounds half to even ([`round_even`]),
//! except thresholds, which are floored ([`threshold_int`]) so that the integer comparison
//! `v > θ` fires exactly when the real membrane `v·u` exceeds the real threshold.

use snnc_ir::{DType, IrError, Tensor};

/// Round half to even (`⌊x⌉` of docs/semantics.md).
pub fn round_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// `x` as an integer when it is finite and well inside i64 (|x| < 2^62), else `None`.
pub fn to_i64(x: f64) -> Option<i64> {
    if x.is_finite() && x.abs() < (1u64 << 62) as f64 {
        Some(x as i64)
    } else {
        None
    }
}

/// The integer threshold of a real threshold `v_th` in membrane units `u`: `⌊v_th / u⌋`.
///
/// For an integer membrane `v`, `v > ⌊t⌋` holds exactly when `v ≥ ⌊t⌋ + 1`, i.e. when `v > t`
/// for non-integral `t` (and `v > t` itself for integral `t`): the fixed-point neuron fires on
/// the same represented membranes as the real one.
///
/// A quotient within 10^−9 (relative) of an integer is taken as that integer, so that
/// `1 / (1/127)` gives 127 and not 126 from the last bit of the division.
pub fn threshold_int(v_th: f64, u: f64) -> Option<i64> {
    let x = v_th / u;
    let nearest = x.round();
    let t = if (x - nearest).abs() <= 1e-9 * nearest.abs().max(1.0) {
        nearest
    } else {
        x.floor()
    };
    to_i64(t)
}

/// Integer multiplier `m < 2^31` and shift `s ≤ 62` with `m·2^(−s)` the closest such
/// approximation of `ratio` (largest shift that keeps `m` below 2^31, `m = ⌊ratio·2^s⌉`), then
/// reduced while `m` is even (so a power of two `2^(−k)` becomes `m = 1, s = k`). `None` when
/// `ratio` is not finite and > 0, is ≥ 2^31, or is too small to represent (< 2^(−63)).
pub fn multiplier_shift(ratio: f64) -> Option<(i64, i64)> {
    if !(ratio.is_finite() && ratio > 0.0) {
        return None;
    }
    let limit = (1i64 << 31) as f64;
    let (mut m, mut s) = (0..=62i32).rev().find_map(|shift| {
        let m = round_even(ratio * 2f64.powi(shift));
        (m < limit).then_some((m as i64, i64::from(shift)))
    })?;
    if m == 0 {
        return None;
    }
    while s > 0 && m % 2 == 0 {
        m /= 2;
        s -= 1;
    }
    Some((m, s))
}

/// The signed range `[−2^(bits−1), 2^(bits−1) − 1]` of a `bits`-wide register (bits ≤ 63).
pub fn signed_range(bits: u32) -> (i64, i64) {
    let half = 1i64 << (bits.clamp(1, 63) - 1);
    (-half, half - 1)
}

/// The narrowest plain signed integer dtype holding `bits`-bit values (bits ≤ 32).
pub fn signed_dtype(bits: u32) -> DType {
    match bits {
        0..=8 => DType::I8,
        9..=16 => DType::I16,
        _ => DType::I32,
    }
}

/// Position of element `i` (row-major) along one axis of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisMap {
    /// Length of the axis (1 for a scalar shape).
    pub count: usize,
    /// Elements per step along the axis (product of the dimensions after it).
    pub inner: usize,
}

impl AxisMap {
    /// The layout of `axis` in `shape`; an axis beyond the shape has length 1.
    pub fn new(shape: &[usize], axis: usize) -> Self {
        AxisMap {
            count: shape.get(axis).copied().unwrap_or(1).max(1),
            inner: shape.get(axis + 1..).map_or(1, snnc_ir::numel).max(1),
        }
    }

    /// The index along the axis of element `i`.
    pub fn of(self, i: usize) -> usize {
        (i / self.inner) % self.count
    }
}

/// `values` of shape `from` repeated to shape `to` by NumPy broadcasting, or `None` when
/// `from` does not broadcast to `to` or `values` does not fill `from`.
pub fn expand<T: Copy>(values: &[T], from: &[usize], to: &[usize]) -> Option<Vec<T>> {
    snnc_ir::broadcast::expand(values, from, to)
}

/// An i64 parameter tensor for per-element `values` over `shape` (row-major) with channels
/// along `axis`, written as compactly as it broadcasts back: a scalar when all values are
/// equal, `[C, 1, …, 1]` (trailing ones up to the end of `shape`) when the values depend only
/// on the channel, else the full `shape`.
pub fn compact_i64(values: &[i64], shape: &[usize], axis: usize) -> Result<Tensor, IrError> {
    let first = values.first().copied().unwrap_or(0);
    if values.iter().all(|v| *v == first) {
        return Tensor::from_i64(DType::I64, vec![], vec![first]);
    }
    let map = AxisMap::new(shape, axis);
    let mut per_channel: Vec<Option<i64>> = vec![None; map.count];
    let mut uniform = axis < shape.len();
    for (i, v) in values.iter().enumerate() {
        let slot = &mut per_channel[map.of(i)];
        match slot {
            Some(seen) if *seen != *v => {
                uniform = false;
                break;
            }
            _ => *slot = Some(*v),
        }
    }
    if uniform {
        let mut cshape = vec![map.count];
        cshape.extend(std::iter::repeat_n(1, shape.len() - axis - 1));
        let data = per_channel.into_iter().map(|v| v.unwrap_or(0)).collect();
        return Tensor::from_i64(DType::I64, cshape, data);
    }
    Tensor::from_i64(DType::I64, shape.to_vec(), values.to_vec())
}

/// Per-channel i64 attributes that must share one shape (Requant's multiplier and shift):
/// scalars when every channel has the same values, else `[C]` each.
pub fn channel_pair(a: &[i64], b: &[i64]) -> Result<(Tensor, Tensor), IrError> {
    let same = |v: &[i64]| v.windows(2).all(|w| w[0] == w[1]);
    let t = |v: &[i64], scalar: bool| match (scalar, v.first()) {
        (true, Some(x)) => Tensor::from_i64(DType::I64, vec![], vec![*x]),
        _ => Tensor::from_i64(DType::I64, vec![v.len()], v.to_vec()),
    };
    let scalar = same(a) && same(b);
    Ok((t(a, scalar)?, t(b, scalar)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_even_and_thresholds_floor() {
        assert_eq!(round_even(2.5), 2.0);
        assert_eq!(round_even(-2.5), -2.0);
        assert_eq!(round_even(3.5), 4.0);
        // 1/0.3 = 3.33: integer membranes 4, 5, ... exceed it, so the threshold is 3.
        assert_eq!(threshold_int(1.0, 0.3), Some(3));
        assert_eq!(threshold_int(-1.0, 0.3), Some(-4));
        assert_eq!(threshold_int(1.0, 0.25), Some(4));
        assert_eq!(threshold_int(1.0, 1.0 / 127.0), Some(127));
        assert_eq!(threshold_int(1.0, 0.5 / 127.0), Some(254));
        assert_eq!(threshold_int(1.0, 0.0), None);
        assert_eq!(to_i64(f64::NAN), None);
        assert_eq!(to_i64(-7.0), Some(-7));
    }

    #[test]
    fn multiplier_and_shift() {
        // Powers of two are exact and minimal.
        assert_eq!(multiplier_shift(0.25), Some((1, 2)));
        assert_eq!(multiplier_shift(1.0), Some((1, 0)));
        assert_eq!(multiplier_shift(6.0), Some((6, 0)));
        // 1/255: ⌊2^38/255⌉ = 64·16843009, reduced to 16843009·2^−32.
        let (m, s) = multiplier_shift(1.0 / 255.0).unwrap();
        assert_eq!((m, s), (16_843_009, 32));
        let approx = m as f64 / 2f64.powi(s as i32);
        assert!((approx * 255.0 - 1.0).abs() < 1e-9, "{approx}");
        // Not a power of two: the multiplier uses the full 31 bits.
        let (m, s) = multiplier_shift(0.3).unwrap();
        assert!((1 << 30..1 << 31).contains(&m) && m % 2 == 1, "{m}");
        assert_eq!(s, 32);
        assert_eq!(multiplier_shift(0.0), None);
        assert_eq!(multiplier_shift(3e9), None);
        assert_eq!(multiplier_shift(1e-30), None);
    }

    #[test]
    fn expand_broadcasts_like_numpy() {
        assert_eq!(
            expand(&[1, 2], &[2, 1], &[2, 3]).unwrap(),
            vec![1, 1, 1, 2, 2, 2]
        );
        assert_eq!(expand(&[5], &[], &[3]).unwrap(), vec![5, 5, 5]);
        assert_eq!(
            expand(&[1, 2, 3], &[3], &[2, 3]).unwrap(),
            vec![1, 2, 3, 1, 2, 3]
        );
        assert!(expand(&[1, 2], &[2], &[3]).is_none());
        assert!(expand(&[1], &[2], &[2]).is_none());
    }

    #[test]
    fn compact_tensors() {
        let t = compact_i64(&[4, 4, 4, 4], &[2, 2], 0).unwrap();
        assert_eq!(t.shape(), &[] as &[usize]);
        // Per channel along axis 0 of [2, 2]: [2, 1].
        let t = compact_i64(&[1, 1, 2, 2], &[2, 2], 0).unwrap();
        assert_eq!(t.shape(), &[2, 1]);
        assert_eq!(t.as_i64().unwrap(), &[1, 2]);
        // Along the last axis of [1, 3]: [3].
        let t = compact_i64(&[1, 2, 3], &[1, 3], 1).unwrap();
        assert_eq!(t.shape(), &[3]);
        // Not uniform per channel: the full shape.
        let t = compact_i64(&[1, 2, 3, 4], &[2, 2], 0).unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        let (m, s) = channel_pair(&[3, 3], &[1, 1]).unwrap();
        assert_eq!((m.shape(), s.shape()), (&[] as &[usize], &[] as &[usize]));
        let (m, s) = channel_pair(&[3, 3], &[1, 2]).unwrap();
        assert_eq!(
            (m.shape(), s.shape()),
            (&[2usize] as &[usize], &[2usize] as &[usize])
        );
        assert_eq!(AxisMap::new(&[2, 3, 4], 1).of(13), 0);
        assert_eq!(AxisMap::new(&[2, 3, 4], 1).of(5), 1);
    }
}
