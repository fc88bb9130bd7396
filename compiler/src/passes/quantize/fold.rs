//! Quantized constants and QONNX `Quant` nodes become integer tensors with parameters.
//!
//! - `DequantizeLinear(c)` where `c` is computed from constants only (QDQ exporters quantize
//!   weights at run time: `QuantizeLinear(W) → Clip → DequantizeLinear`): `c` is evaluated once
//!   with the reference semantics and replaced by an integer constant whose type records the
//!   DequantizeLinear's scale, zero point and axis and the bit width the Clip allows (a Clip to
//!   ±127 is 8-bit narrow range). The DequantizeLinear stays for any float reader.
//! - QONNX `Quant(W, s, z, b)` of a constant: the integers `q = R(clamp(W ⊘ s ⊕ z, lo, hi))` of
//!   docs/semantics.md §2.2 become an integer constant (8 bits or fewer in `i8`/`u8`, up to 16 in
//!   `i16`/`u16`, up to 32 in `i32`/`u32`) with `QuantParams { bits, signed, narrow }`, read
//!   through a `DequantizeLinear` that reproduces the Quant's output bit for bit (checked; when it
//!   does not, the Quant stays).
//! - QONNX `Quant(x, s, 0, b)` of an activation with a per-tensor scale becomes
//!   `QuantizeLinear → [Clip] → DequantizeLinear`. With zero point 0 both compute
//!   `round_half_even(x ⊘ s)` clamped to the same integer bounds (clamping before or after
//!   rounding agrees for integer bounds), so the values are identical for every input but NaN
//!   (Quant keeps NaN, QuantizeLinear gives the lowest integer) — and the sign of a zero result.
//!   A non-zero zero point is added in f32 by Quant (`x ⊘ s ⊕ z` can round) but exactly by
//!   QuantizeLinear, so such activations stay as they are.

use std::collections::BTreeMap;

use snnc_ir::op::quant::{eval_dequantize_linear, eval_quant};
use snnc_ir::op::{Clip, DequantizeLinear, Quant, QuantizeLinear};
use snnc_ir::types::int_range;
use snnc_ir::{interp, verify, DType, Graph, NodeId, Op, QuantParams, Tensor};

use super::edit::{const_of, const_operand, scalar_f32, Editor};
use super::intval::is_plain_int;
use crate::passes::PassError;

/// What folding did, for the pass report.
#[derive(Default)]
pub struct Folded {
    pub constants: usize,
    pub activations: usize,
    pub notes: Vec<String>,
}

/// The ops a constant chain may contain.
fn foldable(op: &Op) -> bool {
    matches!(
        op,
        Op::QuantizeLinear(_) | Op::Clip(_) | Op::Reshape(_) | Op::Flatten(_)
    )
}

/// The value of `id` if it is computable from constants through [`foldable`] ops.
fn const_value(
    g: &Graph,
    id: NodeId,
    memo: &mut BTreeMap<NodeId, Option<Tensor>>,
) -> Option<Tensor> {
    if let Some(v) = memo.get(&id) {
        return v.clone();
    }
    let node = g.get(id)?;
    let v = match &node.op {
        Op::Const(t) => Some(t.clone()),
        op if foldable(op) => {
            let ins: Option<Vec<Tensor>> = g
                .operands(id)
                .into_iter()
                .map(|(src, _)| const_value(g, src, memo))
                .collect();
            ins.and_then(|ins| eval_once(op, &ins))
        }
        _ => None,
    };
    memo.insert(id, v.clone());
    v
}

/// Evaluate one stateless op on constant inputs with the reference interpreter.
fn eval_once(op: &Op, inputs: &[Tensor]) -> Option<Tensor> {
    let mut g = Graph::new("fold");
    let ids: Vec<NodeId> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_const(format!("c{i}"), t.clone()))
        .collect();
    let y = g.add_node("y", op.clone(), &ids).ok()?;
    g.add_output("out", y).ok()?;
    let info = verify(&g).ok()?;
    interp::run(&g, &info, &[]).ok()?.into_iter().next()
}

/// The narrowest `(bits, narrow)` whose QONNX range is exactly `[lo, hi]`, else the dtype's.
fn bits_for(dtype: DType, signed: bool, lo: i64, hi: i64) -> (u8, bool) {
    for bits in 1..=32u8 {
        for narrow in [false, true] {
            if int_range(bits, signed, narrow) == (lo, hi) {
                return (bits, narrow);
            }
        }
    }
    let full = match dtype {
        DType::I8 | DType::U8 => 8,
        DType::I16 | DType::U16 => 16,
        DType::I32 | DType::U32 => 32,
        _ => 64,
    };
    (full, false)
}

/// The tightest integer bounds the Clips on the chain into `id` impose.
fn chain_bounds(g: &Graph, mut id: NodeId, dtype: DType) -> (i64, i64) {
    let (mut lo, mut hi) = dtype.int_range().unwrap_or((0, 0));
    while let Some(n) = g.get(id) {
        if let Op::Clip(c) = &n.op {
            if let Some(m) = c.min {
                lo = lo.max(m.ceil() as i64);
            }
            if let Some(m) = c.max {
                hi = hi.min(m.floor() as i64);
            }
        }
        if !foldable(&n.op) {
            break;
        }
        match g.operand(id, 0) {
            Some(src) => id = src,
            None => break,
        }
    }
    (lo, hi)
}

/// The first constant on the operand-0 chain into `id` (the weight the chain quantizes).
fn chain_root(g: &Graph, mut id: NodeId) -> NodeId {
    while let Some(src) = g.operand(id, 0) {
        id = src;
    }
    id
}

/// Scale, zero point and axis of `DequantizeLinear` node `dq` over a tensor of `shape`, if its
/// parameters are constants.
fn dq_params(
    g: &Graph,
    dq: NodeId,
    shape: &[usize],
) -> Option<(Vec<f32>, Vec<i64>, Option<usize>)> {
    let Op::DequantizeLinear(d) = &g.get(dq)?.op else {
        return None;
    };
    let scale = const_operand(g, dq, 1)?.as_f32()?.to_vec();
    let zp = match g.operand(dq, 2) {
        None => vec![0; scale.len()],
        Some(_) => const_operand(g, dq, 2)?.as_i64()?.to_vec(),
    };
    let axis = if scale.len() == 1 {
        None
    } else if shape.get(d.axis) == Some(&scale.len()) {
        Some(d.axis)
    } else {
        return None;
    };
    Some((scale, zp, axis))
}

/// Turn the constant chains read by DequantizeLinear nodes into integer constants with
/// quantization parameters.
pub fn fold_dequantized_constants(ed: &mut Editor<'_>, out: &mut Folded) -> Result<(), PassError> {
    let dqs: Vec<NodeId> =
        ed.g.node_ids()
            .into_iter()
            .filter(|id| matches!(ed.g.node(*id).op, Op::DequantizeLinear(_)))
            .collect();
    let mut memo = BTreeMap::new();
    let mut done: BTreeMap<NodeId, NodeId> = BTreeMap::new();
    for dq in dqs {
        let Some(src) = ed.g.operand(dq, 0) else {
            continue;
        };
        if let Some(&folded) = done.get(&src) {
            ed.g.set_operand(dq, 0, folded);
            continue;
        }
        let Some(value) = const_value(ed.g, src, &mut memo) else {
            continue;
        };
        if !is_plain_int(value.dtype()) {
            continue;
        }
        let Some((scale, zero_point, axis)) = dq_params(ed.g, dq, value.shape()) else {
            continue;
        };
        let signed = value.dtype().int_range().is_some_and(|(lo, _)| lo < 0);
        let (lo, hi) = chain_bounds(ed.g, src, value.dtype());
        let (bits, narrow) = bits_for(value.dtype(), signed, lo, hi);
        let params = QuantParams {
            scale,
            zero_point,
            axis,
            bits,
            signed,
            narrow,
        };
        let is_const = const_of(ed.g, src).is_some();
        let target = if is_const {
            src
        } else {
            let root = chain_root(ed.g, src);
            let name = ed.take_name(root, "float");
            let id = ed.constant_named(name, value, None);
            ed.g.set_operand(dq, 0, id);
            out.constants += 1;
            id
        };
        if let Some(ty) = ed.g.node_mut(target).ty.as_mut() {
            if ty.quant.is_none() {
                ty.quant = Some(params);
            }
        }
        done.insert(src, target);
    }
    Ok(())
}

/// The integer type holding `bits` bits of the given signedness.
fn storage(bits: u8, signed: bool) -> Option<DType> {
    Some(match (bits, signed) {
        (1..=8, true) => DType::I8,
        (1..=8, false) => DType::U8,
        (9..=16, true) => DType::I16,
        (9..=16, false) => DType::U16,
        (17..=32, true) => DType::I32,
        (17..=32, false) => DType::U32,
        _ => return None,
    })
}

/// A per-tensor scale or one that varies along a single axis of `shape` (right-aligned
/// broadcasting): the scales and that axis.
fn axis_scale(scale: &Tensor, shape: &[usize]) -> Option<(Vec<f32>, Option<usize>)> {
    let v = scale.as_f32()?.to_vec();
    if v.is_empty() {
        return None;
    }
    if v.len() == 1 {
        return Some((v, None));
    }
    let offset = shape.len().checked_sub(scale.rank())?;
    let mut axis = None;
    for (k, d) in scale.shape().iter().enumerate() {
        if *d != 1 {
            if axis.is_some() || shape.get(offset + k) != Some(d) {
                return None;
            }
            axis = Some(offset + k);
        }
    }
    Some((v, axis))
}

/// Lower every QONNX `Quant` that can be (see the module docs).
pub fn lower_qonnx_quant(ed: &mut Editor<'_>, out: &mut Folded) -> Result<(), PassError> {
    let quants: Vec<NodeId> =
        ed.g.node_ids()
            .into_iter()
            .filter(|id| matches!(ed.g.node(*id).op, Op::Quant(_)))
            .collect();
    for id in quants {
        let Op::Quant(q) = ed.g.node(id).op.clone() else {
            continue;
        };
        match quant_parts(ed.g, id, &q) {
            Ok(parts) => {
                let x = ed.g.operand(id, 0);
                let is_const = x.and_then(|x| const_of(ed.g, x)).is_some();
                let done = if is_const {
                    lower_const_quant(ed, id, &q, &parts)?
                } else {
                    lower_act_quant(ed, id, &parts)?
                };
                match done {
                    Ok(()) if is_const => out.constants += 1,
                    Ok(()) => out.activations += 1,
                    Err(why) => out.notes.push(format!(
                        "`{}` (quant): kept as is: {why}",
                        ed.g.node(id).name
                    )),
                }
            }
            Err(why) => out.notes.push(format!(
                "`{}` (quant): kept as is: {why}",
                ed.g.node(id).name
            )),
        }
    }
    Ok(())
}

/// The constant parameters of a Quant node.
struct QuantParts {
    scale: Vec<f32>,
    axis: Option<usize>,
    zero_point: i64,
    bits: u8,
    dtype: DType,
    lo: i64,
    hi: i64,
}

fn quant_parts(g: &Graph, id: NodeId, q: &Quant) -> Result<QuantParts, String> {
    let x = g.operand(id, 0).ok_or("input 0 is missing")?;
    let shape = g
        .get(x)
        .and_then(|n| n.ty.as_ref())
        .map(|t| t.shape.clone());
    let shape = shape.ok_or("input 0 has no type")?;
    let scale = const_operand(g, id, 1).ok_or("the scale is not a constant")?;
    let (scale, axis) =
        axis_scale(scale, &shape).ok_or("the scale varies along more than one axis")?;
    let zp = const_operand(g, id, 2)
        .and_then(scalar_f32)
        .ok_or("the zero point is not one constant")?;
    let bits = const_operand(g, id, 3)
        .and_then(scalar_f32)
        .ok_or("the bit width is not one constant")?;
    if !(zp.fract() == 0.0 && bits.fract() == 0.0 && (1.0..=32.0).contains(&bits)) {
        return Err(format!(
            "zero point {zp} and bit width {bits} must be integers, bits in 1..=32"
        ));
    }
    let bits = bits as u8;
    if bits == 1 && q.signed {
        return Err("a signed 1-bit Quant is bipolar (left to binarization)".into());
    }
    let dtype = storage(bits, q.signed).ok_or("no integer type holds it")?;
    let (lo, hi) = int_range(bits, q.signed, q.narrow);
    let zero_point = zp as i64;
    let (dlo, dhi) = dtype.int_range().unwrap_or((0, 0));
    if zero_point < dlo || zero_point > dhi {
        return Err(format!("zero point {zero_point} does not fit {dtype}"));
    }
    Ok(QuantParts {
        scale,
        axis,
        zero_point,
        bits,
        dtype,
        lo,
        hi,
    })
}

/// `Quant(W)` of a constant: integer constant + DequantizeLinear, checked bit for bit.
fn lower_const_quant(
    ed: &mut Editor<'_>,
    id: NodeId,
    q: &Quant,
    p: &QuantParts,
) -> Result<Result<(), String>, PassError> {
    let g = &*ed.g;
    let ins: Option<Vec<Tensor>> = (0..4)
        .map(|s| g.operand(id, s).and_then(|o| const_of(g, o)).cloned())
        .collect();
    let Some(ins) = ins else {
        return Ok(Err("an input is not constant".into()));
    };
    let [w, s, z, _] = [&ins[0], &ins[1], &ins[2], &ins[3]];
    let Some(wv) = w.as_f32() else {
        return Ok(Err("the weight is not a float tensor".into()));
    };
    let zf = p.zero_point as f32;
    let ints: Vec<i64> = wv
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let c = p
                .axis
                .map_or(0, |a| super::scale::channel_of(w.shape(), a, i));
            let sc = p.scale.get(c).copied().unwrap_or(1.0);
            // docs/semantics.md §2.2, steps 1-3.
            let y = x / sc + zf;
            let y = y.clamp(p.lo as f32, p.hi as f32);
            q.rounding.apply(y) as i64
        })
        .collect();
    let Ok(wq) = Tensor::from_i64(p.dtype, w.shape().to_vec(), ints) else {
        return Ok(Err("a quantized value is out of range".into()));
    };
    let scale_t = match p.axis {
        None => Tensor::from_f32(vec![], p.scale.clone()),
        Some(_) => Tensor::from_f32(vec![p.scale.len()], p.scale.clone()),
    }
    .map_err(|e| ed.ir(e))?;
    let zp_t = Tensor::from_i64(
        p.dtype,
        scale_t.shape().to_vec(),
        vec![p.zero_point; p.scale.len()],
    )
    .map_err(|e| ed.ir(e))?;
    let dq_op = DequantizeLinear {
        axis: p.axis.unwrap_or(0),
    };
    let want = eval_quant(q, &[w, s, z, &ins[3]]).map_err(|e| ed.ir(e))?;
    let got = eval_dequantize_linear(&dq_op, &[&wq, &scale_t, &zp_t]).map_err(|e| ed.ir(e))?;
    let same = match (want.as_f32(), got.as_f32()) {
        (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
        _ => false,
    };
    if !same || want.shape() != got.shape() {
        return Ok(Err(
            "DequantizeLinear would not reproduce its output bit for bit".into(),
        ));
    }
    let root = ed.g.operand(id, 0).unwrap_or(id);
    let wname = ed.take_name(root, "float");
    let params = QuantParams {
        scale: p.scale.clone(),
        zero_point: vec![p.zero_point; p.scale.len()],
        axis: p.axis,
        bits: p.bits,
        signed: q.signed,
        narrow: q.narrow,
    };
    let wid = ed.constant_named(wname.clone(), wq, Some(params));
    let sid = ed.constant(&format!("{wname}.scale"), scale_t, None);
    let zid = ed.constant(&format!("{wname}.zero_point"), zp_t, None);
    let name = ed.take_name(id, "float");
    let dq = ed.node_named(name, Op::DequantizeLinear(dq_op), &[wid, sid, zid])?;
    ed.g.replace_uses(id, dq);
    Ok(Ok(()))
}

/// `Quant(x)` of an activation: QuantizeLinear → [Clip] → DequantizeLinear.
fn lower_act_quant(
    ed: &mut Editor<'_>,
    id: NodeId,
    p: &QuantParts,
) -> Result<Result<(), String>, PassError> {
    if p.zero_point != 0 {
        return Ok(Err(
            "a non-zero zero point is added in f32 by Quant; QuantizeLinear would not match it bit for bit"
                .into(),
        ));
    }
    if p.axis.is_some() {
        return Ok(Err("per-channel activation scales are not lowered".into()));
    }
    let Some(x) = ed.g.operand(id, 0) else {
        return Ok(Err("input 0 is missing".into()));
    };
    let name = ed.take_name(id, "float");
    let scale = ed.scalar(&format!("{name}.scale"), p.scale[0]);
    let zp = ed.scalar_int(&format!("{name}.zero_point"), p.dtype, 0)?;
    let q = ed.node(
        &format!("{name}.quantize"),
        Op::QuantizeLinear(QuantizeLinear {
            axis: 0,
            out: p.dtype,
        }),
        &[x, scale, zp],
    )?;
    let (dlo, dhi) = p.dtype.int_range().unwrap_or((0, 0));
    let q = if (p.lo, p.hi) != (dlo, dhi) {
        ed.node(
            &format!("{name}.clip"),
            Op::Clip(Clip {
                min: Some(p.lo as f64),
                max: Some(p.hi as f64),
            }),
            &[q],
        )?
    } else {
        q
    };
    let dq = ed.node_named(
        name,
        Op::DequantizeLinear(DequantizeLinear { axis: 0 }),
        &[q, scale, zp],
    )?;
    ed.g.replace_uses(id, dq);
    Ok(Ok(()))
}
