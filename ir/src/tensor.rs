//! Dense tensors: constants in the graph and values in the reference interpreter.

use crate::{DType, IrError};

/// Element storage. Floats are `f32`; every integer dtype is stored widened to `i64` so that the
/// interpreter's integer arithmetic is exact and overflow is decided by the op, not by storage.
#[derive(Clone, PartialEq, Debug)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A dense, row-major tensor with a logical element type.
#[derive(Clone, PartialEq, Debug)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Data,
}

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    // Saturating: a shape whose product overflows never verifies (the verifier rejects it), and
    // size checks made before verifying must not panic on one.
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX)
}

impl Tensor {
    /// A float tensor; fails when `data` does not hold exactly `numel(shape)` values.
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, IrError> {
        check_len(&shape, data.len())?;
        Ok(Tensor {
            dtype: DType::F32,
            shape,
            data: Data::F32(data),
        })
    }

    /// An integer tensor; fails on a length mismatch or a value outside `dtype`'s range.
    pub fn from_i64(dtype: DType, shape: Vec<usize>, data: Vec<i64>) -> Result<Self, IrError> {
        check_len(&shape, data.len())?;
        let (lo, hi) = dtype.int_range().ok_or_else(|| {
            IrError::Tensor(format!("from_i64 needs an integer dtype, got {dtype}"))
        })?;
        let bad = |v: &&i64| **v < lo || **v > hi || (dtype == DType::Bin && **v == 0);
        if let Some(v) = data.iter().find(bad) {
            return Err(IrError::Tensor(format!(
                "value {v} is out of range for {dtype}"
            )));
        }
        Ok(Tensor {
            dtype,
            shape,
            data: Data::I64(data),
        })
    }

    pub fn scalar_f32(v: f32) -> Self {
        Tensor {
            dtype: DType::F32,
            shape: vec![],
            data: Data::F32(vec![v]),
        }
    }

    /// A tensor of zeros of any dtype.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Self {
        let n = numel(&shape);
        let data = if dtype.is_float() {
            Data::F32(vec![0.0; n])
        } else {
            Data::I64(vec![0; n])
        };
        Tensor { dtype, shape, data }
    }

    /// A float tensor filled with one value.
    pub fn full_f32(shape: Vec<usize>, v: f32) -> Self {
        let n = numel(&shape);
        Tensor {
            dtype: DType::F32,
            shape,
            data: Data::F32(vec![v; n]),
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        numel(&self.shape)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    /// The float elements, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }

    /// The integer elements, if this is an integer tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    /// Element `i` (row-major) as f64; exact for f32 and for integers up to 2^53.
    pub fn get_f64(&self, i: usize) -> f64 {
        match &self.data {
            Data::F32(v) => v[i] as f64,
            Data::I64(v) => v[i] as f64,
        }
    }

    /// All elements converted to f32 (integers rounded to nearest when above 2^24).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I64(v) => v.iter().map(|x| *x as f32).collect(),
        }
    }

    /// All elements as i64; floats must hold integral values.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, IrError> {
        match &self.data {
            Data::I64(v) => Ok(v.clone()),
            Data::F32(v) => v
                .iter()
                .map(|x| {
                    if x.fract() == 0.0 && x.is_finite() {
                        Ok(*x as i64)
                    } else {
                        Err(IrError::Tensor(format!("{x} is not an integer")))
                    }
                })
                .collect(),
        }
    }

    /// The same elements under a new shape of equal element count.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<Self, IrError> {
        if numel(&shape) != self.len() {
            return Err(IrError::Tensor(format!(
                "cannot reshape {:?} to {:?}",
                self.shape, shape
            )));
        }
        self.shape = shape;
        Ok(self)
    }

    /// Index of the first NaN or infinite element, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        match &self.data {
            Data::F32(v) => v.iter().position(|x| !x.is_finite()),
            Data::I64(_) => None,
        }
    }
}

fn check_len(shape: &[usize], len: usize) -> Result<(), IrError> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| IrError::Tensor(format!("shape {shape:?} overflows")))?;
    if n != len {
        return Err(IrError::Tensor(format!(
            "shape {shape:?} needs {n} elements, got {len}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length_and_range() {
        assert!(Tensor::from_f32(vec![2, 3], vec![0.0; 5]).is_err());
        assert!(Tensor::from_i64(DType::I8, vec![1], vec![128]).is_err());
        assert!(Tensor::from_i64(DType::I8, vec![1], vec![-128]).is_ok());
    }

    #[test]
    fn reshape_keeps_data() {
        let t = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let r = t.reshape(vec![4]).unwrap();
        assert_eq!(r.shape(), &[4]);
        assert_eq!(r.as_f32().unwrap()[3], 4.0);
    }
}
