//! Pooling.

use crate::infer::fmt_shape;
use crate::interp::num::{f32_data, type_of, wrapped_tensor};
use crate::op::conv::window_out_len;
use crate::{numel, DType, Data, IrError, Tensor, TensorType};

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

/// Reference pooling over the trailing `kernel.len()` axes (ONNX MaxPool / AveragePool, NIR
/// SumPool2d). Window elements are visited in row-major kernel order; padded positions are
/// skipped.
/// - Max: keeps the dtype; the first strictly greater element wins (a NaN never does). A window
///   lying wholly in padding yields the dtype's lowest value (f32: `f32::MIN`).
/// - Avg: f32 (integers are converted first); sum from 0 in window order, divided by the number
///   of in-input elements, or with `count_include_pad` by the number of window positions inside
///   the padded input. An empty window gives 0.
/// - Sum: f32 sum for floats; for integers an exact wrapping sum wrapped to the output dtype.
pub fn eval(p: &Pool, x: &Tensor) -> Result<Tensor, IrError> {
    let out = infer(p, &type_of(x)).map_err(IrError::Tensor)?;
    let win = Windows::new(p, x.shape(), &out.shape);
    let cap = out.numel();
    match (p.kind, x.data()) {
        (PoolKind::Max, Data::F32(v)) => {
            let mut y = Vec::with_capacity(cap);
            win.for_each(|idx, _| {
                let mut best = f32::MIN;
                for &i in idx {
                    if v[i] > best {
                        best = v[i];
                    }
                }
                y.push(best);
            });
            Tensor::from_f32(out.shape, y)
        }
        (PoolKind::Max, Data::I64(v)) => {
            let lowest = x.dtype().int_range().map_or(i64::MIN, |r| r.0);
            let mut y = Vec::with_capacity(cap);
            win.for_each(|idx, _| y.push(idx.iter().map(|&i| v[i]).fold(lowest, i64::max)));
            Tensor::from_i64(out.dtype, out.shape, y)
        }
        (PoolKind::Avg, _) => {
            let v = f32_data(x);
            let mut y = Vec::with_capacity(cap);
            win.for_each(|idx, padded| {
                let sum = idx.iter().fold(0f32, |s, &i| s + v[i]);
                let count = if p.count_include_pad {
                    padded
                } else {
                    idx.len()
                };
                y.push(if count == 0 { 0.0 } else { sum / count as f32 });
            });
            Tensor::from_f32(out.shape, y)
        }
        (PoolKind::Sum, Data::F32(v)) => {
            let mut y = Vec::with_capacity(cap);
            win.for_each(|idx, _| y.push(idx.iter().fold(0f32, |s, &i| s + v[i])));
            Tensor::from_f32(out.shape, y)
        }
        (PoolKind::Sum, Data::I64(v)) => {
            let mut y = Vec::with_capacity(cap);
            win.for_each(|idx, _| y.push(idx.iter().fold(0i64, |s, &i| s.wrapping_add(v[i]))));
            wrapped_tensor(out.dtype, out.shape, y)
        }
    }
}

/// The pooling windows of one input shape, enumerated in output order.
struct Windows {
    /// Number of independent planes (product of the leading, unpooled dimensions).
    planes: usize,
    len: Vec<usize>,
    out: Vec<usize>,
    stride: Vec<usize>,
    pad_begin: Vec<usize>,
    /// Size of the padded input along each axis.
    padded_len: Vec<usize>,
    /// Offset of every kernel tap from the window start (dilation applied), row-major.
    taps: Vec<Vec<usize>>,
}

impl Windows {
    fn new(p: &Pool, x: &[usize], out: &[usize]) -> Self {
        let s = p.kernel.len();
        let lead = x.len() - s;
        let mut taps: Vec<Vec<usize>> = vec![vec![]];
        for i in 0..s {
            taps = taps
                .into_iter()
                .flat_map(|t| {
                    (0..p.kernel[i]).map(move |k| {
                        let mut t = t.clone();
                        t.push(k * p.dilation[i]);
                        t
                    })
                })
                .collect();
        }
        Windows {
            planes: numel(&x[..lead]),
            len: x[lead..].to_vec(),
            out: out[lead..].to_vec(),
            stride: p.stride.clone(),
            pad_begin: p.pads[..s].to_vec(),
            padded_len: (0..s)
                .map(|i| x[lead + i] + p.pads[i] + p.pads[s + i])
                .collect(),
            taps,
        }
    }

    /// Call `f(valid, padded)` for every output element in row-major order: `valid` holds the
    /// flat input indices of the window's taps inside the input, `padded` counts the taps inside
    /// the padded input.
    fn for_each(&self, mut f: impl FnMut(&[usize], usize)) {
        let s = self.len.len();
        let plane_len = numel(&self.len);
        let out_len = numel(&self.out);
        let mut valid = Vec::with_capacity(self.taps.len());
        let mut o = vec![0usize; s];
        for plane in 0..self.planes {
            o.fill(0);
            for _ in 0..out_len {
                valid.clear();
                let mut padded = 0;
                for tap in &self.taps {
                    let mut flat = 0;
                    let mut inside = true;
                    let mut in_padded = true;
                    for i in 0..s {
                        let q = o[i] * self.stride[i] + tap[i];
                        in_padded &= q < self.padded_len[i];
                        match q
                            .checked_sub(self.pad_begin[i])
                            .filter(|v| *v < self.len[i])
                        {
                            Some(v) => flat = flat * self.len[i] + v,
                            None => inside = false,
                        }
                    }
                    padded += usize::from(in_padded);
                    if inside {
                        valid.push(plane * plane_len + flat);
                    }
                }
                f(&valid, padded);
                for i in (0..s).rev() {
                    o[i] += 1;
                    if o[i] < self.out[i] {
                        break;
                    }
                    o[i] = 0;
                }
            }
        }
    }
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

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    // Expected values below were checked against onnxruntime 1.32 (opset 19).
    #[test]
    fn avg_with_padding_excludes_or_includes_pad() {
        let x = f(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        let p = pool(PoolKind::Avg, 2, 1, 1, false);
        let y = eval(&p, &x).unwrap();
        assert_eq!(y.shape(), &[1, 1, 3, 3]);
        assert_eq!(
            y.as_f32().unwrap(),
            &[1., 1.5, 2., 2., 2.5, 3., 3., 3.5, 4.]
        );
        let p = Pool {
            count_include_pad: true,
            ..p
        };
        let y = eval(&p, &x).unwrap();
        assert_eq!(
            y.as_f32().unwrap(),
            &[0.25, 0.75, 0.5, 1., 2.5, 1.5, 0.75, 1.75, 1.]
        );
    }

    #[test]
    fn max_ignores_padding() {
        let x = f(&[1, 1, 2, 2], &[-1., -2., -3., -4.]);
        let y = eval(&pool(PoolKind::Max, 2, 1, 1, false), &x).unwrap();
        assert_eq!(
            y.as_f32().unwrap(),
            &[-1., -1., -2., -1., -1., -2., -3., -3., -4.]
        );
        let xi = Tensor::from_i64(DType::I8, vec![1, 2, 2], vec![-5, 3, 7, -128]).unwrap();
        let y = eval(&pool(PoolKind::Max, 2, 2, 0, false), &xi).unwrap();
        assert_eq!(y.dtype(), DType::I8);
        assert_eq!(y.as_i64().unwrap(), &[7]);
    }

    #[test]
    fn ceil_mode_partial_windows_1d() {
        let x = f(&[1, 1, 5], &[1., 2., 3., 4., 5.]);
        let p1 = |k: usize, s: usize, pad: usize, inc: bool| Pool {
            kind: PoolKind::Avg,
            kernel: vec![k],
            stride: vec![s],
            pads: vec![pad, pad],
            dilation: vec![1],
            ceil_mode: true,
            count_include_pad: inc,
        };
        assert_eq!(
            eval(&p1(2, 2, 0, false), &x).unwrap().as_f32().unwrap(),
            &[1.5, 3.5, 5.]
        );
        assert_eq!(
            eval(&p1(2, 2, 0, true), &x).unwrap().as_f32().unwrap(),
            &[1.5, 3.5, 5.]
        );
        assert_eq!(
            eval(&p1(2, 2, 1, true), &x).unwrap().as_f32().unwrap(),
            &[0.5, 2.5, 4.5]
        );
        assert_eq!(
            eval(&p1(3, 3, 1, true), &x).unwrap().as_f32().unwrap(),
            &[1., 4.]
        );
    }

    #[test]
    fn sum_pool_integer_and_float() {
        let p = Pool {
            kind: PoolKind::Sum,
            kernel: vec![2],
            stride: vec![2],
            pads: vec![0, 0],
            dilation: vec![1],
            ceil_mode: false,
            count_include_pad: false,
        };
        let xi = Tensor::from_i64(DType::I8, vec![4], vec![1, 2, 3, 127]).unwrap();
        let y = eval(&p, &xi).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.as_i64().unwrap(), &[3, 130]);
        let x = f(&[2, 2, 2], &[1., 2., 3., 4., 5., 6., 7., 8.]);
        let y = eval(&pool(PoolKind::Sum, 2, 2, 0, false), &x).unwrap();
        assert_eq!(y.shape(), &[2, 1, 1]);
        assert_eq!(y.as_f32().unwrap(), &[10., 26.]);
    }
}
