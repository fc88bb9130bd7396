//! Elementwise ops: Add, Mul, Relu, Clip, Sign, Threshold, BatchNorm.

use crate::infer::{broadcast_shapes, broadcasts_to, fmt_shape};
use crate::interp::num::{arg, f32_data, i64_data, type_of, wrapped_tensor};
use crate::{numel, DType, Data, IrError, Tensor, TensorType};

/// Clamp to `[min, max]`; a missing bound is unbounded. Bounds are f64 so that integer bounds of
/// any integer dtype up to 2^53 are exact.
#[derive(Clone, PartialEq, Debug)]
pub struct Clip {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Inference-mode batch normalisation: `y = scale · (x − mean) / sqrt(var + epsilon) + bias`.
#[derive(Clone, PartialEq, Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
}

/// NIR Threshold: `y = 1` where `x > threshold`, else 0. `threshold` broadcasts to `x`.
#[derive(Clone, PartialEq, Debug)]
pub struct Threshold {
    pub threshold: Tensor,
}

/// The dtype of `Add`/`Mul`: `f32` if either side is a float; the common dtype when both are the
/// same integer type (not `bool`); otherwise the accumulator type
/// ([`crate::infer::accum_dtype`]). Integer results wrap to the output dtype.
pub fn binary_dtype(a: DType, b: DType) -> DType {
    if a.is_float() || b.is_float() {
        DType::F32
    } else if a == b && a != DType::Bool && a != DType::Bin {
        a
    } else {
        crate::infer::accum_dtype(&[a, b])
    }
}

/// Output type of `Add`/`Mul`: NumPy broadcasting of the two shapes. A side whose type is not
/// known yet (a recurrent input during inference) takes the other side's type.
pub fn infer_binary(a: Option<&TensorType>, b: Option<&TensorType>) -> Result<TensorType, String> {
    match (a, b) {
        (None, None) => Err("the types of both inputs are unknown".into()),
        (Some(t), None) | (None, Some(t)) => Ok(TensorType::new(t.dtype, t.shape.clone())),
        (Some(a), Some(b)) => {
            let shape = broadcast_shapes(&a.shape, &b.shape).ok_or_else(|| {
                format!(
                    "input 0 has shape {} and input 1 has shape {}, which do not broadcast",
                    fmt_shape(&a.shape),
                    fmt_shape(&b.shape)
                )
            })?;
            Ok(TensorType::new(binary_dtype(a.dtype, b.dtype), shape))
        }
    }
}

/// Output type of [`BatchNorm`]: `x` has rank >= 2 with channels on axis 1; scale, bias, mean
/// and var are `[C]`. The result is `f32`.
pub fn infer_batchnorm(x: &TensorType, params: [&TensorType; 4]) -> Result<TensorType, String> {
    if x.rank() < 2 {
        return Err(format!(
            "input 0 has shape {}, expected rank >= 2 (N, C, ...)",
            fmt_shape(&x.shape)
        ));
    }
    let c = x.shape[1];
    for (i, (p, pname)) in params
        .iter()
        .zip(["scale", "bias", "mean", "var"])
        .enumerate()
    {
        if p.shape != [c] {
            return Err(format!(
                "input {} ({pname}) has shape {}, expected [{c}]",
                i + 1,
                fmt_shape(&p.shape)
            ));
        }
    }
    Ok(TensorType::f32(x.shape.clone()))
}

/// Output type of [`Threshold`]: `x`'s shape, `f32` 0/1 values; the threshold must broadcast to
/// `x`.
pub fn infer_threshold(t: &Threshold, x: &TensorType) -> Result<TensorType, String> {
    if !broadcasts_to(t.threshold.shape(), &x.shape) {
        return Err(format!(
            "threshold has shape {}, which does not broadcast to the input shape {}",
            fmt_shape(t.threshold.shape()),
            fmt_shape(&x.shape)
        ));
    }
    Ok(TensorType::f32(x.shape.clone()))
}

/// Reference Add: NumPy broadcasting; f32 addition, or for two integer inputs an exact sum
/// wrapped to the output dtype ([`binary_dtype`]).
pub fn eval_add(inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    binary(inputs, |a, b| a + b, i64::wrapping_add)
}

/// Reference Mul: as [`eval_add`] with products.
pub fn eval_mul(inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    binary(inputs, |a, b| a * b, i64::wrapping_mul)
}

fn binary(
    inputs: &[&Tensor],
    f: impl Fn(f32, f32) -> f32,
    g: impl Fn(i64, i64) -> i64,
) -> Result<Tensor, IrError> {
    let (a, b) = (arg(inputs, 0)?, arg(inputs, 1)?);
    let out = infer_binary(Some(&type_of(a)), Some(&type_of(b))).map_err(IrError::Tensor)?;
    if out.dtype.is_int() {
        let y = zip_broadcast(
            i64_data(a)?,
            a.shape(),
            i64_data(b)?,
            b.shape(),
            &out.shape,
            g,
        )?;
        return wrapped_tensor(out.dtype, out.shape, y);
    }
    let y = zip_broadcast(
        &f32_data(a),
        a.shape(),
        &f32_data(b),
        b.shape(),
        &out.shape,
        f,
    )?;
    Tensor::from_f32(out.shape, y)
}

/// `f` applied to the broadcast pairs of `a` and `b`, in row-major order of `out`.
fn zip_broadcast<T: Copy>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &[usize],
    f: impl Fn(T, T) -> T,
) -> Result<Vec<T>, IrError> {
    if a_shape == out && b_shape == out {
        return Ok(a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect());
    }
    let am = crate::broadcast::index_map(a_shape, out)?;
    let bm = crate::broadcast::index_map(b_shape, out)?;
    Ok(am.iter().zip(&bm).map(|(i, j)| f(a[*i], b[*j])).collect())
}

/// Reference Relu: `x < 0 ? 0 : x` (NaN and −0 pass through); integers stay integers.
pub fn eval_relu(x: &Tensor) -> Result<Tensor, IrError> {
    match x.data() {
        Data::F32(v) => Tensor::from_f32(
            x.shape().to_vec(),
            v.iter().map(|e| if *e < 0.0 { 0.0 } else { *e }).collect(),
        ),
        Data::I64(v) => Tensor::from_i64(
            x.dtype(),
            x.shape().to_vec(),
            v.iter().map(|e| (*e).max(0)).collect(),
        ),
    }
}

/// Reference Clip, as onnxruntime computes it: `min(max(x, lo), hi)`, so `hi` wins when
/// `lo > hi` and a NaN element stays NaN. Float bounds are rounded to f32. Integer tensors keep
/// their dtype and are clamped exactly, with the bounds rounded inward (`ceil(lo)`,
/// `floor(hi)`) and limited to the dtype's range; a NaN bound counts as absent.
pub fn eval_clip(c: &Clip, x: &Tensor) -> Result<Tensor, IrError> {
    let bound = |b: Option<f64>| b.filter(|v| !v.is_nan());
    let (lo, hi) = (bound(c.min), bound(c.max));
    match x.data() {
        Data::F32(v) => {
            let lo = lo.map(|b| b as f32);
            let hi = hi.map(|b| b as f32);
            let y = v
                .iter()
                .map(|e| {
                    let e = match lo {
                        Some(l) if *e < l => l,
                        _ => *e,
                    };
                    match hi {
                        Some(h) if h < e => h,
                        _ => e,
                    }
                })
                .collect();
            Tensor::from_f32(x.shape().to_vec(), y)
        }
        Data::I64(v) => {
            let (dlo, dhi) = x.dtype().int_range().unwrap_or((i64::MIN, i64::MAX));
            let fit = |b: f64| b.clamp(dlo as f64, dhi as f64) as i64;
            let lo = lo.map_or(dlo, |b| fit(b.ceil()));
            let hi = hi.map_or(dhi, |b| fit(b.floor()));
            let y = v.iter().map(|e| (*e).max(lo).min(hi)).collect();
            Tensor::from_i64(x.dtype(), x.shape().to_vec(), y)
        }
    }
}

/// Reference Sign: `(0 < x) − (x < 0)` in the input's dtype (so NaN and ±0 give 0).
pub fn eval_sign(x: &Tensor) -> Result<Tensor, IrError> {
    match x.data() {
        Data::F32(v) => Tensor::from_f32(
            x.shape().to_vec(),
            v.iter()
                .map(|e| f32::from(u8::from(0.0 < *e)) - f32::from(u8::from(*e < 0.0)))
                .collect(),
        ),
        Data::I64(v) => Tensor::from_i64(
            x.dtype(),
            x.shape().to_vec(),
            v.iter().map(|e| e.signum()).collect(),
        ),
    }
}

/// Reference Threshold: f32 `1` where `x > threshold` (compared exactly, values widened to
/// f64), else `0`.
pub fn eval_threshold(t: &Threshold, x: &Tensor) -> Result<Tensor, IrError> {
    let out = infer_threshold(t, &type_of(x)).map_err(IrError::Tensor)?;
    let map = crate::broadcast::index_map(t.threshold.shape(), x.shape())?;
    let y = map
        .iter()
        .enumerate()
        .map(|(i, j)| f32::from(u8::from(x.get_f64(i) > t.threshold.get_f64(*j))))
        .collect();
    Tensor::from_f32(out.shape, y)
}

/// Reference BatchNorm, bit for bit as onnxruntime's CPU kernel: per channel
/// `s = scale · (1 / sqrt(var + ε))`, `b = bias − mean · s`, then `y = x · s + b`, every step in
/// f32. (Equal in exact arithmetic to `(x − mean)/sqrt(var + ε)·scale + bias`.)
pub fn eval_batchnorm(bn: &BatchNorm, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let x = arg(inputs, 0)?;
    let ps: Vec<&Tensor> = (1..5).map(|i| arg(inputs, i)).collect::<Result<_, _>>()?;
    let tys: Vec<TensorType> = ps.iter().map(|p| type_of(p)).collect();
    let out = infer_batchnorm(&type_of(x), [&tys[0], &tys[1], &tys[2], &tys[3]])
        .map_err(IrError::Tensor)?;
    let (scale, bias, mean, var) = (
        f32_data(ps[0]),
        f32_data(ps[1]),
        f32_data(ps[2]),
        f32_data(ps[3]),
    );
    let c = out.shape[1];
    let inner = numel(&out.shape[2..]);
    let (s, b): (Vec<f32>, Vec<f32>) = (0..c)
        .map(|ch| {
            let inv_std = 1.0f32 / (var[ch] + bn.epsilon).sqrt();
            let s = scale[ch] * inv_std;
            (s, bias[ch] - mean[ch] * s)
        })
        .unzip();
    let xv = f32_data(x);
    let y = xv
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ch = (i / inner.max(1)) % c.max(1);
            e * s[ch] + b[ch]
        })
        .collect();
    Tensor::from_f32(out.shape, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dtype: DType, shape: &[usize]) -> TensorType {
        TensorType::new(dtype, shape.to_vec())
    }

    #[test]
    fn binary_types() {
        let a = t(DType::F32, &[2, 1, 3]);
        let b = t(DType::I8, &[4, 1]);
        assert_eq!(
            infer_binary(Some(&a), Some(&b)).unwrap(),
            t(DType::F32, &[2, 4, 3])
        );
        assert_eq!(infer_binary(None, Some(&b)).unwrap(), b);
        assert!(infer_binary(None, None).is_err());
        let e = infer_binary(Some(&t(DType::F32, &[2])), Some(&t(DType::F32, &[3]))).unwrap_err();
        assert_eq!(
            e,
            "input 0 has shape [2] and input 1 has shape [3], which do not broadcast"
        );
        assert_eq!(binary_dtype(DType::I8, DType::I8), DType::I8);
        assert_eq!(binary_dtype(DType::I8, DType::U8), DType::I32);
        assert_eq!(binary_dtype(DType::I8, DType::I64), DType::I64);
        assert_eq!(binary_dtype(DType::Bool, DType::Bool), DType::I32);
    }

    #[test]
    fn batchnorm_and_threshold_types() {
        let x = t(DType::F32, &[1, 3, 4]);
        let c = t(DType::F32, &[3]);
        assert_eq!(infer_batchnorm(&x, [&c, &c, &c, &c]).unwrap(), x);
        let wrong = t(DType::F32, &[4]);
        let e = infer_batchnorm(&x, [&c, &c, &wrong, &c]).unwrap_err();
        assert_eq!(e, "input 3 (mean) has shape [4], expected [3]");
        assert!(infer_batchnorm(&t(DType::F32, &[3]), [&c, &c, &c, &c]).is_err());
        let th = Threshold {
            threshold: Tensor::full_f32(vec![3, 1], 0.5),
        };
        assert_eq!(
            infer_threshold(&th, &t(DType::I8, &[2, 3, 4])).unwrap(),
            t(DType::F32, &[2, 3, 4])
        );
        assert!(infer_threshold(&th, &t(DType::F32, &[4])).is_err());
    }

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    fn i(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(dtype, shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn add_mul_broadcast() {
        let a = f(&[2, 1], &[1., 2.]);
        let b = f(&[3], &[10., 20., 30.]);
        let y = eval_add(&[&a, &b]).unwrap();
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.as_f32().unwrap(), &[11., 21., 31., 12., 22., 32.]);
        let y = eval_mul(&[&b, &a]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[10., 20., 30., 20., 40., 60.]);
        let s = f(&[], &[0.5]);
        assert_eq!(eval_mul(&[&a, &s]).unwrap().as_f32().unwrap(), &[0.5, 1.]);
        assert!(eval_add(&[&f(&[2], &[0.; 2]), &b]).is_err());
    }

    #[test]
    fn integer_add_mul_wrap_to_dtype() {
        let a = i(DType::I8, &[2], &[100, -100]);
        let y = eval_add(&[&a, &a]).unwrap();
        assert_eq!(y.dtype(), DType::I8);
        assert_eq!(y.as_i64().unwrap(), &[-56, 56]);
        let b = i(DType::U8, &[1], &[200]);
        let y = eval_mul(&[&a, &b]).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.as_i64().unwrap(), &[20000, -20000]);
        let y = eval_add(&[&a, &f(&[], &[0.5])]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[100.5, -99.5]);
    }

    #[test]
    fn relu_clip_sign() {
        let x = f(&[4], &[-2., -0.5, 0., 3.]);
        assert_eq!(eval_relu(&x).unwrap().as_f32().unwrap(), &[0., 0., 0., 3.]);
        let c = Clip {
            min: Some(-1.0),
            max: Some(1.0),
        };
        assert_eq!(
            eval_clip(&c, &x).unwrap().as_f32().unwrap(),
            &[-1., -0.5, 0., 1.]
        );
        assert_eq!(
            eval_sign(&x).unwrap().as_f32().unwrap(),
            &[-1., -1., 0., 1.]
        );
        let xi = i(DType::I64, &[4], &[-300, -5, 0, 300]);
        let y = eval_clip(
            &Clip {
                min: Some(-127.5),
                max: Some(127.0),
            },
            &xi,
        )
        .unwrap();
        assert_eq!(y.dtype(), DType::I64);
        assert_eq!(y.as_i64().unwrap(), &[-127, -5, 0, 127]);
        let y = eval_clip(
            &Clip {
                min: None,
                max: Some(0.0),
            },
            &xi,
        )
        .unwrap();
        assert_eq!(y.as_i64().unwrap(), &[-300, -5, 0, 0]);
        let x8 = i(DType::I8, &[2], &[-128, 127]);
        let y = eval_clip(
            &Clip {
                min: Some(-1000.0),
                max: None,
            },
            &x8,
        )
        .unwrap();
        assert_eq!(y.as_i64().unwrap(), &[-128, 127]);
        assert_eq!(eval_sign(&xi).unwrap().as_i64().unwrap(), &[-1, -1, 0, 1]);
        assert_eq!(eval_relu(&xi).unwrap().as_i64().unwrap(), &[0, 0, 0, 300]);
        // lo > hi: hi wins, as min(max(x, lo), hi) gives.
        let y = eval_clip(
            &Clip {
                min: Some(2.0),
                max: Some(1.0),
            },
            &x,
        )
        .unwrap();
        assert_eq!(y.as_f32().unwrap(), &[1.; 4]);
    }

    #[test]
    fn threshold_is_strict_and_broadcasts() {
        let t = Threshold {
            threshold: f(&[2, 1], &[0.5, 2.0]),
        };
        let x = f(&[2, 2], &[0.5, 0.6, 2.0, 3.0]);
        let y = eval_threshold(&t, &x).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[0., 1., 0., 1.]);
        let xi = i(DType::I8, &[2, 2], &[0, 1, 2, 3]);
        assert_eq!(
            eval_threshold(&t, &xi).unwrap().as_f32().unwrap(),
            &[0., 1., 0., 1.]
        );
    }

    #[test]
    fn batchnorm_values() {
        // Channel 0: s = 2·(1/sqrt(3 + 1)) = 1, b = 1 − 1·1 = 0.
        // Channel 1: s = −1·(1/sqrt(0 + 1)) = −1, b = 0.5 − 2·(−1) = 2.5.
        let x = f(&[1, 2, 2], &[1., 2., 3., 4.]);
        let scale = f(&[2], &[2., -1.]);
        let bias = f(&[2], &[1., 0.5]);
        let mean = f(&[2], &[1., 2.]);
        let var = f(&[2], &[3., 0.]);
        let y = eval_batchnorm(
            &BatchNorm { epsilon: 1.0 },
            &[&x, &scale, &bias, &mean, &var],
        )
        .unwrap();
        assert_eq!(y.as_f32().unwrap(), &[1., 2., -0.5, -1.5]);
    }
}
