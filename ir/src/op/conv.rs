//! Convolution (1-D and 2-D).

use crate::infer::{accum_dtype_with_bias, fmt_shape};
use crate::interp::num::{arg, f32_data, i64_data, type_of, wrapped_tensor, Acc};
use crate::{IrError, Tensor, TensorType};

/// ONNX Conv attributes with every default made explicit. The spatial rank `s` is the weight's
/// rank minus 2; `stride` and `dilation` have `s` entries, `pads` has `2·s` (all begins, then all
/// ends, as ONNX orders them).
#[derive(Clone, PartialEq, Debug)]
pub struct Conv {
    pub stride: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilation: Vec<usize>,
    pub groups: usize,
}

/// Output length of one spatial axis of a sliding window:
/// `floor((len + pad_begin + pad_end − dilation·(k−1) − 1) / stride) + 1`, or `None` when the
/// (dilated) window does not fit into the padded input even once.
pub fn window_out_len(
    len: usize,
    k: usize,
    stride: usize,
    pad_begin: usize,
    pad_end: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = len.checked_add(pad_begin)?.checked_add(pad_end)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

/// The checked geometry of a convolution, shared by inference and evaluation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConvGeom {
    /// Whether `x` has a leading batch dimension.
    pub batched: bool,
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub in_spatial: Vec<usize>,
    pub kernel: Vec<usize>,
    pub out_spatial: Vec<usize>,
}

impl ConvGeom {
    pub(crate) fn new(c: &Conv, x: &[usize], w: &[usize]) -> Result<Self, String> {
        let s = w
            .len()
            .checked_sub(2)
            .filter(|s| *s == 1 || *s == 2)
            .ok_or_else(|| {
                format!(
                "input 1 (weight) has shape {}, expected [M, C/groups, k] or [M, C/groups, kh, kw]",
                fmt_shape(w)
            )
            })?;
        let batched = if x.len() == s + 2 {
            true
        } else if x.len() == s + 1 {
            false
        } else {
            return Err(format!(
                "input 0 has shape {}, expected rank {} (N, C, ...) or {} (C, ...) for a {s}-D kernel",
                fmt_shape(x),
                s + 2,
                s + 1
            ));
        };
        if c.stride.len() != s || c.dilation.len() != s || c.pads.len() != 2 * s {
            return Err(format!(
                "attributes stride {:?}, dilation {:?}, pads {:?} do not fit a {s}-D kernel",
                c.stride, c.dilation, c.pads
            ));
        }
        if c.stride.contains(&0) || c.dilation.contains(&0) {
            return Err("stride and dilation must be at least 1".into());
        }
        let off = usize::from(batched);
        let n = if batched { x[0] } else { 1 };
        let c_in = x[off];
        let c_out = w[0];
        if c.groups == 0 || c_out % c.groups != 0 {
            return Err(format!(
                "groups = {} does not divide the {c_out} output channels",
                c.groups
            ));
        }
        if w[1].checked_mul(c.groups) != Some(c_in) {
            return Err(format!(
                "input 0 has {c_in} channels but weight {} with groups = {} expects {}",
                fmt_shape(w),
                c.groups,
                w[1].saturating_mul(c.groups)
            ));
        }
        let in_spatial = x[off + 1..].to_vec();
        let kernel = w[2..].to_vec();
        let mut out_spatial = Vec::with_capacity(s);
        for i in 0..s {
            let o = window_out_len(
                in_spatial[i],
                kernel[i],
                c.stride[i],
                c.pads[i],
                c.pads[s + i],
                c.dilation[i],
            )
            .ok_or_else(|| {
                format!(
                    "kernel {} (dilation {:?}) is larger than the padded input {}",
                    fmt_shape(&kernel),
                    c.dilation,
                    fmt_shape(x)
                )
            })?;
            out_spatial.push(o);
        }
        Ok(ConvGeom {
            batched,
            n,
            c_in,
            c_out,
            in_spatial,
            kernel,
            out_spatial,
        })
    }

    pub(crate) fn out_shape(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.out_spatial.len() + 2);
        if self.batched {
            s.push(self.n);
        }
        s.push(self.c_out);
        s.extend_from_slice(&self.out_spatial);
        s
    }
}

/// Output type of [`Conv`]: `x` is `[N, C, ...]` or `[C, ...]`, `w` is `[M, C/groups, k...]`
/// with 1 or 2 spatial axes, `bias` is `[M]`. Integer inputs give an exact integer result
/// ([`crate::infer::accum_dtype`]); any float input makes it `f32`.
pub fn infer(
    c: &Conv,
    x: &TensorType,
    w: &TensorType,
    bias: Option<&TensorType>,
) -> Result<TensorType, String> {
    let g = ConvGeom::new(c, &x.shape, &w.shape)?;
    if let Some(b) = bias {
        if b.shape != [g.c_out] {
            return Err(format!(
                "input 2 (bias) has shape {}, expected [{}]",
                fmt_shape(&b.shape),
                g.c_out
            ));
        }
    }
    let dtype = accum_dtype_with_bias(&[x.dtype, w.dtype], bias.map(|b| b.dtype));
    Ok(TensorType::new(dtype, g.out_shape()))
}

/// Reference convolution (ONNX Conv; 1-D runs as 2-D with height 1). For each output element
/// the products are accumulated from 0 over input channel (of the group), kernel row, kernel
/// column, in increasing order, skipping padded positions; then the bias is added. Float inputs
/// compute in f32; integer inputs exactly (wrapping i64), wrapped to the output dtype.
pub fn eval(c: &Conv, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let (x, w) = (arg(inputs, 0)?, arg(inputs, 1)?);
    let bias = inputs.get(2).copied();
    let out =
        infer(c, &type_of(x), &type_of(w), bias.map(type_of).as_ref()).map_err(IrError::Tensor)?;
    let g = ConvGeom::new(c, x.shape(), w.shape()).map_err(IrError::Tensor)?;
    let p = Plane2d::new(c, &g);
    if out.dtype.is_int() {
        let b = bias.map(i64_data).transpose()?;
        let y = conv2d(&p, c.groups, i64_data(x)?, i64_data(w)?, b);
        return wrapped_tensor(out.dtype, out.shape, y);
    }
    let b = bias.map(f32_data);
    let y = conv2d(&p, c.groups, &f32_data(x), &f32_data(w), b.as_deref());
    Tensor::from_f32(out.shape, y)
}

/// A convolution's geometry as 2-D (a 1-D one has height 1 and a 1-row kernel).
struct Plane2d {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
}

impl Plane2d {
    fn new(c: &Conv, g: &ConvGeom) -> Self {
        let two = g.kernel.len() == 2;
        // Per-axis attribute as [height, width]; a 1-D conv gets `one` for the height.
        let pick = |v: &[usize], one: usize| if two { [v[0], v[1]] } else { [one, v[0]] };
        let s = g.kernel.len();
        let (h, w) = if two {
            (g.in_spatial[0], g.in_spatial[1])
        } else {
            (1, g.in_spatial[0])
        };
        let (kh, kw) = if two {
            (g.kernel[0], g.kernel[1])
        } else {
            (1, g.kernel[0])
        };
        let (oh, ow) = if two {
            (g.out_spatial[0], g.out_spatial[1])
        } else {
            (1, g.out_spatial[0])
        };
        Plane2d {
            n: g.n,
            c_in: g.c_in,
            c_out: g.c_out,
            h,
            w,
            kh,
            kw,
            oh,
            ow,
            stride: pick(&c.stride, 1),
            pad: pick(&c.pads[..s], 0),
            dil: pick(&c.dilation, 1),
        }
    }
}

/// The direct convolution loop; see [`eval`] for the accumulation order.
fn conv2d<T: Acc>(p: &Plane2d, groups: usize, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let cpg = p.c_in / groups;
    let mpg = p.c_out / groups;
    let mut y = Vec::with_capacity(p.n * p.c_out * p.oh * p.ow);
    for n in 0..p.n {
        for m in 0..p.c_out {
            let grp = m / mpg;
            let w_m = &w[m * cpg * p.kh * p.kw..(m + 1) * cpg * p.kh * p.kw];
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let mut acc = T::ZERO;
                    for ci in 0..cpg {
                        let c = grp * cpg + ci;
                        let x_c =
                            &x[(n * p.c_in + c) * p.h * p.w..(n * p.c_in + c + 1) * p.h * p.w];
                        let w_c = &w_m[ci * p.kh * p.kw..(ci + 1) * p.kh * p.kw];
                        for ky in 0..p.kh {
                            let Some(iy) = tap(oy, ky, p.stride[0], p.dil[0], p.pad[0], p.h) else {
                                continue;
                            };
                            for kx in 0..p.kw {
                                let Some(ix) = tap(ox, kx, p.stride[1], p.dil[1], p.pad[1], p.w)
                                else {
                                    continue;
                                };
                                acc = acc.mac(x_c[iy * p.w + ix], w_c[ky * p.kw + kx]);
                            }
                        }
                    }
                    if let Some(b) = bias {
                        acc = acc.plus(b[m]);
                    }
                    y.push(acc);
                }
            }
        }
    }
    y
}

/// The input index window tap `k` of output `o` reads, or `None` inside the padding.
#[inline]
pub(crate) fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad_begin)
        .filter(|i| *i < len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn conv(stride: usize, pad: usize, dilation: usize, groups: usize, s: usize) -> Conv {
        Conv {
            stride: vec![stride; s],
            pads: vec![pad; 2 * s],
            dilation: vec![dilation; s],
            groups,
        }
    }

    #[test]
    fn output_length_formula() {
        assert_eq!(window_out_len(5, 3, 1, 0, 0, 1), Some(3));
        assert_eq!(window_out_len(5, 3, 2, 1, 1, 1), Some(3));
        assert_eq!(window_out_len(7, 3, 1, 0, 0, 2), Some(3));
        assert_eq!(window_out_len(2, 3, 1, 0, 0, 1), None);
    }

    #[test]
    fn conv2d_shapes() {
        let x = TensorType::f32(vec![1, 4, 8, 8]);
        let w = TensorType::f32(vec![6, 2, 3, 3]);
        let b = TensorType::f32(vec![6]);
        let y = infer(&conv(2, 1, 1, 2, 2), &x, &w, Some(&b)).unwrap();
        assert_eq!(y.shape, vec![1, 6, 4, 4]);
        // No batch dimension (NIR).
        let x3 = TensorType::f32(vec![4, 8, 8]);
        let y = infer(&conv(1, 0, 1, 2, 2), &x3, &w, None).unwrap();
        assert_eq!(y.shape, vec![6, 6, 6]);
        // Channel mismatch.
        let e = infer(&conv(1, 0, 1, 1, 2), &x, &w, None).unwrap_err();
        assert_eq!(
            e,
            "input 0 has 4 channels but weight [6,2,3,3] with groups = 1 expects 2"
        );
        // Groups must divide M.
        assert!(infer(
            &conv(1, 0, 1, 4, 2),
            &x,
            &TensorType::f32(vec![6, 1, 3, 3]),
            None
        )
        .is_err());
        // Bias length.
        let e = infer(
            &conv(1, 0, 1, 2, 2),
            &x,
            &w,
            Some(&TensorType::f32(vec![4])),
        )
        .unwrap_err();
        assert_eq!(e, "input 2 (bias) has shape [4], expected [6]");
    }

    #[test]
    fn conv1d_and_integer() {
        let x = TensorType::new(DType::I8, vec![1, 2, 10]);
        let w = TensorType::new(DType::I8, vec![3, 2, 3]);
        let y = infer(&conv(1, 0, 2, 1, 1), &x, &w, None).unwrap();
        assert_eq!(y, TensorType::new(DType::I32, vec![1, 3, 6]));
        let e = infer(&conv(1, 0, 1, 1, 2), &x, &w, None).unwrap_err();
        assert!(e.contains("do not fit a 1-D kernel"));
        assert!(infer(
            &conv(1, 0, 1, 1, 1),
            &TensorType::f32(vec![2, 10, 1, 1]),
            &w,
            None
        )
        .is_err());
    }

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn conv2d_values_plain_and_padded_strided() {
        let x = f(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        let w = f(&[1, 1, 2, 2], &[1., 0., 0., 1.]);
        let y = eval(&conv(1, 0, 1, 1, 2), &[&x, &w]).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.as_f32().unwrap(), &[6., 8., 12., 14.]);
        // pad 1, stride 2: windows start at -1 and 1 on both axes.
        let b = f(&[1], &[0.5]);
        let y = eval(&conv(2, 1, 1, 1, 2), &[&x, &w, &b]).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.as_f32().unwrap(), &[1.5, 3.5, 7.5, 14.5]);
    }

    #[test]
    fn conv1d_groups_without_batch_and_dilation() {
        let x = f(&[2, 3], &[1., 2., 3., 10., 20., 30.]);
        let w = f(&[2, 1, 2], &[1., 1., 1., -1.]);
        let y = eval(&conv(1, 0, 1, 2, 1), &[&x, &w]).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_f32().unwrap(), &[3., 5., -10., -10.]);
        let x = f(&[1, 1, 5], &[1., 2., 3., 4., 5.]);
        let w = f(&[1, 1, 2], &[1., 1.]);
        let y = eval(&conv(1, 0, 2, 1, 1), &[&x, &w]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[4., 6., 8.]);
    }

    #[test]
    fn conv_two_input_channels_two_outputs() {
        // x: channels [1,2] and [3,4] (1-D, length 2); kernel size 1.
        let x = f(&[1, 2, 2], &[1., 2., 3., 4.]);
        let w = f(&[2, 2, 1], &[1., 10., -1., 1.]);
        let y = eval(&conv(1, 0, 1, 1, 1), &[&x, &w]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[31., 42., 2., 2.]);
    }

    #[test]
    fn conv_integer_exact() {
        let x = Tensor::from_i64(DType::I8, vec![1, 1, 3], vec![-128, 127, 1]).unwrap();
        let w = Tensor::from_i64(DType::I8, vec![1, 1, 2], vec![-128, 2]).unwrap();
        let b = Tensor::from_i64(DType::I32, vec![1], vec![1000]).unwrap();
        let y = eval(&conv(1, 0, 1, 1, 1), &[&x, &w, &b]).unwrap();
        // An int32 bias does not widen the int8 × int8 accumulator.
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(
            y.as_i64().unwrap(),
            &[16384 + 254 + 1000, -16256 + 2 + 1000]
        );
        let y = eval(&conv(1, 0, 1, 1, 1), &[&x, &w]).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.as_i64().unwrap(), &[16638, -16254]);
    }
}
