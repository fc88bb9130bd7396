//! NumPy broadcasting of shapes and of row-major data, for the ops whose parameters may be
//! scalars, per-channel or full tensors.

/// The NumPy broadcast of two shapes, or `None` when a pair of aligned dimensions differs and
/// neither is 1.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = dim_from_right(a, n - 1 - i);
        let db = dim_from_right(b, n - 1 - i);
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Dimension `k` counted from the right (0 = last), 1 when the shape is shorter.
fn dim_from_right(shape: &[usize], k: usize) -> usize {
    if k < shape.len() {
        shape[shape.len() - 1 - k]
    } else {
        1
    }
}

/// `data` (row-major, shape `from`) repeated to shape `to`, or `None` when `from` does not
/// broadcast to exactly `to`. Leading dimensions of `from` beyond the rank of `to` must be 1.
pub(crate) fn expand<T: Copy>(data: &[T], from: &[usize], to: &[usize]) -> Option<Vec<T>> {
    if data.len() != from.iter().product::<usize>() {
        return None;
    }
    let n = to.len();
    if from.len() > n && from[..from.len() - n].iter().any(|d| *d != 1) {
        return None;
    }
    // Stride (in `data`) of every axis of `to`; 0 where `from` is 1 or absent.
    let mut strides = vec![0usize; n];
    let mut stride = 1usize;
    for k in 0..n {
        let axis = n - 1 - k;
        let df = dim_from_right(from, k);
        if df == to[axis] {
            strides[axis] = if df == 1 { 0 } else { stride };
        } else if df != 1 {
            return None;
        }
        stride *= df;
    }
    let total: usize = to.iter().product();
    if total == 0 {
        return Some(Vec::new());
    }
    if from == to {
        return Some(data.to_vec());
    }
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; n];
    let mut offset = 0usize;
    for _ in 0..total {
        out.push(*data.get(offset)?);
        // Odometer increment from the last axis.
        for axis in (0..n).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < to[axis] {
                break;
            }
            offset -= strides[axis] * index[axis];
            index[axis] = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_like_numpy() {
        assert_eq!(broadcast_shape(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shape(&[1], &[]), Some(vec![1]));
        assert_eq!(broadcast_shape(&[2, 3], &[2]), None);
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
