//! Pooling.

use crate::infer::fmt_shape;
use crate::op::conv::window_out_len;
use crate::{DType, TensorType};

/// What a pooling window computes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PoolKind {
    Max,
    /// Mean over the window; see [`Pool::count_include_pad`].
    Avg,
    /// Sum over the window (NIR SumPool2d).
    Sum,
}

/// Pooling over the trailing `kernel.len()` dimensions. `pads` has `2·s` entries (begins, then
/// ends); padded positions never win a max and add 0 to a sum.
#[derive(Clone, PartialEq, Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilation: Vec<usize>,
    /// Output size rounds up instead of down (ONNX `ceil_mode`).
    pub ceil_mode: bool,
    /// Avg only: divide by the full window size even where it overlaps padding.
    pub count_include_pad: bool,
}

/// Output length of one pooled axis. With `ceil_mode` the division rounds up, but a window that
/// would start in the end padding is dropped (ONNX opset 19+, PyTorch).
fn pool_out_len(p: &Pool, i: usize, len: usize) -> Option<usize> {
    let s = p.kernel.len();
    let (k, st, d) = (p.kernel[i], p.stride[i], p.dilation[i]);
    let (pb, pe) = (p.pads[i], p.pads[s + i]);
    let floor = window_out_len(len, k, st, pb, pe, d)?;
    if !p.ceil_mode {
        return Some(floor);
    }
    let span = d * (k - 1) + 1;
    let rem = (len + pb + pe - span) % st;
    let mut out = if rem == 0 { floor } else { floor + 1 };
    if (out - 1) * st >= len + pb {
        out -= 1;
    }
    Some(out)
}

/// The output shape of `p` over an input of shape `x` (checked).
pub(crate) fn out_shape(p: &Pool, x: &[usize]) -> Result<Vec<usize>, String> {
    let s = p.kernel.len();
    if s == 0 || x.len() < s {
        return Err(format!(
            "input 0 has shape {}, too few dimensions for a {s}-D pooling window",
            fmt_shape(x)
        ));
    }
    if p.stride.len() != s || p.dilation.len() != s || p.pads.len() != 2 * s {
        return Err(format!(
            "attributes kernel {:?}, stride {:?}, dilation {:?}, pads {:?} have inconsistent lengths",
            p.kernel, p.stride, p.dilation, p.pads
        ));
    }
    if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err("kernel, stride and dilation must be at least 1".into());
    }
    let lead = x.len() - s;
    let mut out = x[..lead].to_vec();
    for i in 0..s {
        let o = pool_out_len(p, i, x[lead + i]).ok_or_else(|| {
            format!(
                "window {:?} (dilation {:?}) is larger than the padded input {}",
                p.kernel,
                p.dilation,
                fmt_shape(x)
            )
        })?;
        out.push(o);
    }
    Ok(out)
}

/// Output type of [`Pool`]: the leading dimensions stay, the trailing `kernel.len()` shrink.
/// Max keeps the input type; Avg is `f32`; Sum is `f32` for float input and an exact integer
/// sum ([`crate::infer::accum_dtype`]) for integer input.
pub fn infer(p: &Pool, x: &TensorType) -> Result<TensorType, String> {
    let shape = out_shape(p, &x.shape)?;
    Ok(match p.kind {
        PoolKind::Max => TensorType { shape, ..x.clone() },
        PoolKind::Avg => TensorType::new(DType::F32, shape),
        PoolKind::Sum => TensorType::new(crate::infer::accum_dtype(&[x.dtype]), shape),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kind: PoolKind, k: usize, stride: usize, pad: usize, ceil_mode: bool) -> Pool {
        Pool {
            kind,
            kernel: vec![k, k],
            stride: vec![stride, stride],
            pads: vec![pad; 4],
            dilation: vec![1, 1],
            ceil_mode,
            count_include_pad: false,
        }
    }

    #[test]
    fn pool_shapes() {
        let x = TensorType::new(DType::I8, vec![1, 3, 5, 5]);
        let y = infer(&pool(PoolKind::Max, 2, 2, 0, false), &x).unwrap();
        assert_eq!(y, TensorType::new(DType::I8, vec![1, 3, 2, 2]));
        let y = infer(&pool(PoolKind::Max, 2, 2, 0, true), &x).unwrap();
        assert_eq!(y.shape, vec![1, 3, 3, 3]);
        let y = infer(&pool(PoolKind::Avg, 3, 2, 1, false), &x).unwrap();
        assert_eq!(y, TensorType::f32(vec![1, 3, 3, 3]));
        let y = infer(&pool(PoolKind::Sum, 2, 1, 0, false), &x).unwrap();
        assert_eq!(y, TensorType::new(DType::I32, vec![1, 3, 4, 4]));
        assert!(infer(
            &pool(PoolKind::Max, 2, 2, 0, false),
            &TensorType::f32(vec![4])
        )
        .is_err());
        assert!(infer(&pool(PoolKind::Max, 6, 1, 0, false), &x).is_err());
    }

    #[test]
    fn ceil_mode_drops_window_starting_in_end_padding() {
        // len 4, k 2, stride 2, pads 1/1: ceil((4+2-2)/2)+1 = 3, and the last window starts at
        // 4 < 4 + 1, so 3 stays.
        let x = TensorType::f32(vec![1, 1, 4, 4]);
        let y = infer(&pool(PoolKind::Max, 2, 2, 1, true), &x).unwrap();
        assert_eq!(y.shape, vec![1, 1, 3, 3]);
        // len 5, k 2, stride 3, pad 1/1: ceil((5+2-2)/3)+1 = 3; window 2 starts at 6 >= 5+1.
        let p = Pool {
            stride: vec![3, 3],
            ..pool(PoolKind::Max, 2, 3, 1, true)
        };
        let y = infer(&p, &TensorType::f32(vec![1, 1, 5, 5])).unwrap();
        assert_eq!(y.shape, vec![1, 1, 2, 2]);
    }
}
