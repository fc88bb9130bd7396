//! QONNX Quant, BipolarQuant and Trunc: float in, float out, computed in float32 in the order of
//! the QONNX reference executor so that results match it bit for bit.

use super::{broadcast_shape, expand, Quant, Trunc};
use crate::types::int_range;
use crate::{IrError, Tensor};

/// Largest bit width accepted; [`int_range`] is exact up to 63 bits.
const MAX_BITS: f32 = 63.0;

/// QONNX `Quant` with inputs `(x, scale, zeropt, bitwidth)`, each broadcast to their common
/// NumPy shape:
///
/// `y = x / scale + zeropt`, clamped to `[lo, hi]` from (`bitwidth`, `signed`, `narrow`), rounded
/// with `q.rounding`, then `Y = (y − zeropt) · scale`. Clamping comes before rounding, as in the
/// QONNX executor. A signed 1-bit Quant is bipolar as the executor makes it: `y = +1` where
/// `x / scale + zeropt ≥ 0`, else −1. Scale must be finite and > 0, zeropt finite, bitwidth an
/// integer in 1..=63. NaN in `x` propagates (bipolar case: NaN gives −1).
pub fn eval_quant(q: &Quant, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let [x, scale, zeropt, bitwidth] = take::<4>("Quant", inputs)?;
    let shape = common_shape("Quant", &[x, scale, zeropt, bitwidth])?;
    check_scale("Quant", scale)?;
    check_finite("Quant", "zeropt", zeropt)?;
    check_bits("Quant", "bitwidth", bitwidth)?;
    let xs = spread(x, &shape)?;
    let ss = spread(scale, &shape)?;
    let zs = spread(zeropt, &shape)?;
    let bs = spread(bitwidth, &shape)?;
    let mut out = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        let (s, z) = (ss[i], zs[i]);
        let mut y = xs[i] / s;
        y += z;
        let bits = bs[i] as u8;
        if bits == 1 && q.signed {
            y = if y >= 0.0 { 1.0 } else { -1.0 };
        } else {
            let (lo, hi) = int_range(bits, q.signed, q.narrow);
            let (lo, hi) = (lo as f32, hi as f32);
            if y > hi {
                y = hi;
            }
            if y < lo {
                y = lo;
            }
            y = q.rounding.apply(y);
        }
        out.push((y - z) * s);
    }
    Tensor::from_f32(shape, out)
}

/// QONNX `BipolarQuant` with inputs `(x, scale)`: `Y = (x ≥ 0 ? +1 : −1) · scale`. Zero (and
/// −0) maps to `+scale`; NaN maps to `−scale` (the comparison is false), as in the executor.
/// Scale must be finite.
pub fn eval_bipolar_quant(inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let [x, scale] = take::<2>("BipolarQuant", inputs)?;
    let shape = common_shape("BipolarQuant", &[x, scale])?;
    check_finite("BipolarQuant", "scale", scale)?;
    let xs = spread(x, &shape)?;
    let ss = spread(scale, &shape)?;
    let out = xs
        .iter()
        .zip(&ss)
        .map(|(x, s)| if *x >= 0.0 { *s } else { -*s })
        .collect();
    Tensor::from_f32(shape, out)
}

/// QONNX `Trunc` (opset 1) with inputs `(x, scale, zeropt, in_bitwidth, out_bitwidth)`:
///
/// `y = round_half_even(x / scale + zeropt)`, `y = R(y / 2^(in_bitwidth − out_bitwidth))` with
/// `R` = `t.rounding` (QONNX default FLOOR), `Y = (y − zeropt) · scale`. No clamping: the
/// opset-1 executor does none. Validation as for [`eval_quant`].
pub fn eval_trunc(t: &Trunc, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let [x, scale, zeropt, in_bits, out_bits] = take::<5>("Trunc", inputs)?;
    let shape = common_shape("Trunc", &[x, scale, zeropt, in_bits, out_bits])?;
    check_scale("Trunc", scale)?;
    check_finite("Trunc", "zeropt", zeropt)?;
    check_bits("Trunc", "in_bitwidth", in_bits)?;
    check_bits("Trunc", "out_bitwidth", out_bits)?;
    let xs = spread(x, &shape)?;
    let ss = spread(scale, &shape)?;
    let zs = spread(zeropt, &shape)?;
    let ib = spread(in_bits, &shape)?;
    let ob = spread(out_bits, &shape)?;
    let mut out = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        let (s, z) = (ss[i], zs[i]);
        let mut y = xs[i] / s;
        y += z;
        y = y.round_ties_even();
        // An exact power of two: the exponent lies in -62..=62.
        let trunc_scale = 2f32.powi((ib[i] - ob[i]) as i32);
        y /= trunc_scale;
        y = t.rounding.apply(y);
        out.push((y - z) * s);
    }
    Tensor::from_f32(shape, out)
}

/// The first `N` inputs, or an error saying how many the op needs.
fn take<'a, const N: usize>(op: &str, inputs: &[&'a Tensor]) -> Result<[&'a Tensor; N], IrError> {
    <[&Tensor; N]>::try_from(inputs)
        .map_err(|_| IrError::Tensor(format!("{op} needs {N} inputs, got {}", inputs.len())))
}

/// The NumPy broadcast of all input shapes.
fn common_shape(op: &str, inputs: &[&Tensor]) -> Result<Vec<usize>, IrError> {
    let mut shape: Vec<usize> = Vec::new();
    for t in inputs {
        shape = broadcast_shape(&shape, t.shape()).ok_or_else(|| {
            let shapes: Vec<_> = inputs.iter().map(|t| t.shape().to_vec()).collect();
            IrError::Tensor(format!("{op}: input shapes {shapes:?} do not broadcast"))
        })?;
    }
    Ok(shape)
}

/// The elements of `t` as f32, repeated to `shape`.
fn spread(t: &Tensor, shape: &[usize]) -> Result<Vec<f32>, IrError> {
    expand(&t.to_f32_vec(), t.shape(), shape).ok_or_else(|| {
        IrError::Tensor(format!(
            "shape {:?} does not broadcast to {shape:?}",
            t.shape()
        ))
    })
}

fn check_scale(op: &str, scale: &Tensor) -> Result<(), IrError> {
    match scale
        .to_f32_vec()
        .into_iter()
        .find(|s| !(s.is_finite() && *s > 0.0))
    {
        Some(bad) => Err(IrError::Tensor(format!(
            "{op}: scale must be finite and > 0, got {bad}"
        ))),
        None => Ok(()),
    }
}

fn check_finite(op: &str, what: &str, t: &Tensor) -> Result<(), IrError> {
    match t.to_f32_vec().into_iter().find(|v| !v.is_finite()) {
        Some(bad) => Err(IrError::Tensor(format!(
            "{op}: {what} must be finite, got {bad}"
        ))),
        None => Ok(()),
    }
}

fn check_bits(op: &str, what: &str, t: &Tensor) -> Result<(), IrError> {
    match t
        .to_f32_vec()
        .into_iter()
        .find(|b| !(b.fract() == 0.0 && (1.0..=MAX_BITS).contains(b)))
    {
        Some(bad) => Err(IrError::Tensor(format!(
            "{op}: {what} must be an integer in 1..=63, got {bad}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::RoundingMode;
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }
    fn s(v: f32) -> Tensor {
        Tensor::scalar_f32(v)
    }
    fn quant(signed: bool, narrow: bool, rounding: RoundingMode) -> Quant {
        Quant {
            signed,
            narrow,
            rounding,
        }
    }
    fn values(r: Result<Tensor, IrError>) -> Vec<f32> {
        r.unwrap().as_f32().unwrap().to_vec()
    }

    #[test]
    fn signed_4bit_clamps_then_rounds_half_even() {
        let q = quant(true, false, RoundingMode::HalfEven);
        let x = t(&[6], &[0.25, 0.75, -0.25, 10.0, -10.0, 1.3]);
        // x/0.5 = 0.5 1.5 -0.5 20 -20 2.6 -> 0 2 -0 7 -8 3 -> *0.5
        let y = values(eval_quant(&q, &[&x, &s(0.5), &s(0.0), &s(4.0)]));
        assert_eq!(y, vec![0.0, 1.0, -0.0, 3.5, -4.0, 1.5]);
    }

    #[test]
    fn narrow_and_unsigned_ranges() {
        let x = t(&[3], &[-300.0, 300.0, 7.6]);
        let args = [&x, &s(1.0), &s(0.0), &s(8.0)];
        let narrow = quant(true, true, RoundingMode::HalfEven);
        assert_eq!(values(eval_quant(&narrow, &args)), vec![-127.0, 127.0, 8.0]);
        let unsigned = quant(false, false, RoundingMode::HalfEven);
        assert_eq!(values(eval_quant(&unsigned, &args)), vec![0.0, 255.0, 8.0]);
        let unsigned_narrow = quant(false, true, RoundingMode::HalfEven);
        assert_eq!(
            values(eval_quant(&unsigned_narrow, &args)),
            vec![0.0, 254.0, 8.0]
        );
    }

    #[test]
    fn rounding_after_clamp_and_zero_point() {
        // zeropt 2: y = x + 2 in [0, 3] (unsigned 2-bit), FLOOR.
        let q = quant(false, false, RoundingMode::Floor);
        let x = t(&[4], &[-2.5, -0.5, 0.99, 5.0]);
        // y = -0.5 1.5 2.99 7 -> clamp 0 1.5 2.99 3 -> floor 0 1 2 3 -> minus 2
        let y = values(eval_quant(&q, &[&x, &s(1.0), &s(2.0), &s(2.0)]));
        assert_eq!(y, vec![-2.0, -1.0, 0.0, 1.0]);
        // Clamping before CEIL keeps the result in range: 3.2 -> 3 (not 4).
        let ceil = quant(false, false, RoundingMode::Ceil);
        let y = values(eval_quant(
            &ceil,
            &[&t(&[1], &[1.2]), &s(1.0), &s(2.0), &s(2.0)],
        ));
        assert_eq!(y, vec![1.0]);
    }

    #[test]
    fn negative_zero_point_shifts_the_range() {
        // signed 3-bit [-4, 3], zeropt -1: y = x - 1 = -1 2 -6 -> clamp -1 2 -4 -> +1
        let q = quant(true, false, RoundingMode::HalfEven);
        let x = t(&[3], &[0.0, 3.0, -5.0]);
        let y = values(eval_quant(&q, &[&x, &s(1.0), &s(-1.0), &s(3.0)]));
        assert_eq!(y, vec![0.0, 3.0, -3.0]);
    }

    #[test]
    fn per_channel_scale_broadcasts() {
        let q = quant(true, false, RoundingMode::HalfEven);
        let x = t(&[2, 2], &[1.0, 1.0, -1.0, 3.0]);
        let scale = t(&[2, 1], &[0.5, 0.25]);
        // row 0 scale 0.5: 2 2 -> 1 1; row 1 scale 0.25: -4 12 -> clamp(-8,7) -4 7 -> -1 1.75
        let y = values(eval_quant(&q, &[&x, &scale, &s(0.0), &s(4.0)]));
        assert_eq!(y, vec![1.0, 1.0, -1.0, 1.75]);
    }

    #[test]
    fn signed_one_bit_is_bipolar_and_nan_propagates() {
        let q = quant(true, false, RoundingMode::HalfEven);
        let x = t(&[4], &[0.0, -0.1, 3.0, f32::NAN]);
        let y = values(eval_quant(&q, &[&x, &s(2.0), &s(0.0), &s(1.0)]));
        assert_eq!(y, vec![2.0, -2.0, 2.0, -2.0]);
        let q8 = quant(true, false, RoundingMode::HalfEven);
        let y = values(eval_quant(
            &q8,
            &[&t(&[1], &[f32::NAN]), &s(1.0), &s(0.0), &s(8.0)],
        ));
        assert!(y[0].is_nan());
    }

    #[test]
    fn quant_rejects_bad_parameters() {
        let q = quant(true, false, RoundingMode::HalfEven);
        let x = t(&[2], &[1.0, 2.0]);
        for (scale, zp, bits) in [
            (s(0.0), s(0.0), s(8.0)),
            (s(-1.0), s(0.0), s(8.0)),
            (s(f32::INFINITY), s(0.0), s(8.0)),
            (s(1.0), s(f32::NAN), s(8.0)),
            (s(1.0), s(0.0), s(0.0)),
            (s(1.0), s(0.0), s(2.5)),
            (s(1.0), s(0.0), s(64.0)),
            (t(&[3], &[1.0; 3]), s(0.0), s(8.0)),
        ] {
            assert!(eval_quant(&q, &[&x, &scale, &zp, &bits]).is_err());
        }
        assert!(eval_quant(&q, &[&x, &s(1.0), &s(0.0)]).is_err());
    }

    #[test]
    fn bipolar_zero_maps_to_plus_scale() {
        let x = t(&[5], &[0.0, -0.0, -1e-30, 4.0, f32::NAN]);
        let y = values(eval_bipolar_quant(&[&x, &t(&[1], &[0.1])]));
        assert_eq!(y, vec![0.1, 0.1, -0.1, 0.1, -0.1]);
    }

    #[test]
    fn trunc_floors_by_default() {
        let tr = Trunc {
            signed: true,
            narrow: false,
            rounding: RoundingMode::Floor,
        };
        // 8 -> 4 bits: divide by 16 after rounding x/scale.
        let x = t(&[4], &[100.0, -100.0, 15.6, -0.4]);
        // x/1 -> round: 100 -100 16 -0 -> /16: 6.25 -6.25 1 -0 -> floor 6 -7 1 -0
        let y = values(eval_trunc(&tr, &[&x, &s(1.0), &s(0.0), &s(8.0), &s(4.0)]));
        assert_eq!(y, vec![6.0, -7.0, 1.0, -0.0]);
        let round = Trunc {
            rounding: RoundingMode::HalfEven,
            ..tr.clone()
        };
        // scale 0.5, zeropt 1: x/0.5+1 = 201 -199 32.2 0.2 -> round 201 -199 32 0
        // -> /16 12.5625 -12.4375 2 0 -> round 13 -12 2 0 -> (y-1)*0.5
        let y = values(eval_trunc(
            &round,
            &[&x, &s(0.5), &s(1.0), &s(8.0), &s(4.0)],
        ));
        assert_eq!(y, vec![6.0, -6.5, 0.5, -0.5]);
    }
}
