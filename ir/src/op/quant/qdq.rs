//! ONNX QuantizeLinear and DequantizeLinear, per tensor or per axis, with onnxruntime's CPU
//! arithmetic (float32 division, round half to even, exact integer zero-point arithmetic).

use super::{DequantizeLinear, QuantizeLinear};
use crate::{DType, IrError, Tensor};

/// ONNX `QuantizeLinear` with inputs `(x, scale, [zero_point])`:
/// `y = saturate(round_half_even(x / scale) + zero_point)` into `q.out`.
///
/// `x / scale` is one float32 division (onnxruntime divides, it does not multiply by a
/// reciprocal); the zero point is added to the rounded value exactly; saturation clamps to the
/// range of `q.out`. ±∞ saturate to the matching end, NaN gives the lower end of the range (as
/// onnxruntime's kernel). Scale is a scalar / one-element tensor (per tensor) or a 1-D tensor of
/// length `x.shape[q.axis]` (per axis); it must be finite and > 0. The zero point, when given,
/// has the shape of the scale and the dtype `q.out`.
pub fn eval_quantize_linear(q: &QuantizeLinear, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let (x, scale, zero_point) = split("QuantizeLinear", inputs)?;
    let (lo, hi) = match q.out.int_range() {
        Some(range) if q.out != DType::Bool && q.out != DType::Bin => range,
        _ => {
            return Err(IrError::Tensor(format!(
                "QuantizeLinear: output type {} is not an integer type",
                q.out
            )))
        }
    };
    let scales = scale_values("QuantizeLinear", scale, true)?;
    let layout = Layout::new("QuantizeLinear", x.shape(), scale, q.axis)?;
    let zps = zero_points("QuantizeLinear", zero_point, scales.len(), q.out)?;
    let xs = x.to_f32_vec();
    let mut out = Vec::with_capacity(xs.len());
    for (i, v) in xs.iter().enumerate() {
        let c = layout.channel(i);
        let r = (v / scales[c]).round_ties_even();
        let q = if r.is_nan() {
            lo
        } else {
            (f64::from(r) + zps[c] as f64).clamp(lo as f64, hi as f64) as i64
        };
        out.push(q);
    }
    Tensor::from_i64(q.out, x.shape().to_vec(), out)
}

/// ONNX `DequantizeLinear` with inputs `(x, scale, [zero_point])`: `y = (x − zero_point) · scale`
/// as float32. `x` must be an integer tensor; `x − zero_point` is exact (integer), then converted
/// to float32 (round to nearest) and multiplied by the float32 scale. Scale layout as in
/// [`eval_quantize_linear`]; it must be finite. The zero point, when given, has `x`'s dtype.
pub fn eval_dequantize_linear(q: &DequantizeLinear, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let (x, scale, zero_point) = split("DequantizeLinear", inputs)?;
    let xs = x.as_i64().ok_or_else(|| {
        IrError::Tensor(format!(
            "DequantizeLinear: input must be an integer tensor, got {}",
            x.dtype()
        ))
    })?;
    let scales = scale_values("DequantizeLinear", scale, false)?;
    let layout = Layout::new("DequantizeLinear", x.shape(), scale, q.axis)?;
    let zps = zero_points("DequantizeLinear", zero_point, scales.len(), x.dtype())?;
    let out = xs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = layout.channel(i);
            let diff = i128::from(*v) - i128::from(zps[c]);
            diff as f32 * scales[c]
        })
        .collect();
    Tensor::from_f32(x.shape().to_vec(), out)
}

/// `(x, scale, zero_point)` from 2 or 3 inputs.
fn split<'a>(
    op: &str,
    inputs: &[&'a Tensor],
) -> Result<(&'a Tensor, &'a Tensor, Option<&'a Tensor>), IrError> {
    match inputs {
        [x, s] => Ok((x, s, None)),
        [x, s, z] => Ok((x, s, Some(z))),
        _ => Err(IrError::Tensor(format!(
            "{op} needs 2 or 3 inputs, got {}",
            inputs.len()
        ))),
    }
}

/// The scale values; finite, and > 0 when `positive`.
fn scale_values(op: &str, scale: &Tensor, positive: bool) -> Result<Vec<f32>, IrError> {
    let values = scale.as_f32().ok_or_else(|| {
        IrError::Tensor(format!("{op}: scale must be f32, got {}", scale.dtype()))
    })?;
    if let Some(bad) = values
        .iter()
        .find(|s| !s.is_finite() || (positive && **s <= 0.0))
    {
        let need = if positive { "finite and > 0" } else { "finite" };
        return Err(IrError::Tensor(format!(
            "{op}: scale must be {need}, got {bad}"
        )));
    }
    Ok(values.to_vec())
}

/// The zero points (all 0 when absent), checked against the scale's length and the dtype.
fn zero_points(
    op: &str,
    zero_point: Option<&Tensor>,
    n: usize,
    dtype: DType,
) -> Result<Vec<i64>, IrError> {
    let Some(zp) = zero_point else {
        return Ok(vec![0; n]);
    };
    if zp.dtype() != dtype {
        return Err(IrError::Tensor(format!(
            "{op}: zero point has type {}, expected {dtype}",
            zp.dtype()
        )));
    }
    let values = zp.as_i64().unwrap_or_default();
    if values.len() != n {
        return Err(IrError::Tensor(format!(
            "{op}: zero point has {} elements but the scale has {n}",
            values.len()
        )));
    }
    Ok(values.to_vec())
}

/// Which scale applies to element `i` (row-major) of the input.
struct Layout {
    /// `None` per tensor; else (channel count, elements per step of the channel axis).
    per_axis: Option<(usize, usize)>,
}

impl Layout {
    fn new(op: &str, x_shape: &[usize], scale: &Tensor, axis: usize) -> Result<Self, IrError> {
        if scale.len() == 1 && scale.rank() <= 1 {
            return Ok(Layout { per_axis: None });
        }
        let channels = x_shape.get(axis).copied();
        if scale.rank() != 1 || channels != Some(scale.len()) {
            return Err(IrError::Tensor(format!(
                "{op}: scale of shape {:?} is neither per tensor nor per axis {axis} of an \
                 input of shape {x_shape:?}",
                scale.shape()
            )));
        }
        let inner = x_shape.get(axis + 1..).unwrap_or(&[]).iter().product();
        Ok(Layout {
            per_axis: Some((scale.len(), inner)),
        })
    }

    fn channel(&self, i: usize) -> usize {
        match self.per_axis {
            None => 0,
            Some((channels, inner)) => (i / inner.max(1)) % channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }
    fn i(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(dtype, shape.to_vec(), v.to_vec()).unwrap()
    }
    fn ql(axis: usize, out: DType) -> QuantizeLinear {
        QuantizeLinear { axis, out }
    }

    #[test]
    fn per_tensor_rounds_half_even_and_saturates() {
        let x = f(&[6], &[0.25, 0.75, -0.25, -0.75, 1000.0, -1000.0]);
        let zp = i(DType::I8, &[], &[-3]);
        let y =
            eval_quantize_linear(&ql(0, DType::I8), &[&x, &Tensor::scalar_f32(0.5), &zp]).unwrap();
        // x/0.5 = 0.5 1.5 -0.5 -1.5 2000 -2000 -> 0 2 -0 -2 -> -3 -1 -3 -5 127 -128
        assert_eq!(y.dtype(), DType::I8);
        assert_eq!(y.as_i64().unwrap(), &[-3, -1, -3, -5, 127, -128]);
    }

    #[test]
    fn unsigned_without_zero_point_and_non_finite_inputs() {
        let x = f(
            &[5],
            &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.5, -1.0],
        );
        let y = eval_quantize_linear(&ql(0, DType::U8), &[&x, &Tensor::scalar_f32(1.0)]).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[0, 255, 0, 2, 0]);
        let zp = i(DType::U8, &[1], &[128]);
        let y = eval_quantize_linear(&ql(0, DType::U8), &[&x, &f(&[1], &[1.0]), &zp]).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[0, 255, 0, 130, 127]);
    }

    #[test]
    fn per_axis_matches_onnxruntime() {
        // Checked against onnxruntime 1.x CPU: [[-1, 7], [-5, 0], [127, -128]].
        let x = f(&[3, 2], &[1.25, 1.25, -0.75, -0.375, 100.0, -100.0]);
        let scale = f(&[2], &[0.5, 0.25]);
        let zp = i(DType::I8, &[2], &[-3, 2]);
        let y = eval_quantize_linear(&ql(1, DType::I8), &[&x, &scale, &zp]).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[-1, 7, -5, 0, 127, -128]);
    }

    #[test]
    fn per_axis_zero_uses_outer_dimension() {
        let x = f(&[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let scale = f(&[2], &[1.0, 0.5]);
        let y = eval_quantize_linear(&ql(0, DType::I16), &[&x, &scale]).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[1, 2, 3, 2, 4, 6]);
    }

    #[test]
    fn quantize_rejects_bad_arguments() {
        let x = f(&[2, 3], &[0.0; 6]);
        let s = Tensor::scalar_f32(1.0);
        assert!(eval_quantize_linear(&ql(0, DType::F32), &[&x, &s]).is_err());
        assert!(eval_quantize_linear(&ql(0, DType::Bool), &[&x, &s]).is_err());
        assert!(eval_quantize_linear(&ql(0, DType::I8), &[&x, &Tensor::scalar_f32(0.0)]).is_err());
        // per-axis scale of the wrong length
        assert!(eval_quantize_linear(&ql(1, DType::I8), &[&x, &f(&[2], &[1.0, 1.0])]).is_err());
        // zero point of another type
        let zp = i(DType::U8, &[], &[0]);
        assert!(eval_quantize_linear(&ql(0, DType::I8), &[&x, &s, &zp]).is_err());
        assert!(eval_quantize_linear(&ql(0, DType::I8), &[&x]).is_err());
    }

    #[test]
    fn dequantize_per_tensor_and_per_axis() {
        let x = i(DType::I8, &[2, 2], &[-128, 127, 5, -3]);
        let zp = i(DType::I8, &[], &[-3]);
        let y = eval_dequantize_linear(
            &DequantizeLinear { axis: 1 },
            &[&x, &Tensor::scalar_f32(0.5), &zp],
        )
        .unwrap();
        assert_eq!(y.dtype(), DType::F32);
        assert_eq!(y.as_f32().unwrap(), &[-62.5, 65.0, 4.0, 0.0]);
        let scale = f(&[2], &[0.5, 2.0]);
        let zp = i(DType::I8, &[2], &[1, -1]);
        let y = eval_dequantize_linear(&DequantizeLinear { axis: 1 }, &[&x, &scale, &zp]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[-64.5, 256.0, 2.0, -4.0]);
    }

    #[test]
    fn dequantize_needs_integer_input() {
        let x = f(&[1], &[1.0]);
        assert!(eval_dequantize_linear(
            &DequantizeLinear { axis: 0 },
            &[&x, &Tensor::scalar_f32(1.0)]
        )
        .is_err());
    }

    #[test]
    fn round_trip_is_identity_on_grid_points() {
        let q = i(DType::U8, &[4], &[0, 17, 128, 255]);
        let scale = Tensor::scalar_f32(0.03125);
        let zp = i(DType::U8, &[], &[128]);
        let x = eval_dequantize_linear(&DequantizeLinear { axis: 0 }, &[&q, &scale, &zp]).unwrap();
        let back = eval_quantize_linear(&ql(0, DType::U8), &[&x, &scale, &zp]).unwrap();
        assert_eq!(back, q);
    }
}
