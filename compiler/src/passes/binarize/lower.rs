//! Lowering one layer — a Gemm or Conv with constant weights — to its binary form.
//!
//! Per layer the pass decides whether the weights become ±1 and whether the input is an integer
//! or ±1 tensor (see the module docs of [`super`] for the policy), then writes one of:
//! - an integer layer: `acc = Gemm/Conv(x_int, W_bin)` (exact, i32), `y = acc · S + bias` with
//!   `S[c] = scale(x) · scale(W)[c]`; a sign after `y` later folds into a threshold on `acc`;
//! - a float layer with ±1 weights: `y = Gemm/Conv(x, W_bin) · α + bias`;
//! - a float layer reading a ±1 input (the last layer kept in higher precision).

use snnc_ir::op::{Conv, Gemm, Reshape};
use snnc_ir::{DType, Graph, NodeId, Op, Tensor};

use super::graph_util::const_value;
use super::inputs::{act_sign, int_form};
use super::options::LayerPolicy;
use super::padding::correction;
use super::state::{Accumulator, IntVal, State};
use super::weights::{binarize, source, BinWeights, WeightSource};
use crate::passes::PassError;

/// The op of a layer.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Gemm(Gemm),
    Conv(Conv),
}

/// A Gemm or Conv whose weights are constant.
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub id: NodeId,
    pub name: String,
    pub kind: Kind,
    pub x: NodeId,
    pub w: NodeId,
    pub bias: Option<NodeId>,
    pub src: WeightSource,
}

impl Layer {
    /// The axis of the weight tensor that indexes output channels.
    fn weight_axis(&self) -> usize {
        match &self.kind {
            Kind::Gemm(g) if !g.trans_b => 1,
            _ => 0,
        }
    }

    fn op(&self) -> Op {
        match &self.kind {
            Kind::Gemm(g) => Op::Gemm(g.clone()),
            Kind::Conv(c) => Op::Conv(c.clone()),
        }
    }
}

/// Every Gemm and Conv with constant weights, in topological order.
pub(crate) fn find_layers(g: &Graph, pass: &str) -> Result<Vec<Layer>, PassError> {
    let order = g.topo_order().map_err(|e| PassError::ir(pass, e))?;
    let mut layers = Vec::new();
    for id in order {
        let node = g.node(id);
        let kind = match &node.op {
            Op::Gemm(x) => Kind::Gemm(x.clone()),
            Op::Conv(x) => Kind::Conv(x.clone()),
            _ => continue,
        };
        let ops: Vec<NodeId> = g.operands(id).into_iter().map(|(s, _)| s).collect();
        let (Some(&x), Some(&w)) = (ops.first(), ops.get(1)) else {
            continue;
        };
        if let Some(src) = source(g, w, pass)? {
            layers.push(Layer {
                id,
                name: node.name.clone(),
                kind,
                x,
                w,
                bias: ops.get(2).copied(),
                src,
            });
        }
    }
    Ok(layers)
}

/// Rewrite layer `l` by the policy; `first`/`last` say where it lies. Returns whether it
/// changed.
pub(crate) fn lower(
    st: &mut State<'_>,
    l: &Layer,
    first: bool,
    last: bool,
) -> Result<bool, PassError> {
    if st
        .g
        .node(l.id)
        .ty
        .as_ref()
        .is_some_and(|t| t.dtype.is_int())
    {
        st.notes
            .push(format!("`{}`: unchanged, already an integer layer", l.name));
        return Ok(false);
    }
    let o = st.opts;
    let keep_first = first && o.first == LayerPolicy::Keep;
    let keep_last = last && o.last == LayerPolicy::Keep;
    let candidate = match binarize(&l.src, l.weight_axis()) {
        Ok(b) => Some(b),
        Err(m) => {
            st.notes
                .push(format!("`{}`: weights stay as they are ({m})", l.name));
            None
        }
    };
    let model_binary = candidate.as_ref().is_some_and(|b| b.exact);
    let bw = candidate.filter(|_| {
        if model_binary {
            !keep_last
        } else {
            o.weights && !keep_first && !keep_last
        }
    });
    let x_int = int_form(st, l.x)?;
    let xin = match x_int {
        Some(iv) if iv.binary => Some(iv),
        _ if o.acts && !first => Some(act_sign(st, l.x)?),
        Some(iv) if bw.is_some() => Some(iv),
        _ => None,
    };
    match (bw, xin) {
        (Some(bw), Some(xin)) if integer_path_ok(l) => {
            integer_layer(st, l, &bw, xin)?;
            st.stats.integer_layers += 1;
            Ok(true)
        }
        (Some(bw), xin) => {
            float_layer(st, l, Some(&bw), xin)?;
            st.stats.float_layers_changed += 1;
            Ok(true)
        }
        (None, Some(xin)) if xin.binary && !reads_binary(st.g, l.x, xin.node) => {
            float_layer(st, l, None, Some(xin))?;
            st.stats.float_layers_changed += 1;
            Ok(true)
        }
        _ => {
            let why = if keep_first || keep_last {
                "kept in higher precision (first/last layer policy)"
            } else {
                "nothing to binarize with these options"
            };
            st.notes.push(format!("`{}`: unchanged, {why}", l.name));
            Ok(false)
        }
    }
}

/// Whether `x` already is the ±1 tensor `b`, or `b` times a scale.
fn reads_binary(g: &Graph, x: NodeId, b: NodeId) -> bool {
    x == b || (matches!(g.node(x).op, Op::Mul) && g.operands(x).iter().any(|(s, _)| *s == b))
}

/// An exact integer product needs an untransposed A and no alpha.
fn integer_path_ok(l: &Layer) -> bool {
    match &l.kind {
        Kind::Gemm(g) => !g.trans_a && g.alpha == 1.0,
        Kind::Conv(_) => true,
    }
}

/// `acc = Gemm/Conv(x_int, W_bin)`, `y = acc · S + bias`, and `y` replaces the layer.
fn integer_layer(
    st: &mut State<'_>,
    l: &Layer,
    bw: &BinWeights,
    xin: IntVal,
) -> Result<(), PassError> {
    let name = l.name.clone();
    let op = match &l.kind {
        Kind::Gemm(g) => Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: g.trans_b,
        }),
        Kind::Conv(c) => Op::Conv(c.clone()),
    };
    let w = st.constant(&format!("{name}.weight_bin"), bw.tensor.clone());
    let mut acc = st.add(&format!("{name}.acc"), op, &[xin.node, w])?;
    let acc_shape =
        st.g.node(acc)
            .ty
            .as_ref()
            .map(|t| t.shape.clone())
            .unwrap_or_default();
    let spatial = match &l.kind {
        Kind::Gemm(_) => 0,
        Kind::Conv(_) => bw.tensor.rank().saturating_sub(2),
    };
    let axis = acc_shape.len().saturating_sub(1 + spatial);
    let padded = matches!(&l.kind, Kind::Conv(c) if c.pads.iter().any(|p| *p > 0));
    let mut pad_note = String::new();
    if let (Kind::Conv(c), true, true) = (&l.kind, padded, xin.binary) {
        let in_spatial =
            st.g.node(xin.node)
                .ty
                .as_ref()
                .map(|t| t.shape[t.rank().saturating_sub(spatial)..].to_vec())
                .unwrap_or_default();
        let out_spatial = acc_shape[acc_shape.len().saturating_sub(spatial)..].to_vec();
        let corr = correction(c, &bw.tensor, &in_spatial, &out_spatial, st.opts.pad)
            .map_err(|m| st.err(l.id, m))?;
        pad_note = match (st.opts.pad, corr) {
            (0, _) => ", pads with 0 (a bit-packed kernel must subtract the +1-padding correction)"
                .to_string(),
            (p, Some(corr)) => {
                let k = st.constant(&format!("{name}.pad_correction"), corr);
                acc = st.add(&format!("{name}.acc_padded"), Op::Add, &[acc, k])?;
                format!(", pads with {p:+} (per-position correction added)")
            }
            (p, None) => format!(", pads with {p:+} (no output position reads padding)"),
        };
    }
    let ranges = accumulator_ranges(st, l, bw, xin, padded)?;
    st.accs.insert(
        acc,
        Accumulator {
            layer: name.clone(),
            axis,
            ranges,
        },
    );
    let scale: Vec<f32> = bw.scale.iter().map(|s| xin.scale * s).collect();
    let y = scale_and_bias(st, l, acc, &scale)?;
    st.g.replace_uses(l.id, y);
    let dtype = st.g.node(acc).ty.as_ref().map_or(DType::I32, |t| t.dtype);
    st.notes.push(format!(
        "`{name}`: {} input × ±1 weights ({}) → {dtype} accumulator, rescaled by {} per-channel \
         factor(s){pad_note}",
        if xin.binary {
            "±1".to_string()
        } else {
            format!("integer [{}, {}]", xin.lo, xin.hi)
        },
        if bw.exact {
            "the model's own"
        } else {
            "sign, scale mean|W|"
        },
        scale.len(),
    ));
    Ok(())
}

/// Per output channel, the range of the accumulator: `[−K, K]` for a ±1 input; for an integer
/// input in `[lo, hi]`, `[P·lo − N·hi, P·hi − N·lo]` with `P`/`N` the channel's +1/−1 weight
/// counts (zero padding widens `[lo, hi]` to include 0).
fn accumulator_ranges(
    st: &State<'_>,
    l: &Layer,
    bw: &BinWeights,
    xin: IntVal,
    padded: bool,
) -> Result<Vec<(i64, i64)>, PassError> {
    let (lo, hi) = if xin.binary {
        (-1, 1)
    } else if padded {
        (xin.lo.min(0), xin.hi.max(0))
    } else {
        (xin.lo, xin.hi)
    };
    bw.plus
        .iter()
        .zip(&bw.minus)
        .map(|(p, n)| {
            if xin.binary {
                return Ok((-(p + n), p + n));
            }
            let a = p.checked_mul(lo).zip(n.checked_mul(hi));
            let b = p.checked_mul(hi).zip(n.checked_mul(lo));
            match (a, b) {
                (Some((pl, nh)), Some((ph, nl))) => Ok((pl - nh, ph - nl)),
                _ => Err(st.not_applicable(l.id, "the accumulator range overflows i64")),
            }
        })
        .collect()
}

/// `y = x · scale[c] + bias` in f32, per output channel (the layer's bias, times Gemm's beta).
fn scale_and_bias(
    st: &mut State<'_>,
    l: &Layer,
    x: NodeId,
    scale: &[f32],
) -> Result<NodeId, PassError> {
    let name = l.name.clone();
    let c = scale.len();
    let channel_shape = |spatial: usize| {
        let mut s = vec![c];
        s.extend(std::iter::repeat_n(1, spatial));
        s
    };
    // A Conv output is [N, C, ...] or [C, ...]: per-channel values broadcast as [C, 1...].
    let spatial = match (&l.kind, st.g.node(l.w).ty.as_ref()) {
        (Kind::Conv(_), Some(wt)) => wt.rank().saturating_sub(2),
        _ => 0,
    };
    let s = Tensor::from_f32(channel_shape(spatial), scale.to_vec())
        .map_err(|e| st.err(l.id, e.to_string()))?;
    let s = st.constant(&format!("{name}.scale_factor"), s);
    let mut y = st.add(&format!("{name}.scaled"), Op::Mul, &[x, s])?;
    let Some(b) = l.bias else {
        return Ok(y);
    };
    let beta = match &l.kind {
        Kind::Gemm(g) => g.beta,
        Kind::Conv(_) => 1.0,
    };
    let bias = match const_value(st.g, b, st.pass)? {
        Some(t) => {
            let v: Vec<f32> = t.to_f32_vec().iter().map(|x| beta * x).collect();
            let shape = match &l.kind {
                Kind::Gemm(_) => t.shape().to_vec(),
                Kind::Conv(_) => channel_shape(spatial),
            };
            let t = Tensor::from_f32(shape, v).map_err(|e| st.err(l.id, e.to_string()))?;
            st.constant(&format!("{name}.bias"), t)
        }
        None => {
            let mut src = b;
            if let Kind::Conv(_) = &l.kind {
                src = st.add(
                    &format!("{name}.bias_channels"),
                    Op::Reshape(Reshape {
                        shape: channel_shape(spatial),
                    }),
                    &[src],
                )?;
            }
            if beta != 1.0 {
                let k = st.constant(&format!("{name}.beta"), Tensor::scalar_f32(beta));
                src = st.add(&format!("{name}.bias_scaled"), Op::Mul, &[src, k])?;
            }
            src
        }
    };
    y = st.add(&format!("{name}.biased"), Op::Add, &[y, bias])?;
    Ok(y)
}

/// A float layer with ±1 weights (`bw`) and/or a ±1 input (`xin`).
fn float_layer(
    st: &mut State<'_>,
    l: &Layer,
    bw: Option<&BinWeights>,
    xin: Option<IntVal>,
) -> Result<(), PassError> {
    let name = l.name.clone();
    let x = match xin {
        Some(iv) if iv.binary && iv.scale == 1.0 => iv.node,
        Some(iv) if iv.binary => {
            let k = st.constant(&format!("{name}.input_scale"), Tensor::scalar_f32(iv.scale));
            st.add(&format!("{name}.input"), Op::Mul, &[iv.node, k])?
        }
        _ => l.x,
    };
    let binary_input = x != l.x;
    let y = match bw {
        Some(bw) => {
            let w = st.constant(&format!("{name}.weight_bin"), bw.tensor.clone());
            let core = st.add(&format!("{name}.bin"), l.op(), &[x, w])?;
            scale_and_bias(st, l, core, &bw.scale)?
        }
        None => {
            let mut ops = vec![x, l.w];
            ops.extend(l.bias);
            st.add(&format!("{name}.bin_input"), l.op(), &ops)?
        }
    };
    st.g.replace_uses(l.id, y);
    st.notes.push(format!(
        "`{name}`: float arithmetic with {} weights and {} input",
        if bw.is_some() {
            "±1 (sign, scale mean|W|)"
        } else {
            "its own"
        },
        if binary_input { "a ±1" } else { "its float" },
    ));
    Ok(())
}
