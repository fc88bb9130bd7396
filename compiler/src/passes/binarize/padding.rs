//! The padding value of binary convolutions.
//!
//! The IR's Conv pads with zeros. A ±1 input packed into bits has no zero: a packed kernel pads
//! with a bit, i.e. with +1 (bit 0) or −1 (bit 1). `binarize` makes the padding value explicit
//! (`pad=-1|+1|0`) and keeps the IR exact for each choice:
//! - `pad=±1`: the accumulator gets an integer correction per output position,
//!   `corr_p[m, o] = p · Σ_{taps t of o that fall into the padding} Σ_ci w[m, ci, t]`, so that
//!   `conv_zero(x) + corr_p = conv_padded_with_p(x)`; a packed kernel padding with the matching
//!   bit needs no correction at all.
//! - `pad=0` (the float model's own zero padding): the IR conv is unchanged, and a packed kernel,
//!   which pads with +1, must subtract `corr_{+1}` per position.

use snnc_ir::op::Conv;
use snnc_ir::{DType, Tensor};

/// `corr_p` of a convolution with ±1 weights `w` (`[M, C/groups, k...]`) over an input of
/// spatial shape `in_spatial`, shaped `[M, out...]` (i32), or `None` when no tap of any output
/// position falls into the padding (or `p = 0`).
pub(crate) fn correction(
    c: &Conv,
    w: &Tensor,
    in_spatial: &[usize],
    out_spatial: &[usize],
    p: i64,
) -> Result<Option<Tensor>, String> {
    let wv = w
        .as_i64()
        .ok_or_else(|| "the weights are not binary".to_string())?;
    let s = in_spatial.len();
    let shape = w.shape();
    if !(1..=2).contains(&s) || shape.len() != s + 2 || out_spatial.len() != s {
        return Err(format!("weights {shape:?} do not fit a {s}-D convolution"));
    }
    if p == 0 || c.pads.iter().all(|x| *x == 0) {
        return Ok(None);
    }
    // As 2-D: a 1-D convolution has height 1.
    let two = s == 2;
    let pick = |v: &[usize], one: usize| if two { [v[0], v[1]] } else { [one, v[0]] };
    let [h, wd] = pick(in_spatial, 1);
    let [kh, kw] = pick(&shape[2..], 1);
    let [oh, ow] = pick(out_spatial, 1);
    let stride = pick(&c.stride, 1);
    let dil = pick(&c.dilation, 1);
    let pad = pick(&c.pads[..s], 0);
    let (m_out, cpg) = (shape[0], shape[1]);
    let taps = kh * kw;
    let mut corr = Vec::with_capacity(m_out * oh * ow);
    let mut any = false;
    for m in 0..m_out {
        // Σ over input channels of the weights at each tap.
        let mut colsum = vec![0i64; taps];
        for ci in 0..cpg {
            for (t, cs) in colsum.iter_mut().enumerate() {
                *cs += wv
                    .get((m * cpg + ci) * taps + t)
                    .copied()
                    .ok_or_else(|| "weights shorter than their shape".to_string())?;
            }
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let mut sum = 0i64;
                for ky in 0..kh {
                    let iny = inside(oy, ky, stride[0], dil[0], pad[0], h);
                    for kx in 0..kw {
                        let inx = inside(ox, kx, stride[1], dil[1], pad[1], wd);
                        if !(iny && inx) {
                            sum += colsum[ky * kw + kx];
                            any = true;
                        }
                    }
                }
                corr.push(p * sum);
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let mut out_shape = vec![m_out];
    out_shape.extend_from_slice(out_spatial);
    Tensor::from_i64(DType::I32, out_shape, corr)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Whether tap `k` of output `o` reads inside the input (the IR Conv's index rule).
fn inside(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    len: usize,
) -> bool {
    (o * stride + k * dilation)
        .checked_sub(pad_begin)
        .is_some_and(|i| i < len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::conv::eval;

    fn conv(pad: usize) -> Conv {
        Conv {
            stride: vec![1, 1],
            pads: vec![pad; 4],
            dilation: vec![1, 1],
            groups: 1,
        }
    }

    /// A ±1 pattern from a seed.
    fn pm(n: usize, seed: u64) -> Vec<i64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (s >> 40) & 1 == 1 {
                    1
                } else {
                    -1
                }
            })
            .collect()
    }

    #[test]
    fn correction_equals_explicit_padding() {
        // x: [1, 2, 3, 3] of ±1, w: [2, 2, 3, 3], pad 1. Padding x explicitly with p and
        // convolving without padding must equal the zero-padded conv plus corr_p.
        let x = pm(18, 1);
        let w = pm(36, 2);
        let xt = Tensor::from_i64(DType::Bin, vec![1, 2, 3, 3], x.clone()).unwrap();
        let wt = Tensor::from_i64(DType::Bin, vec![2, 2, 3, 3], w).unwrap();
        let zero = eval(&conv(1), &[&xt, &wt]).unwrap();
        for p in [-1i64, 1] {
            let mut padded = vec![p; 2 * 5 * 5];
            for c in 0..2 {
                for y in 0..3 {
                    for xx in 0..3 {
                        padded[c * 25 + (y + 1) * 5 + xx + 1] = x[c * 9 + y * 3 + xx];
                    }
                }
            }
            let pt = Tensor::from_i64(DType::I32, vec![1, 2, 5, 5], padded).unwrap();
            let want = eval(&conv(0), &[&pt, &wt]).unwrap();
            let corr = correction(&conv(1), &wt, &[3, 3], &[3, 3], p)
                .unwrap()
                .unwrap();
            assert_eq!(corr.shape(), &[2, 3, 3]);
            let got: Vec<i64> = zero
                .as_i64()
                .unwrap()
                .iter()
                .zip(corr.as_i64().unwrap())
                .map(|(a, b)| a + b)
                .collect();
            assert_eq!(got, want.as_i64().unwrap(), "p = {p}");
            // The centre position has no padded tap.
            assert_eq!(corr.as_i64().unwrap()[4], 0);
        }
        assert!(correction(&conv(1), &wt, &[3, 3], &[3, 3], 0)
            .unwrap()
            .is_none());
        assert!(correction(&conv(0), &wt, &[3, 3], &[1, 1], 1)
            .unwrap()
            .is_none());
    }

    /// `x` `[C, H, W]` padded explicitly with `p`: `pads` = [top, left, bottom, right].
    fn pad_explicit(x: &[i64], c: usize, h: usize, w: usize, pads: [usize; 4], p: i64) -> Vec<i64> {
        let (ph, pw) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
        let mut out = vec![p; c * ph * pw];
        for ci in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    out[ci * ph * pw + (y + pads[0]) * pw + xx + pads[1]] =
                        x[ci * h * w + y * w + xx];
                }
            }
        }
        out
    }

    #[test]
    fn correction_with_stride_dilation_and_asymmetric_pads() {
        let (c, h, w) = (2usize, 6usize, 5usize);
        let x = pm(c * h * w, 7);
        let wv = pm(3 * c * 9, 8);
        let xt = Tensor::from_i64(DType::Bin, vec![1, c, h, w], x.clone()).unwrap();
        let wt = Tensor::from_i64(DType::Bin, vec![3, c, 3, 3], wv).unwrap();
        let pads = [2usize, 0, 1, 2];
        let padded_conv = Conv {
            stride: vec![2, 1],
            pads: pads.to_vec(),
            dilation: vec![1, 2],
            groups: 1,
        };
        let plain = Conv {
            pads: vec![0; 4],
            ..padded_conv.clone()
        };
        let zero = eval(&padded_conv, &[&xt, &wt]).unwrap();
        let out_spatial = zero.shape()[2..].to_vec();
        for p in [-1i64, 1] {
            let px = pad_explicit(&x, c, h, w, pads, p);
            let (ph, pw) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
            let pt = Tensor::from_i64(DType::I32, vec![1, c, ph, pw], px).unwrap();
            let want = eval(&plain, &[&pt, &wt]).unwrap();
            let corr = correction(&padded_conv, &wt, &[h, w], &out_spatial, p)
                .unwrap()
                .unwrap();
            let got: Vec<i64> = zero
                .as_i64()
                .unwrap()
                .iter()
                .zip(corr.as_i64().unwrap())
                .map(|(a, b)| a + b)
                .collect();
            assert_eq!(got, want.as_i64().unwrap(), "p = {p}");
        }
    }

    #[test]
    fn correction_of_a_1d_convolution() {
        let x = pm(2 * 7, 3);
        let xt = Tensor::from_i64(DType::Bin, vec![2, 7], x.clone()).unwrap();
        let wt = Tensor::from_i64(DType::Bin, vec![2, 2, 3], pm(12, 4)).unwrap();
        let c1 = Conv {
            stride: vec![1],
            pads: vec![1, 1],
            dilation: vec![1],
            groups: 1,
        };
        let zero = eval(&c1, &[&xt, &wt]).unwrap();
        let mut px = vec![-1i64; 2 * 9];
        for ci in 0..2 {
            px[ci * 9 + 1..ci * 9 + 8].copy_from_slice(&x[ci * 7..ci * 7 + 7]);
        }
        let pt = Tensor::from_i64(DType::I32, vec![2, 9], px).unwrap();
        let plain = Conv {
            pads: vec![0, 0],
            ..c1.clone()
        };
        let want = eval(&plain, &[&pt, &wt]).unwrap();
        let corr = correction(&c1, &wt, &[7], &[7], -1).unwrap().unwrap();
        assert_eq!(corr.shape(), &[2, 7]);
        let got: Vec<i64> = zero
            .as_i64()
            .unwrap()
            .iter()
            .zip(corr.as_i64().unwrap())
            .map(|(a, b)| a + b)
            .collect();
        assert_eq!(got, want.as_i64().unwrap());
    }
}
