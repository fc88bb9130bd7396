//! NumPy broadcasting, used by type inference (Add, Mul, Gemm's C, neuron parameters) and by
//! every kernel that reads a broadcast operand. One implementation, so shape rules and data
//! layout can never disagree.

use crate::infer::fmt_shape;
use crate::{numel, IrError};

/// The NumPy broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        // Dimension i counted from the right, 1 where a shape is too short.
        let da = dim_from_right(a, n - 1 - i);
        let db = dim_from_right(b, n - 1 - i);
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// True when `from` broadcasts to exactly `to` (unidirectional NumPy broadcasting).
pub fn broadcasts_to(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len() && broadcast_shapes(from, to).as_deref() == Some(to)
}

fn dim_from_right(s: &[usize], k: usize) -> usize {
    if k < s.len() {
        s[s.len() - 1 - k]
    } else {
        1
    }
}

/// For every element of shape `to` (row-major), the index of the element of shape `from` that
/// NumPy broadcasting maps onto it. Fails unless `from` broadcasts to `to` (unidirectionally).
pub fn index_map(from: &[usize], to: &[usize]) -> Result<Vec<usize>, IrError> {
    if !broadcasts_to(from, to) {
        return Err(IrError::Tensor(format!(
            "shape {} does not broadcast to {}",
            fmt_shape(from),
            fmt_shape(to)
        )));
    }
    let total = numel(to);
    if from == to {
        return Ok((0..total).collect());
    }
    // Stride in `from` of each axis of `to` (0 where `from` is 1 or missing).
    let r = to.len();
    let lead = r - from.len();
    let mut strides = vec![0usize; r];
    let mut stride = 1usize;
    for axis in (lead..r).rev() {
        let d = from[axis - lead];
        if d != 1 {
            strides[axis] = stride;
        }
        stride *= d;
    }
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; r];
    let mut offset = 0usize;
    for _ in 0..total {
        out.push(offset);
        for axis in (0..r).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < to[axis] {
                break;
            }
            offset -= strides[axis] * index[axis];
            index[axis] = 0;
        }
    }
    Ok(out)
}

/// `data` (row-major, shape `from`) repeated to shape `to`, or `None` when `from` does not
/// broadcast to exactly `to`. Leading dimensions of `from` beyond the rank of `to` must be 1
/// (a `[1, 128]` parameter fits a `[128]` neuron population).
pub fn expand<T: Copy>(data: &[T], from: &[usize], to: &[usize]) -> Option<Vec<T>> {
    if data.len() != numel(from) {
        return None;
    }
    let extra = from.len().saturating_sub(to.len());
    if from[..extra].iter().any(|d| *d != 1) {
        return None;
    }
    let map = index_map(&from[extra..], to).ok()?;
    Some(map.into_iter().map(|i| data[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[2, 3], &[3, 2]), None);
        assert!(broadcasts_to(&[3], &[2, 3]));
        assert!(broadcasts_to(&[], &[2, 3]));
        assert!(!broadcasts_to(&[2, 3], &[3]));
        assert!(!broadcasts_to(&[2, 1], &[1, 3]));
    }

    #[test]
    fn broadcast_maps() {
        assert_eq!(index_map(&[3], &[2, 3]).unwrap(), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(index_map(&[2, 1], &[2, 3]).unwrap(), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(index_map(&[], &[2]).unwrap(), vec![0, 0]);
        assert_eq!(
            index_map(&[1, 2, 1], &[2, 2, 2]).unwrap(),
            vec![0, 0, 1, 1, 0, 0, 1, 1]
        );
        assert!(index_map(&[3], &[2]).is_err());
    }

    #[test]
    fn expand_repeats_rows_and_columns() {
        // column vector [2,1] to [2,3]
        assert_eq!(
            expand(&[1, 2], &[2, 1], &[2, 3]),
            Some(vec![1, 1, 1, 2, 2, 2])
        );
        // row [3] to [2,3]
        assert_eq!(
            expand(&[1, 2, 3], &[3], &[2, 3]),
            Some(vec![1, 2, 3, 1, 2, 3])
        );
        // per-channel [1,2,1] to [1,2,2]
        assert_eq!(
            expand(&[7, 9], &[1, 2, 1], &[1, 2, 2]),
            Some(vec![7, 7, 9, 9])
        );
        assert_eq!(expand(&[4], &[], &[3]), Some(vec![4, 4, 4]));
        assert_eq!(expand(&[4], &[1, 1], &[2]), Some(vec![4, 4]));
        assert_eq!(expand(&[1, 2], &[2], &[3]), None);
        assert_eq!(expand(&[1, 2], &[2, 1], &[2]), None);
        assert_eq!(expand::<i32>(&[], &[0], &[0]), Some(vec![]));
    }
}
