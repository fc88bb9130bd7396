//! The inputs of binarized layers: integer forms of quantized values, and ±1 signs.
//!
//! - [`int_form`] finds a value the model already quantized — a QONNX `BipolarQuant` or `Quant`
//!   activation, a `DequantizeLinear` of an integer tensor, an integer or ±1 tensor — and gives
//!   the integer tensor plus the scale that makes it the float value, exactly.
//! - [`sign_of`] makes `x ≥ 0 ? +1 : −1` as a ±1 tensor: folded into an integer threshold on the
//!   accumulator that `x` comes from when there is one ([`super::threshold`]), else computed
//!   from the float value.
//! - [`act_sign`] binarizes a float activation: the sign of the pre-activation, in place of the
//!   activation function and its quantizer (sign∘ReLU would be +1 everywhere).

use snnc_ir::op::{BinThreshold, Clip, PoolKind, QuantizeLinear, RoundingMode};
use snnc_ir::types::int_range;
use snnc_ir::{DType, Graph, NodeId, Op, Tensor, TensorType};

use super::graph_util::{const_value, uniform_f32};
use super::state::{IntVal, State};
use super::threshold::{fold, Epilogue, FoldError};
use crate::passes::PassError;

/// The smallest positive f32: `round(x / 2^-149)` has the sign of `x` and is 0 only for ±0, so
/// a QuantizeLinear with this scale followed by `x ≥ 0` is BipolarQuant's sign of a float.
const SIGN_SCALE: f32 = f32::from_bits(1);

/// The integer form of `v`, when the model already quantized it.
pub(crate) fn int_form(st: &mut State<'_>, v: NodeId) -> Result<Option<IntVal>, PassError> {
    if let Some(iv) = st.int_vals.get(&v) {
        return Ok(Some(*iv));
    }
    let found = find_int_form(st, v)?;
    if let Some(iv) = found {
        st.int_vals.insert(v, iv);
    }
    Ok(found)
}

fn find_int_form(st: &mut State<'_>, v: NodeId) -> Result<Option<IntVal>, PassError> {
    let ty = st.g.node(v).ty.clone();
    if let Some(iv) = ty.as_ref().and_then(|t| typed_int(v, t)) {
        return Ok(Some(iv));
    }
    let ops: Vec<NodeId> = st.g.operands(v).into_iter().map(|(s, _)| s).collect();
    let op = small_op(st.g, v);
    let pass = st.pass;
    match (op, ops.as_slice()) {
        (Some(Op::BipolarQuant), [x, s]) if !is_const(st.g, *x) => {
            let Some(scale) = positive_scalar(st.g, *s, pass)? else {
                return Ok(None);
            };
            let b = sign_of(st, *x)?;
            Ok(Some(IntVal {
                node: b,
                scale,
                lo: -1,
                hi: 1,
                binary: true,
            }))
        }
        (Some(Op::Quant(q)), [x, s, z, bits]) if !is_const(st.g, *x) => {
            if q.rounding != RoundingMode::HalfEven {
                return Ok(None);
            }
            let (Some(scale), Some(zero), Some(bits)) = (
                positive_scalar(st.g, *s, pass)?,
                scalar(st.g, *z, pass)?,
                scalar(st.g, *bits, pass)?,
            ) else {
                return Ok(None);
            };
            let bits_ok = bits.fract() == 0.0 && (2.0..=16.0).contains(&bits);
            if zero != 0.0 || !(bits_ok || (bits == 1.0 && !q.signed)) {
                return Ok(None);
            }
            let (lo, hi) = int_range(bits as u8, q.signed, q.narrow);
            quantize(st, v, *x, scale, lo, hi).map(Some)
        }
        (Some(Op::DequantizeLinear(_)), [x, s, rest @ ..]) => {
            let Some(xt) = st.g.node(*x).ty.clone() else {
                return Ok(None);
            };
            let zero_ok = match rest {
                [] => true,
                [z] => const_value(st.g, *z, pass)?
                    .is_some_and(|t| t.to_f32_vec().iter().all(|v| *v == 0.0)),
                _ => false,
            };
            let Some(scale) = positive_scalar(st.g, *s, pass)? else {
                return Ok(None);
            };
            let Some((lo, hi)) = xt.dtype.int_range() else {
                return Ok(None);
            };
            if !zero_ok || xt.dtype == DType::Bin {
                return Ok(None);
            }
            let (lo, hi) = clip_bounds(st.g, *x).unwrap_or((lo, hi));
            Ok(Some(IntVal {
                node: *x,
                scale,
                lo,
                hi,
                binary: false,
            }))
        }
        (Some(Op::Mul), [a, b]) => {
            // An integer or ±1 tensor times a positive scalar (how a kept layer reads a scaled
            // ±1 activation).
            let (x, k) = if is_const(st.g, *b) {
                (*a, *b)
            } else {
                (*b, *a)
            };
            let inner = st.g.node(x).ty.as_ref().and_then(|t| typed_int(x, t));
            match (inner, positive_scalar(st.g, k, pass)?) {
                (Some(iv), Some(s)) if is_const(st.g, k) => Ok(Some(IntVal {
                    scale: iv.scale * s,
                    ..iv
                })),
                _ => Ok(None),
            }
        }
        (Some(op @ (Op::Flatten(_) | Op::Reshape(_))), [x]) => reapply(st, v, op, *x, false),
        (Some(op @ Op::Pool(_)), [x]) => reapply(st, v, op, *x, true),
        _ => Ok(None),
    }
}

/// The op of `v` unless it is a constant (whose tensor need not be copied).
fn small_op(g: &Graph, v: NodeId) -> Option<Op> {
    match &g.node(v).op {
        Op::Const(_) => None,
        op => Some(op.clone()),
    }
}

fn is_const(g: &Graph, v: NodeId) -> bool {
    matches!(g.node(v).op, Op::Const(_))
}

/// An integer or ±1 value read as it is (a per-tensor zero point of 0 and its scale when the
/// type carries quantization).
fn typed_int(v: NodeId, t: &TensorType) -> Option<IntVal> {
    let (lo, hi) = t.dtype.int_range()?;
    let binary = t.dtype == DType::Bin;
    match &t.quant {
        None => Some(IntVal {
            node: v,
            scale: 1.0,
            lo,
            hi,
            binary,
        }),
        Some(q) if q.axis.is_none() && q.zero_point.iter().all(|z| *z == 0) => {
            let scale = *q.scale.first()?;
            let (qlo, qhi) = q.range();
            (scale > 0.0 && scale.is_finite()).then_some(IntVal {
                node: v,
                scale,
                lo: qlo.max(lo),
                hi: qhi.min(hi),
                binary,
            })
        }
        Some(_) => None,
    }
}

/// The value of a constant-derived node holding one value.
fn scalar(g: &Graph, id: NodeId, pass: &str) -> Result<Option<f32>, PassError> {
    Ok(const_value(g, id, pass)?.as_ref().and_then(uniform_f32))
}

fn positive_scalar(g: &Graph, id: NodeId, pass: &str) -> Result<Option<f32>, PassError> {
    Ok(scalar(g, id, pass)?.filter(|s| s.is_finite() && *s > 0.0))
}

/// Bounds of an integer Clip node.
fn clip_bounds(g: &Graph, x: NodeId) -> Option<(i64, i64)> {
    match &g.node(x).op {
        Op::Clip(Clip {
            min: Some(lo),
            max: Some(hi),
        }) => Some((lo.ceil() as i64, hi.floor() as i64)),
        _ => None,
    }
}

/// QONNX `Quant(x)` with zero point 0 and round-half-even as integers: `QuantizeLinear` (the
/// same f32 division and rounding; clamping before or after rounding agree for integer bounds)
/// into the narrowest integer type holding `[lo, hi]`, clipped when the range is narrower.
fn quantize(
    st: &mut State<'_>,
    v: NodeId,
    x: NodeId,
    scale: f32,
    lo: i64,
    hi: i64,
) -> Result<IntVal, PassError> {
    let dtype = [DType::U8, DType::I8, DType::U16, DType::I16, DType::I32]
        .into_iter()
        .find(|d| d.int_range().is_some_and(|(a, b)| a <= lo && hi <= b))
        .ok_or_else(|| st.not_applicable(v, format!("range [{lo}, {hi}] is too wide")))?;
    let base = st.name(v);
    let s = st.constant(&format!("{base}.scale"), Tensor::scalar_f32(scale));
    let zp = st.constant(&format!("{base}.zero_point"), Tensor::zeros(dtype, vec![]));
    let rank = st.g.node(x).ty.as_ref().map_or(1, |t| t.rank());
    let mut q = st.add(
        &format!("{base}.int"),
        Op::QuantizeLinear(QuantizeLinear {
            axis: usize::from(rank > 1),
            out: dtype,
        }),
        &[x, s, zp],
    )?;
    if dtype.int_range() != Some((lo, hi)) {
        q = st.add(
            &format!("{base}.clip"),
            Op::Clip(Clip {
                min: Some(lo as f64),
                max: Some(hi as f64),
            }),
            &[q],
        )?;
    }
    Ok(IntVal {
        node: q,
        scale,
        lo,
        hi,
        binary: false,
    })
}

/// A shape op (or a max pool, which commutes with a positive scale) applied to the integer
/// form of its input.
fn reapply(
    st: &mut State<'_>,
    v: NodeId,
    op: Op,
    x: NodeId,
    pool: bool,
) -> Result<Option<IntVal>, PassError> {
    if pool && !matches!(&op, Op::Pool(p) if p.kind == PoolKind::Max) {
        return Ok(None);
    }
    let Some(inner) = int_form(st, x)? else {
        return Ok(None);
    };
    let base = format!("{}.int", st.name(v));
    let node = st.add(&base, op, &[inner.node])?;
    Ok(Some(IntVal { node, ..inner }))
}

/// The node whose value an elementwise epilogue op reads (the others must be constants), for
/// ops that are monotone in that input: multiply or add a constant, BatchNorm, ReLU, clip.
fn epilogue_input(g: &Graph, id: NodeId) -> Option<NodeId> {
    let ops = g.operands(id);
    if ops.iter().any(|(_, e)| e.recurrent) {
        return None;
    }
    let konst = |i: usize| ops.get(i).is_some_and(|(s, _)| is_const(g, *s));
    match (&g.node(id).op, ops.as_slice()) {
        (Op::Mul | Op::Add, [(a, _), (b, _)]) => match (konst(0), konst(1)) {
            (false, true) => Some(*a),
            (true, false) => Some(*b),
            _ => None,
        },
        (Op::BatchNorm(_), [(x, _), ..]) if (1..5).all(konst) => Some(*x),
        (Op::Relu | Op::Clip(_), [(x, _)]) => Some(*x),
        _ => None,
    }
}

/// `x ≥ 0 ? +1 : −1` as a ±1 node (BipolarQuant's sign; NaN gives −1).
pub(crate) fn sign_of(st: &mut State<'_>, x: NodeId) -> Result<NodeId, PassError> {
    if let Some(b) = st.signs.get(&x) {
        return Ok(*b);
    }
    let mut path = Vec::new();
    let mut cur = x;
    let acc = loop {
        if st.accs.contains_key(&cur) {
            break Some(cur);
        }
        match epilogue_input(st.g, cur) {
            Some(prev) => {
                path.push(cur);
                cur = prev;
            }
            None => break None,
        }
    };
    path.reverse();
    let b = match acc {
        Some(acc) => fold_sign(st, x, acc, &path)?,
        None => float_sign(st, x)?,
    };
    st.signs.insert(x, b);
    Ok(b)
}

/// Fold the epilogue `path` of accumulator `acc` and the sign of its end `x` into a
/// BinThreshold.
fn fold_sign(
    st: &mut State<'_>,
    x: NodeId,
    acc: NodeId,
    path: &[NodeId],
) -> Result<NodeId, PassError> {
    let Some(info) = st.accs.get(&acc).cloned() else {
        return float_sign(st, x);
    };
    let epilogue = Epilogue {
        graph: st.g,
        acc,
        path,
        axis: info.axis,
        ranges: &info.ranges,
    };
    let t = match fold(&epilogue, st.pass) {
        Ok(t) => t,
        Err(FoldError::Pass(e)) => return Err(e),
        Err(FoldError::NotMonotone(m)) => {
            return Err(st.not_applicable(
                x,
                format!(
                    "the sign after layer `{}` cannot fold into one threshold per channel: {m}",
                    info.layer
                ),
            ))
        }
        Err(FoldError::NotPerChannel(m)) => {
            st.notes.push(format!(
                "`{}`: the sign stays on the float value (not foldable: {m})",
                info.layer
            ));
            return float_sign(st, x);
        }
    };
    let c = t.threshold.len();
    let what: Vec<String> = path
        .iter()
        .map(|p| st.g.node(*p).op.name().to_string())
        .collect();
    st.notes.push(format!(
        "`{}`: {} + sign folded into {c} integer threshold(s) ({} flipped, {} constant, {})",
        info.layer,
        if what.is_empty() {
            "nothing".to_string()
        } else {
            what.join(" + ")
        },
        t.flipped(),
        t.constant,
        if t.exhaustive {
            "every accumulator value checked"
        } else {
            "bisected"
        }
    ));
    st.stats.folded_channels += c;
    let thr =
        Tensor::from_i64(DType::I64, vec![c], t.threshold).map_err(|e| st.err(x, e.to_string()))?;
    let flip =
        Tensor::from_i64(DType::I64, vec![c], t.flip).map_err(|e| st.err(x, e.to_string()))?;
    let base = format!("{}.sign", info.layer);
    st.add(
        &base,
        Op::BinThreshold(BinThreshold {
            threshold: thr,
            flip,
            axis: info.axis,
        }),
        &[acc],
    )
}

/// The sign of a value with no accumulator to fold into: `x ≥ 0` on integers; on floats
/// through QuantizeLinear with the smallest positive scale (see [`SIGN_SCALE`]).
fn float_sign(st: &mut State<'_>, x: NodeId) -> Result<NodeId, PassError> {
    let ty =
        st.g.node(x)
            .ty
            .clone()
            .ok_or_else(|| st.err(x, "has no type"))?;
    let base = st.name(x);
    let mut src = x;
    if ty.dtype.is_float() {
        let s = st.constant(
            &format!("{base}.sign_scale"),
            Tensor::scalar_f32(SIGN_SCALE),
        );
        src = st.add(
            &format!("{base}.sign_int"),
            Op::QuantizeLinear(QuantizeLinear {
                axis: 0,
                out: DType::I8,
            }),
            &[x, s],
        )?;
        st.stats.float_signs += 1;
    }
    let zero =
        Tensor::from_i64(DType::I64, vec![], vec![0]).map_err(|e| st.err(x, e.to_string()))?;
    st.add(
        &format!("{base}.sign"),
        Op::BinThreshold(BinThreshold {
            threshold: zero.clone(),
            flip: zero,
            axis: 0,
        }),
        &[src],
    )
}

/// A float activation binarized: the sign of its pre-activation. Activation functions and
/// activation quantizers in front of `v` (ReLU, clip, Quant, QuantizeLinear/DequantizeLinear)
/// are replaced by the sign; flatten, reshape and max pooling (which commute with the sign) are
/// applied again to the ±1 tensor.
pub(crate) fn act_sign(st: &mut State<'_>, v: NodeId) -> Result<IntVal, PassError> {
    let mut shape_ops = Vec::new();
    let mut cur = v;
    loop {
        let first = st.g.operand(cur, 0);
        let next = match (&st.g.node(cur).op, first) {
            (Op::Relu | Op::Clip(_), Some(x)) => x,
            (Op::Quant(_) | Op::QuantizeLinear(_) | Op::DequantizeLinear(_), Some(x))
                if !is_const(st.g, x) =>
            {
                x
            }
            (Op::Flatten(_) | Op::Reshape(_), Some(x)) => {
                shape_ops.push(cur);
                x
            }
            (Op::Pool(p), Some(x)) if p.kind == PoolKind::Max => {
                shape_ops.push(cur);
                x
            }
            _ => break,
        };
        cur = next;
    }
    let mut b = sign_of(st, cur)?;
    for id in shape_ops.iter().rev() {
        let op = st.g.node(*id).op.clone();
        let base = format!("{}.bin", st.name(*id));
        b = st.add(&base, op, &[b])?;
    }
    Ok(IntVal {
        node: b,
        scale: 1.0,
        lo: -1,
        hi: 1,
        binary: true,
    })
}
