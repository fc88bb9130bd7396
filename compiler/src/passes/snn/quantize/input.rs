//! The analog input of the first layer(s): its integer encoding (a QuantizeLinear inserted
//! after the graph input) and the calibration-based bias correction of the layers that read it.

use snnc_ir::op::Op;
use snnc_ir::{DType, Graph, NodeId};

use super::options::Options;
use crate::passes::snn::calib::Calib;
use crate::passes::snn::synapse::Synapse;

/// How one graph input enters the integer graph.
#[derive(Clone, Debug, PartialEq)]
pub struct InputQuant {
    pub input: NodeId,
    /// The integer type of the quantized values.
    pub dtype: DType,
    /// Real value of one integer step (`x ≈ q·scale`), an f32 as QuantizeLinear stores it.
    pub scale: f32,
    /// Saturation range of the quantized values; a Clip follows the QuantizeLinear when it is
    /// narrower than the dtype's range.
    pub lo: i64,
    pub hi: i64,
    /// True for a float input (a QuantizeLinear is inserted); an integer input is used as is
    /// with scale 1.
    pub insert: bool,
    /// How the range was chosen, for the report.
    pub note: String,
}

impl InputQuant {
    /// The range a Clip after the QuantizeLinear must enforce, if the dtype's is wider.
    pub fn clip(&self) -> Option<(i64, i64)> {
        let full = self.dtype.int_range()?;
        (self.insert && full != (self.lo, self.hi)).then_some((self.lo, self.hi))
    }

    /// The largest magnitude a quantized input value can have.
    pub fn max_abs(&self) -> i64 {
        self.lo.abs().max(self.hi.abs())
    }

    /// The encoding of graph input `input`: an integer input as is; a float input quantized
    /// to `opts.input` bits over the calibration range `[min, max]` when calibration data is
    /// given, else over `[0, 1]`. A range with min ≥ 0 is unsigned (codes `[0, 2^b − 1]`,
    /// zero point 0), otherwise signed symmetric (codes `±(2^(b−1) − 1)`). The scale is
    /// `max|x|/L`: without calibration data `L` is the largest code; with it, the `L` in
    /// `[⌈code/2⌉, code]` whose quantization has the least squared error on the calibration
    /// values (see [`best_levels`]). The values are held in u8/i8 (b ≤ 8) or u16/i16; values
    /// outside the range saturate.
    pub fn new(g: &Graph, input: NodeId, opts: &Options, calib: Option<&Calib<'_>>) -> Self {
        let ty = g.ty(input);
        if let Some((lo, hi)) = ty.dtype.int_range().filter(|_| ty.dtype.is_int()) {
            return InputQuant {
                input,
                dtype: ty.dtype,
                scale: 1.0,
                lo,
                hi,
                insert: false,
                note: format!("integer input {} used as is", ty.dtype),
            };
        }
        let (min, max, origin) = match calib {
            Some(c) => {
                let (lo, hi) = c.range();
                (lo, hi, format!("calibration range [{lo}, {hi}]"))
            }
            None => (
                0.0,
                1.0,
                "assumed range [0, 1] (no calibration data)".to_string(),
            ),
        };
        let bits = opts.input;
        let (dtype, lo, hi, span) = if min >= 0.0 {
            let dtype = if bits <= 8 { DType::U8 } else { DType::U16 };
            (dtype, 0, (1i64 << bits) - 1, max)
        } else {
            // Symmetric and narrow: ±(2^(b−1) − 1).
            let dtype = if bits <= 8 { DType::I8 } else { DType::I16 };
            let q = (1i64 << (bits - 1)) - 1;
            (dtype, -q, q, max.abs().max(min.abs()))
        };
        let (scale, levels) = match calib {
            Some(c) => best_levels(&c.array.data, span, lo, hi),
            None => (span / hi as f32, hi),
        };
        let scale = if scale.is_normal() { scale } else { 1.0 };
        let origin = if levels == hi {
            origin
        } else {
            format!("{origin}, {levels} steps up to the maximum (least squared error)")
        };
        InputQuant {
            input,
            dtype,
            scale,
            lo,
            hi,
            insert: true,
            note: format!(
                "input `{}` quantized to {dtype} with scale {scale:e}, {origin}",
                g.node(input).name
            ),
        }
    }

    /// The value the integer graph sees for a real input `x`, dequantized: QuantizeLinear's
    /// `clamp(⌊x ⊘ scale⌉, lo, hi)·scale`.
    pub fn dequantized(&self, x: f32) -> f64 {
        if !self.insert {
            return f64::from(x);
        }
        let q = f64::from((x / self.scale).round_ties_even()).clamp(self.lo as f64, self.hi as f64);
        q * f64::from(self.scale)
    }
}

/// Empirical bias correction of a Gemm that reads the quantized input: for each output column
/// `n`, the mean over the calibration samples (and the rows of A) of
/// `Σ_k ŵ[n,k]·x̂[k] − w[n,k]·x[k]`, where `w` are the effective float weights, `ŵ` the
/// dequantized integer weights and `x̂` the dequantized input. Subtracting it from the bias
/// removes the systematic part of the quantization error (Nagel et al. 2019, "Data-Free
/// Quantization", with data). `None` for a Conv (not corrected) or a shape that does not fit.
pub fn bias_correction(
    syn: &Synapse,
    a_shape: &[usize],
    calib: &Calib<'_>,
    iq: &InputQuant,
    w_eff: &[f64],
    w_hat: &[f64],
) -> Option<Vec<f64>> {
    let Op::Gemm(gm) = &syn.op else {
        return None;
    };
    let wshape = syn.weight.shape();
    let (k_len, n_len) = match (wshape, gm.trans_b) {
        ([n, k], true) | ([k, n], false) => (*k, *n),
        _ => return None,
    };
    let (rows, row_major) = match (a_shape, gm.trans_a) {
        ([k], _) if *k == k_len => (1, true),
        ([m, k], false) if *k == k_len => (*m, true),
        ([k, m], true) if *k == k_len => (*m, false),
        _ => return None,
    };
    if rows * k_len != calib.per_sample {
        return None;
    }
    let mut mean_x = vec![0.0f64; k_len];
    let mut mean_xq = vec![0.0f64; k_len];
    for s in 0..calib.len() {
        let sample = calib.sample(s);
        for (i, x) in sample.iter().enumerate() {
            let k = if row_major { i % k_len } else { i / rows };
            mean_x[k] += f64::from(*x);
            mean_xq[k] += iq.dequantized(*x);
        }
    }
    let count = (calib.len() * rows) as f64;
    let at = |n: usize, k: usize| {
        if gm.trans_b {
            n * k_len + k
        } else {
            k * n_len + n
        }
    };
    let corr = (0..n_len)
        .map(|n| {
            (0..k_len)
                .map(|k| {
                    let j = at(n, k);
                    (w_hat[j] * mean_xq[k] - w_eff[j] * mean_x[k]) / count
                })
                .sum()
        })
        .collect();
    Some(corr)
}

/// The scale `span/L` with `L` in `[⌈hi/2⌉, hi]` (so at most one bit of resolution is given up)
/// whose codes `clamp(⌊x ⊘ scale⌉, lo, hi)` reproduce `values` with the least squared error,
/// the largest such `L` on ties (errors within the f32 rounding of the scale tie); returns the
/// scale and `L`. An input that only takes a few levels (images with
/// 17 grey levels) is then represented exactly when some `L` is a multiple of their count,
/// instead of being rounded onto the `2^b − 1` grid.
pub fn best_levels(values: &[f32], span: f32, lo: i64, hi: i64) -> (f32, i64) {
    // Differences below the f32 rounding of the scale do not count (k/16 is exact with L = 128
    // and off by 1e-17 with L = 240: both represent the data).
    let tol = values.len() as f64 * (f64::from(span) * 1e-7).powi(2);
    let mut best = (span / hi as f32, hi, f64::INFINITY);
    for levels in (((hi + 1) / 2).max(1)..=hi).rev() {
        let scale = span / levels as f32;
        if !scale.is_normal() {
            continue;
        }
        let err: f64 = values
            .iter()
            .map(|x| {
                let q = f64::from((x / scale).round_ties_even()).clamp(lo as f64, hi as f64);
                let d = q * f64::from(scale) - f64::from(*x);
                d * d
            })
            .sum();
        if err < best.2 - tol {
            best = (scale, levels, err);
        }
    }
    (best.0, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_that_fit_the_data_are_chosen() {
        // 17 grey levels k/16: 240 = 15·16 steps represent them exactly in 8 bits.
        let values: Vec<f32> = (0..=16).map(|k| k as f32 / 16.0).collect();
        let (scale, levels) = best_levels(&values, 1.0, 0, 255);
        assert_eq!((scale, levels), (1.0 / 240.0, 240));
        // Spread-out values keep the full code range.
        let values: Vec<f32> = (0..1000).map(|k| (k as f32 * 0.618).fract()).collect();
        assert_eq!(best_levels(&values, 1.0, 0, 255).1, 255);
        // Signed symmetric codes.
        let (_, levels) = best_levels(&[-1.0, -0.5, 0.0, 0.5, 1.0], 1.0, -127, 127);
        assert_eq!(levels % 2, 0);
    }
}
