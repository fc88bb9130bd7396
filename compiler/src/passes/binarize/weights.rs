//! A layer's weights as ±1 values with one scale per output channel.
//!
//! Three sources: a QONNX `BipolarQuant(W, s)` (exact: `±s` by the sign of `W`), a constant
//! that already holds `±s_c` in every output channel (exact, e.g. a BNN whose weight quantizer a
//! canonicalization pass folded away), and float weights (approximate: `sign(W)` with the scale
//! `mean|W_c|` of XNOR-Net). The sign follows BipolarQuant: `W ≥ 0` gives +1.

use snnc_ir::{DType, Graph, NodeId, Op, Tensor};

use super::graph_util::{broadcast_index, const_value, AxisIndex};
use crate::passes::PassError;

/// Where a layer's weights come from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WeightSource {
    /// QONNX `BipolarQuant(w, s)` over constants: the model's own binary weights.
    Bipolar { w: Tensor, s: Tensor },
    /// Constant values (float, or integer dequantized by the constant's quantization).
    Values(Tensor),
}

/// Binary weights: `real weight = tensor · scale[channel]` (exactly when `exact`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BinWeights {
    /// The ±1 values in the weight's own layout, dtype [`DType::Bin`].
    pub tensor: Tensor,
    /// One positive scale per output channel.
    pub scale: Vec<f32>,
    /// Per output channel, the number of +1 and of −1 values.
    pub plus: Vec<i64>,
    pub minus: Vec<i64>,
    /// The binary weights times the scales are the layer's weights exactly.
    pub exact: bool,
}

/// The weights feeding `w` (a layer's weight operand), or `None` when they are not constant.
pub(crate) fn source(g: &Graph, w: NodeId, pass: &str) -> Result<Option<WeightSource>, PassError> {
    if let Op::BipolarQuant = g.node(w).op {
        let ops = g.operands(w);
        if let [(x, _), (s, _)] = ops.as_slice() {
            if let (Some(wt), Some(st)) = (const_value(g, *x, pass)?, const_value(g, *s, pass)?) {
                return Ok(Some(WeightSource::Bipolar { w: wt, s: st }));
            }
        }
        return Ok(None);
    }
    let Some(t) = const_value(g, w, pass)? else {
        return Ok(None);
    };
    if t.dtype().is_float() {
        return Ok(Some(WeightSource::Values(t)));
    }
    // An integer constant: its real values through the quantization its type states.
    let ints = t.as_i64().unwrap_or_default();
    let (scale, zp) = match &g.node(w).ty.as_ref().and_then(|ty| ty.quant.clone()) {
        Some(q) if q.axis.is_none() && q.scale.len() == 1 && q.zero_point.len() == 1 => {
            (q.scale[0], q.zero_point[0])
        }
        Some(_) => return Ok(None),
        None => (1.0, 0),
    };
    let real = ints.iter().map(|v| (v - zp) as f32 * scale).collect();
    Ok(Tensor::from_f32(t.shape().to_vec(), real)
        .ok()
        .map(WeightSource::Values))
}

/// Binary weights of `src` with output channels along `axis` of the weight tensor.
pub(crate) fn binarize(src: &WeightSource, axis: usize) -> Result<BinWeights, String> {
    match src {
        WeightSource::Bipolar { w, s } => from_bipolar(w, s, axis),
        WeightSource::Values(w) => from_values(w, axis),
    }
}

/// `BipolarQuant(w, s)` as ±1 and a per-channel scale. The scale must be nonzero and constant
/// over each output channel (per-tensor or per-output-channel); a negative scale flips signs.
fn from_bipolar(w: &Tensor, s: &Tensor, axis: usize) -> Result<BinWeights, String> {
    let map = broadcast_index(s.shape(), w.shape()).ok_or_else(|| {
        format!(
            "the weight scale of shape {:?} does not broadcast to the weights {:?}",
            s.shape(),
            w.shape()
        )
    })?;
    let ax = AxisIndex::new(w.shape(), axis);
    let (wv, sv) = (w.to_f32_vec(), s.to_f32_vec());
    let mut scale: Vec<Option<f32>> = vec![None; ax.len];
    let mut values = Vec::with_capacity(wv.len());
    for (i, (x, m)) in wv.iter().zip(&map).enumerate() {
        let sc = sv.get(*m).copied().unwrap_or(0.0);
        if sc == 0.0 || !sc.is_finite() {
            return Err(format!(
                "the weight scale {sc} is not a finite nonzero number"
            ));
        }
        let c = ax.of(i);
        match scale[c] {
            None => scale[c] = Some(sc.abs()),
            Some(prev) if prev.to_bits() == sc.abs().to_bits() => {}
            Some(prev) => {
                return Err(format!(
                    "the weight scale varies inside output channel {c} ({prev} and {}): only \
                     per-tensor and per-output-channel scales fold into the accumulator",
                    sc.abs()
                ))
            }
        }
        let positive = (*x >= 0.0) == (sc > 0.0);
        values.push(if positive { 1 } else { -1 });
    }
    let scale = scale.into_iter().map(|s| s.unwrap_or(1.0)).collect();
    finish(w.shape(), values, scale, axis, true)
}

/// Float weights as `sign(w)` with scale `mean|w|` per channel; exact when every channel
/// already holds `±s_c` with one nonzero `s_c`.
fn from_values(w: &Tensor, axis: usize) -> Result<BinWeights, String> {
    let ax = AxisIndex::new(w.shape(), axis);
    let wv = w.to_f32_vec();
    let mut sum = vec![0f64; ax.len];
    let mut count = vec![0usize; ax.len];
    let mut magnitude: Vec<Option<f32>> = vec![None; ax.len];
    let mut uniform = vec![true; ax.len];
    for (i, x) in wv.iter().enumerate() {
        let c = ax.of(i);
        sum[c] += f64::from(x.abs());
        count[c] += 1;
        match magnitude[c] {
            None => magnitude[c] = Some(x.abs()),
            Some(m) if m.to_bits() == x.abs().to_bits() => {}
            Some(_) => uniform[c] = false,
        }
    }
    let exact = (0..ax.len).all(|c| uniform[c] && magnitude[c].is_some_and(|m| m > 0.0));
    let scale = (0..ax.len)
        .map(|c| match (exact, magnitude[c]) {
            (true, Some(m)) => m,
            _ => (sum[c] / count[c].max(1) as f64) as f32,
        })
        .collect();
    let values = wv.iter().map(|x| if *x >= 0.0 { 1 } else { -1 }).collect();
    finish(w.shape(), values, scale, axis, exact)
}

fn finish(
    shape: &[usize],
    values: Vec<i64>,
    scale: Vec<f32>,
    axis: usize,
    exact: bool,
) -> Result<BinWeights, String> {
    let ax = AxisIndex::new(shape, axis);
    let mut plus = vec![0i64; ax.len];
    let mut minus = vec![0i64; ax.len];
    for (i, v) in values.iter().enumerate() {
        if *v > 0 {
            plus[ax.of(i)] += 1;
        } else {
            minus[ax.of(i)] += 1;
        }
    }
    let tensor = Tensor::from_i64(DType::Bin, shape.to_vec(), values).map_err(|e| e.to_string())?;
    Ok(BinWeights {
        tensor,
        scale,
        plus,
        minus,
        exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn bipolar_weights_take_the_sign_and_the_scale() {
        let w = f(&[2, 3], &[0.3, -0.1, 0.0, -2.0, 5.0, -0.0]);
        let b = binarize(
            &WeightSource::Bipolar {
                w,
                s: f(&[1], &[0.1]),
            },
            0,
        )
        .unwrap();
        assert_eq!(b.tensor.dtype(), DType::Bin);
        // Zero (and −0) map to +1 as BipolarQuant does.
        assert_eq!(b.tensor.as_i64().unwrap(), &[1, -1, 1, -1, 1, 1]);
        assert_eq!(b.scale, vec![0.1, 0.1]);
        assert_eq!((b.plus.clone(), b.minus.clone()), (vec![2, 2], vec![1, 1]));
        assert!(b.exact);
    }

    #[test]
    fn per_channel_and_negative_bipolar_scales() {
        // Output channels along axis 1 (a Gemm without trans_b): scales [2, -3] per column.
        let w = f(&[2, 2], &[1.0, 1.0, -1.0, -1.0]);
        let b = binarize(
            &WeightSource::Bipolar {
                w: w.clone(),
                s: f(&[2], &[2.0, -3.0]),
            },
            1,
        )
        .unwrap();
        assert_eq!(b.tensor.as_i64().unwrap(), &[1, -1, -1, 1]);
        assert_eq!(b.scale, vec![2.0, 3.0]);
        // A scale that varies along the reduction axis cannot fold.
        let e = binarize(
            &WeightSource::Bipolar {
                w,
                s: f(&[2], &[2.0, 3.0]),
            },
            0,
        )
        .unwrap_err();
        assert!(e.contains("varies inside output channel 0"), "{e}");
    }

    #[test]
    fn float_weights_use_mean_magnitude() {
        let w = f(&[2, 2], &[0.5, -1.5, 0.25, 0.25]);
        let b = binarize(&WeightSource::Values(w), 0).unwrap();
        assert_eq!(b.tensor.as_i64().unwrap(), &[1, -1, 1, 1]);
        assert_eq!(b.scale, vec![1.0, 0.25]);
        assert!(!b.exact);
        // Already ±s per channel: exact.
        let w = f(&[2, 2], &[0.1, -0.1, -0.2, -0.2]);
        let b = binarize(&WeightSource::Values(w), 0).unwrap();
        assert!(b.exact);
        assert_eq!(b.scale, vec![0.1, 0.2]);
    }
}
