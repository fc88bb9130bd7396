//! Ops that only change the shape.

use crate::infer::fmt_shape;
use crate::{IrError, Tensor, TensorType};

/// Merge dimensions `start_dim..=end_dim` (both already resolved to non-negative indices).
#[derive(Clone, PartialEq, Debug)]
pub struct Flatten {
    pub start_dim: usize,
    pub end_dim: usize,
}

/// Reinterpret the input with a concrete shape of the same element count.
#[derive(Clone, PartialEq, Debug)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

/// The shape [`Flatten`] makes of `x`.
pub(crate) fn flatten_shape(f: &Flatten, x: &[usize]) -> Result<Vec<usize>, String> {
    if f.start_dim > f.end_dim || f.end_dim >= x.len() {
        return Err(format!(
            "dimensions {}..={} do not exist in input 0 of shape {}",
            f.start_dim,
            f.end_dim,
            fmt_shape(x)
        ));
    }
    let merged = checked_numel(&x[f.start_dim..=f.end_dim])
        .ok_or_else(|| format!("input 0 has shape {}, too many elements", fmt_shape(x)))?;
    let mut out = x[..f.start_dim].to_vec();
    out.push(merged);
    out.extend_from_slice(&x[f.end_dim + 1..]);
    Ok(out)
}

/// Output type of [`Flatten`]: same elements, dtype and quantization.
pub fn infer_flatten(f: &Flatten, x: &TensorType) -> Result<TensorType, String> {
    Ok(reshaped(x, flatten_shape(f, &x.shape)?))
}

/// Output type of [`Reshape`]: the element counts must match.
pub fn infer_reshape(r: &Reshape, x: &TensorType) -> Result<TensorType, String> {
    let (want, have) = (checked_numel(&r.shape), checked_numel(&x.shape));
    if want.is_none() || want != have {
        return Err(format!(
            "input 0 has shape {} ({} elements), which cannot be reshaped to {} ({} elements)",
            fmt_shape(&x.shape),
            fmt_count(have),
            fmt_shape(&r.shape),
            fmt_count(want)
        ));
    }
    Ok(reshaped(x, r.shape.clone()))
}

/// Element count of a shape, `None` when it does not fit in `usize` (attributes come from
/// user files).
fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d))
}

fn fmt_count(n: Option<usize>) -> String {
    n.map_or("too many".to_string(), |n| n.to_string())
}

/// `x` under a new shape. Per-tensor quantization survives; a per-axis one is dropped, since its
/// axis no longer means the same thing.
fn reshaped(x: &TensorType, shape: Vec<usize>) -> TensorType {
    let quant = x.quant.clone().filter(|q| q.axis.is_none());
    TensorType {
        dtype: x.dtype,
        shape,
        quant,
    }
}

/// Reference Flatten: the same elements in the same order under the merged shape.
pub fn eval_flatten(f: &Flatten, x: &Tensor) -> Result<Tensor, IrError> {
    let shape = flatten_shape(f, x.shape()).map_err(IrError::Tensor)?;
    x.clone().reshape(shape)
}

/// Reference Reshape: the same elements in the same order under the new shape.
pub fn eval_reshape(r: &Reshape, x: &Tensor) -> Result<Tensor, IrError> {
    x.clone().reshape(r.shape.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, QuantParams};

    #[test]
    fn flatten_shapes() {
        let x = TensorType::new(DType::I8, vec![1, 2, 3, 4]);
        let f = Flatten {
            start_dim: 1,
            end_dim: 3,
        };
        assert_eq!(
            infer_flatten(&f, &x).unwrap(),
            TensorType::new(DType::I8, vec![1, 24])
        );
        let f = Flatten {
            start_dim: 0,
            end_dim: 1,
        };
        assert_eq!(infer_flatten(&f, &x).unwrap().shape, vec![2, 3, 4]);
        let f = Flatten {
            start_dim: 2,
            end_dim: 4,
        };
        assert!(infer_flatten(&f, &x).is_err());
    }

    #[test]
    fn reshape_counts_and_quant() {
        let mut x = TensorType::new(DType::I8, vec![2, 6]);
        x.quant = Some(QuantParams {
            scale: vec![0.5],
            zero_point: vec![0],
            axis: None,
            bits: 8,
            signed: true,
            narrow: false,
        });
        let y = infer_reshape(&Reshape { shape: vec![3, 4] }, &x).unwrap();
        assert_eq!(y.shape, vec![3, 4]);
        assert_eq!(y.quant, x.quant);
        let e = infer_reshape(&Reshape { shape: vec![5] }, &x).unwrap_err();
        assert_eq!(
            e,
            "input 0 has shape [2,6] (12 elements), which cannot be reshaped to [5] (5 elements)"
        );
        let huge = Reshape {
            shape: vec![usize::MAX, 2],
        };
        assert!(infer_reshape(&huge, &x)
            .unwrap_err()
            .contains("(too many elements)"));
    }

    #[test]
    fn flatten_and_reshape_values() {
        let x = Tensor::from_f32(vec![1, 2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let f = Flatten {
            start_dim: 1,
            end_dim: 2,
        };
        let y = eval_flatten(&f, &x).unwrap();
        assert_eq!(y.shape(), &[1, 6]);
        assert_eq!(y.as_f32(), x.as_f32());
        let y = eval_reshape(&Reshape { shape: vec![3, 2] }, &x).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert!(eval_reshape(&Reshape { shape: vec![4] }, &x).is_err());
    }
}
