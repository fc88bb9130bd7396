//! Elementwise ops: Add, Mul, Relu, Clip, Sign, Threshold, BatchNorm.

use crate::infer::{broadcast_shapes, broadcasts_to, fmt_shape};
use crate::{DType, Tensor, TensorType};

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
    } else if a == b && a != DType::Bool {
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
}
