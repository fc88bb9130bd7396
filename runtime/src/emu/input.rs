//! Host-side input encoding: one step's `f32` values to the integers the source PEs send.

use super::error::EmuError;
use snnc_targets::spinnaker2::artifact::InputEncoding;

/// ONNX `QuantizeLinear` of one value, exactly as the reference interpreter computes it
/// (`snnc_ir::op::quant::eval_quantize_linear`: one f32 division, round half to even, the zero
/// point added exactly, saturation, NaN to the low end), then clamped to the encoding's
/// `lo..=hi` (the range of the quantized type).
pub fn quantize_linear(x: f32, scale: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    let r = (x / scale).round_ties_even();
    if r.is_nan() {
        return lo;
    }
    // Clamped to [lo, hi] in f64, so the cast is exact.
    (f64::from(r) + f64::from(zero_point)).clamp(f64::from(lo), f64::from(hi)) as i32
}

/// Encodes step `step`'s values per `encoding` into `out` (cleared first). Spikes must be 0 or
/// 1; integers must be integral and in range; quantized values are any finite or infinite f32.
pub(crate) fn encode_step(
    encoding: &InputEncoding,
    step: usize,
    values: &[f32],
    out: &mut Vec<i32>,
) -> Result<(), EmuError> {
    out.clear();
    out.reserve(values.len());
    for (index, &value) in values.iter().enumerate() {
        let bad = |reason: &'static str| EmuError::InputValue {
            step,
            index,
            value,
            reason,
        };
        let q = match *encoding {
            InputEncoding::Spikes => {
                if value == 0.0 {
                    0
                } else if value == 1.0 {
                    1
                } else {
                    return Err(bad("is not a spike (0 or 1)"));
                }
            }
            InputEncoding::Quantized {
                scale,
                zero_point,
                lo,
                hi,
            } => {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(bad("cannot be quantized: the manifest's scale is not > 0"));
                }
                quantize_linear(value, scale, zero_point, lo, hi)
            }
            InputEncoding::Integer { lo, hi } => {
                if value.fract() != 0.0 || !value.is_finite() {
                    return Err(bad("is not an integer"));
                }
                if f64::from(value) < f64::from(lo) || f64::from(value) > f64::from(hi) {
                    return Err(bad("is outside the input's integer range"));
                }
                value as i32
            }
        };
        out.push(q);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::quant::eval_quantize_linear;
    use snnc_ir::op::QuantizeLinear;
    use snnc_ir::{DType, Tensor};

    #[test]
    fn matches_the_reference_quantize_linear() {
        let xs: Vec<f32> = vec![
            -1.0,
            0.0,
            0.5,
            1.5,
            2.5,
            -2.5,
            0.1,
            3.0 / 240.0 * 7.5,
            1e9,
            -1e9,
            f32::NAN,
            f32::INFINITY,
            0.49999997,
        ];
        let scale = 1.0f32 / 240.0;
        let zp = 3i64;
        let q = QuantizeLinear {
            out: DType::U8,
            axis: 0,
        };
        let x = Tensor::from_f32(vec![xs.len()], xs.clone()).unwrap();
        let s = Tensor::from_f32(vec![], vec![scale]).unwrap();
        let z = Tensor::from_i64(DType::U8, vec![], vec![zp]).unwrap();
        let reference = eval_quantize_linear(&q, &[&x, &s, &z]).unwrap();
        let expect = reference.to_i64_vec().unwrap();
        let got: Vec<i64> = xs
            .iter()
            .map(|&v| i64::from(quantize_linear(v, scale, 3, 0, 255)))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn spikes_and_integers_are_checked() {
        let mut out = Vec::new();
        encode_step(&InputEncoding::Spikes, 0, &[0.0, 1.0], &mut out).unwrap();
        assert_eq!(out, vec![0, 1]);
        let e = encode_step(&InputEncoding::Spikes, 2, &[0.0, 0.5], &mut out).unwrap_err();
        assert!(matches!(
            e,
            EmuError::InputValue {
                step: 2,
                index: 1,
                ..
            }
        ));
        let int = InputEncoding::Integer { lo: -4, hi: 3 };
        encode_step(&int, 0, &[-4.0, 3.0, 0.0], &mut out).unwrap();
        assert_eq!(out, vec![-4, 3, 0]);
        assert!(encode_step(&int, 0, &[4.0], &mut out).is_err());
        assert!(encode_step(&int, 0, &[1.5], &mut out).is_err());
        assert!(encode_step(&int, 0, &[f32::NAN], &mut out).is_err());
    }
}
