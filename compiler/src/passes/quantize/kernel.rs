//! Float Gemm/Conv between dequantized operands → integer Gemm/Conv (docs/semantics.md §8.5).
//!
//! A kernel `y = Conv(DQ(x_q; s_x, z_x), DQ(W_q; s_w, 0), b)` computes, in exact arithmetic,
//! `y_c = s_x·s_w,c · (Σ x_q·w_q − z_x·Σ w_q,c + b_c / (s_x·s_w,c))`. Its integer form is
//! `acc = Conv(x_q, W_q, b_int)` with `b_int,c = ⌊b_c / (s_x·s_w,c)⌉ − z_x·Σ_k w_q,c,k` (an
//! `i32` constant; a bias that already is `DQ(b_q; s_x ⊗ s_w)` contributes `b_q` exactly), and
//! the readers of `y` get:
//! - a [`Requant`] where `y` (or `Relu(y)`) is quantized again by `QuantizeLinear(·; s_y, z_y)`
//!   (optionally followed by an integer Clip): multiplier and shift from the exact ratio
//!   `s_x·s_w,c / s_y` (see [`super::multiplier`]), zero point `z_y`, bounds the output type's
//!   range narrowed by the Clip, and with a ReLU `lo = z_y` — ReLU fused into the clamp;
//! - `DequantizeLinear(acc; s_x ⊗ s_w,c)` for every other (float) reader. When the bias is a
//!   float constant and nothing requantizes `y` (the last layer), the accumulator leaves the
//!   bias out and it is added in f32 after dequantization, as the float graph adds it.
//!
//! Conditions: constant per-tensor or per-output-channel weight scales with zero point 0, a
//! per-tensor input, `alpha = beta = 1`, no transposed `A`, a constant (or dequantized constant)
//! bias, zero point 0 for a zero-padded Conv (padding must mean real 0), and a worst-case
//! accumulator `Σ|w|·max|x| + |b_int|` inside i32. A kernel that fails one stays in float and the
//! report says why.

use snnc_ir::op::{DequantizeLinear, Gemm, Requant};
use snnc_ir::{DType, NodeId, Op, Tensor};

use super::edit::{const_of, const_operand, Editor};
use super::intval::{is_plain_int, IntVal, IntValues};
use super::multiplier::fixed_point;
use super::scale::channel_of;
use crate::passes::PassError;

/// Most fractional bits a requantized float bias keeps below the accumulator's unit.
const MAX_FRAC_BITS: u32 = 16;

/// The shape of a per-channel constant that broadcasts along `axis` of a rank-`rank` value:
/// `[C, 1, ...]` with as many 1s as dimensions after the axis.
fn channel_shape(channels: usize, rank: usize, axis: usize) -> Vec<usize> {
    let mut shape = vec![channels];
    shape.extend(std::iter::repeat_n(1, rank.saturating_sub(axis + 1)));
    shape
}

/// What happened to one kernel.
pub enum Outcome {
    /// Lowered: one line for the report.
    Lowered(String),
    /// Kept in float, with the reason (for kernels with quantized operands).
    Kept(String),
    /// A plain float kernel: nothing to do.
    NotQuantized,
}

/// A kernel's bias.
enum Bias {
    None,
    /// Already integer at the accumulator's scale.
    Int(Vec<i64>),
    Float(Vec<f32>),
}

/// A quantized weight: the integer constant and one scale per output channel.
struct Weight {
    node: NodeId,
    values: Vec<i64>,
    shape: Vec<usize>,
    axis: usize,
    scales: Vec<f32>,
    per_channel: bool,
}

/// Where `y` is quantized again.
struct Target {
    /// The node whose readers the Requant takes over (the QuantizeLinear or its Clip).
    node: NodeId,
    scale: f32,
    zero_point: i64,
    out: DType,
    lo: i64,
    hi: i64,
    relu: bool,
}

/// Lower kernel `id` if it reads dequantized operands (see the module docs).
pub fn lower_kernel(
    ed: &mut Editor<'_>,
    ints: &mut IntValues,
    id: NodeId,
) -> Result<Outcome, PassError> {
    let g = &*ed.g;
    let Some(node) = g.get(id) else {
        return Ok(Outcome::NotQuantized);
    };
    let name = node.name.clone();
    let op = node.op.clone();
    let out_ty = match &node.ty {
        Some(t) if t.dtype == DType::F32 => t.clone(),
        _ => return Ok(Outcome::NotQuantized),
    };
    let (Some(x), Some(w)) = (g.operand(id, 0), g.operand(id, 1)) else {
        return Ok(Outcome::NotQuantized);
    };
    let (w_axis, out_axis) = match &op {
        Op::Gemm(gm) => (usize::from(!gm.trans_b), usize::from(out_ty.rank() == 2)),
        Op::Conv(_) => {
            let w_rank = g.get(w).and_then(|n| n.ty.as_ref()).map_or(0, |t| t.rank());
            (0, usize::from(out_ty.rank() == w_rank))
        }
        _ => return Ok(Outcome::NotQuantized),
    };
    let x_is_dq = matches!(g.node(x).op, Op::DequantizeLinear(_));
    let Some(weight) = weight(ed, w, w_axis) else {
        return Ok(if x_is_dq {
            Outcome::Kept(format!(
                "`{name}` ({}): kept in float: the weight is not a dequantized integer constant with zero point 0",
                op.name()
            ))
        } else {
            Outcome::NotQuantized
        });
    };
    let kept = |why: &str| {
        Ok(Outcome::Kept(format!(
            "`{name}` ({}): kept in float: {why}",
            op.name()
        )))
    };
    if let Op::Gemm(gm) = &op {
        let x_rank =
            ed.g.get(x)
                .and_then(|n| n.ty.as_ref())
                .map_or(0, |t| t.rank());
        if gm.alpha != 1.0 || gm.beta != 1.0 || (gm.trans_a && x_rank == 2) {
            return kept("alpha, beta or trans_a is not the default");
        }
    }
    let Some(iv) = ints.of(ed, x)? else {
        return kept("its input is not a per-tensor quantized value");
    };
    if let Op::Conv(c) = &op {
        if iv.zero_point != 0 && c.pads.iter().any(|p| *p > 0) {
            return kept(
                "zero padding of an input with a non-zero zero point is not 0 in real terms",
            );
        }
    }
    let channels = out_ty.shape.get(out_axis).copied().unwrap_or(1);
    if weight.scales.len() != channels {
        return kept("the weight's channels do not match the output's");
    }
    let bias = match bias(ed, id, channels, iv.scale, &weight.scales) {
        Some(b) => b,
        None => return kept("the bias is not a constant"),
    };
    let targets = targets(ed, id);
    let sums = channel_sums(&weight);
    let abs = abs_sums(&weight);
    let (xlo, xhi) = iv.range();
    let x_max = xlo.abs().max(xhi.abs());
    let float_bias_after = matches!(bias, Bias::Float(_)) && targets.is_empty();
    // The bias in accumulator units with `k` extra fractional bits, zero point folded.
    let bias_at = |k: u32| -> Vec<i64> {
        let unit = f64::from(1u32 << k);
        sums.iter()
            .enumerate()
            .map(|(c, sum)| {
                let s_acc = f64::from(iv.scale) * f64::from(weight.scales[c]);
                let b = match &bias {
                    Bias::None => 0,
                    Bias::Int(v) => v[c] << k,
                    Bias::Float(_) if float_bias_after => 0,
                    Bias::Float(v) => (f64::from(v[c]) / s_acc * unit).round_ties_even() as i64,
                };
                b.saturating_sub((iv.zero_point * sum) << k)
            })
            .collect()
    };
    let worst = |k: u32, b: &[i64]| -> Option<(usize, i128)> {
        b.iter().enumerate().find_map(|(c, b)| {
            let bound =
                ((i128::from(abs[c]) * i128::from(x_max)) << k) + i128::from(b.unsigned_abs());
            (bound > i128::from(i32::MAX)).then_some((c, bound))
        })
    };
    // A float bias that is requantized keeps up to MAX_FRAC_BITS bits below the accumulator's
    // unit, as many as the 32-bit accumulator has room for (docs/semantics.md §8.5).
    let k = if matches!(bias, Bias::Float(_)) && !targets.is_empty() {
        (0..=MAX_FRAC_BITS)
            .rev()
            .find(|k| worst(*k, &bias_at(*k)).is_none())
            .unwrap_or(0)
    } else {
        0
    };
    let b_int = bias_at(k);
    if let Some((c, bound)) = worst(k, &b_int) {
        return kept(&format!(
            "output channel {c} could reach {bound} in the accumulator, beyond 32 bits"
        ));
    }
    // The integer kernel, under the float node's name.
    let acc_name = ed.take_name(id, "float");
    let mut operands = vec![iv.node, weight.node];
    let with_bias =
        b_int.iter().any(|b| *b != 0) || (!matches!(bias, Bias::None) && !float_bias_after);
    if with_bias && k == 0 {
        let t =
            Tensor::from_i64(DType::I32, vec![channels], b_int.clone()).map_err(|e| ed.ir(e))?;
        operands.push(ed.constant(&format!("{acc_name}.bias_int"), t, None));
    }
    let int_op = match &op {
        Op::Gemm(gm) => Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: gm.trans_b,
        }),
        Op::Conv(c) => Op::Conv(c.clone()),
        _ => return Ok(Outcome::NotQuantized),
    };
    let mut acc = ed.node_named(acc_name.clone(), int_op, &operands)?;
    let mut frac_note = None;
    if k > 0 {
        // acc·2^k + b_int: the bias with k fractional bits, all in i32.
        let unit = Tensor::from_i64(DType::I32, vec![], vec![1 << k]).map_err(|e| ed.ir(e))?;
        let unit = ed.constant(&format!("{acc_name}.frac_unit"), unit, None);
        let scaled = ed.node(&format!("{acc_name}.frac"), Op::Mul, &[acc, unit])?;
        let shape = channel_shape(channels, out_ty.rank(), out_axis);
        let b = Tensor::from_i64(DType::I32, shape, b_int.clone()).map_err(|e| ed.ir(e))?;
        let b = ed.constant(&format!("{acc_name}.bias_frac"), b, None);
        acc = ed.node(&format!("{acc_name}.add_bias"), Op::Add, &[scaled, b])?;
        frac_note = Some(format!(
            "`{acc_name}`: its float bias is kept to 2^-{k} of the accumulator unit (accumulator scaled by 2^{k}, then the bias added)"
        ));
    }
    let extra = 0.5f32.powi(k as i32);
    let scales = if weight.per_channel {
        format!(
            "per channel ({} scales in [{:e}, {:e}])",
            weight.scales.len(),
            weight.scales.iter().copied().fold(f32::INFINITY, f32::min),
            weight.scales.iter().copied().fold(0f32, f32::max),
        )
    } else {
        format!("per tensor (scale {:e})", weight.scales[0])
    };
    let mut notes = vec![format!(
        "`{acc_name}` ({}): integer kernel, input {} scale {:e} zero point {}, {} weights {scales}",
        op.name(),
        iv.dtype,
        iv.scale,
        iv.zero_point,
        ed.g.ty(weight.node).dtype,
    )];
    notes.extend(frac_note);
    let mut handled = Vec::new();
    for t in &targets {
        match requant(ed, acc, &iv, &weight, t, out_axis, extra)? {
            Ok(rq) => {
                notes.push(rq);
                handled.push(t.node);
            }
            Err(why) => notes.push(format!("`{acc_name}`: requantization kept in float: {why}")),
        }
    }
    if has_float_readers(ed, id, &handled) {
        let n = if weight.per_channel { channels } else { 1 };
        let s_acc: Vec<f32> = weight.scales[..n]
            .iter()
            .map(|s| iv.scale * s * extra)
            .collect();
        let scale = ed.vector_f32(&format!("{acc_name}.acc_scale"), s_acc)?;
        let dq = ed.node(
            &format!("{acc_name}.dequant"),
            Op::DequantizeLinear(DequantizeLinear { axis: out_axis }),
            &[acc, scale],
        )?;
        let float = match (&bias, float_bias_after) {
            (Bias::Float(v), true) => {
                let shape = channel_shape(channels, out_ty.rank(), out_axis);
                let t = Tensor::from_f32(shape, v.clone()).map_err(|e| ed.ir(e))?;
                let b = ed.constant(&format!("{acc_name}.bias"), t, None);
                notes.push(format!(
                    "`{acc_name}`: dequantized to f32 for its readers; the float bias is added after dequantization"
                ));
                ed.node(&format!("{acc_name}.add_bias"), Op::Add, &[dq, b])?
            }
            _ => {
                notes.push(format!("`{acc_name}`: dequantized to f32 for its readers"));
                dq
            }
        };
        ed.g.replace_uses(id, float);
    }
    Ok(Outcome::Lowered(notes.join("; ")))
}

/// `DQ(W_q; s_w, 0)` with a constant integer `W_q` and per-tensor or per-`axis` scales.
fn weight(ed: &Editor<'_>, w: NodeId, axis: usize) -> Option<Weight> {
    let g = &*ed.g;
    let Op::DequantizeLinear(d) = &g.get(w)?.op else {
        return None;
    };
    let wq_node = g.operand(w, 0)?;
    let wq = const_of(g, wq_node)?;
    if !is_plain_int(wq.dtype()) {
        return None;
    }
    let scale = const_operand(g, w, 1)?.as_f32()?.to_vec();
    if let Some(zp_node) = g.operand(w, 2) {
        if const_of(g, zp_node)?.as_i64()?.iter().any(|z| *z != 0) {
            return None;
        }
    }
    let channels = *wq.shape().get(axis)?;
    if channels == 0 || wq.is_empty() {
        return None;
    }
    let (scales, per_channel) = match scale.len() {
        1 => (vec![scale[0]; channels], false),
        n if n == channels && d.axis == axis => (scale, true),
        _ => return None,
    };
    if scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return None;
    }
    Some(Weight {
        node: wq_node,
        values: wq.as_i64()?.to_vec(),
        shape: wq.shape().to_vec(),
        axis,
        scales,
        per_channel,
    })
}

fn channel_sums(w: &Weight) -> Vec<i64> {
    let mut s = vec![0i64; w.scales.len()];
    for (i, v) in w.values.iter().enumerate() {
        if let Some(x) = s.get_mut(channel_of(&w.shape, w.axis, i)) {
            *x += v;
        }
    }
    s
}

fn abs_sums(w: &Weight) -> Vec<i64> {
    let mut s = vec![0i64; w.scales.len()];
    for (i, v) in w.values.iter().enumerate() {
        if let Some(x) = s.get_mut(channel_of(&w.shape, w.axis, i)) {
            *x += v.abs();
        }
    }
    s
}

/// The bias (input 2) as one value per output channel.
fn bias(ed: &Editor<'_>, id: NodeId, channels: usize, s_x: f32, s_w: &[f32]) -> Option<Bias> {
    let g = &*ed.g;
    let Some(b) = g.operand(id, 2) else {
        return Some(Bias::None);
    };
    let per_channel_f32 = |t: &Tensor| -> Option<Vec<f32>> {
        let v = t.as_f32()?;
        match v.len() {
            1 => Some(vec![v[0]; channels]),
            n if n == channels => Some(v.to_vec()),
            _ => None,
        }
    };
    if let Some(t) = const_of(g, b) {
        return per_channel_f32(t).map(Bias::Float);
    }
    // DQ(b_q; s_b, 0) of a constant.
    if !matches!(g.node(b).op, Op::DequantizeLinear(_)) {
        return None;
    }
    let bq = const_operand(g, b, 0)?;
    let scale = const_operand(g, b, 1)?.as_f32()?.to_vec();
    let zero = match g.operand(b, 2) {
        None => true,
        Some(z) => const_of(g, z)?.as_i64()?.iter().all(|v| *v == 0),
    };
    let values = bq.as_i64()?;
    let s_b = |c: usize| {
        if scale.len() == 1 {
            scale.first()
        } else {
            scale.get(c)
        }
    };
    let exact = zero
        && values.len() == channels
        && (0..channels).all(|c| s_b(c).is_some_and(|s| s.to_bits() == (s_x * s_w[c]).to_bits()));
    if exact {
        return Some(Bias::Int(values.to_vec()));
    }
    // Any other dequantized constant: its float value.
    let dq = match &g.node(b).op {
        Op::DequantizeLinear(d) => d.clone(),
        _ => return None,
    };
    let ins: Option<Vec<&Tensor>> = (0..g.operands(b).len())
        .map(|s| const_operand(g, b, s))
        .collect();
    let v = snnc_ir::op::quant::eval_dequantize_linear(&dq, &ins?).ok()?;
    per_channel_f32(&v).map(Bias::Float)
}

/// The QuantizeLinear readers of `y` and of `Relu(y)` with per-tensor constant parameters.
fn targets(ed: &Editor<'_>, y: NodeId) -> Vec<Target> {
    let g = &*ed.g;
    let mut out = Vec::new();
    let mut look = |q: NodeId, relu: bool| {
        let Some(n) = g.get(q) else { return };
        let Op::QuantizeLinear(ql) = &n.op else {
            return;
        };
        if g.operand(q, 0).is_none() {
            return;
        }
        let Some(scale) = const_operand(g, q, 1).and_then(super::edit::scalar_f32) else {
            return;
        };
        let zero_point = match g.operand(q, 2) {
            None => 0,
            Some(_) => match const_operand(g, q, 2).and_then(super::edit::scalar_i64) {
                Some(z) => z,
                None => return,
            },
        };
        let Some((mut lo, mut hi)) = ql.out.int_range() else {
            return;
        };
        if !is_plain_int(ql.out) || !scale.is_finite() || scale <= 0.0 {
            return;
        }
        // A single integer Clip reader folds into the bounds.
        let mut node = q;
        if let [(c, _)] = g.users(q).as_slice() {
            if let Op::Clip(clip) = &g.node(*c).op {
                let clo = clip.min.map_or(lo, |m| lo.max(m.ceil() as i64));
                let chi = clip.max.map_or(hi, |m| hi.min(m.floor() as i64));
                if clo <= zero_point && zero_point <= chi {
                    (lo, hi, node) = (clo, chi, *c);
                }
            }
        }
        if relu {
            lo = lo.max(zero_point);
        }
        if lo > hi || zero_point < lo || zero_point > hi {
            return;
        }
        out.push(Target {
            node,
            scale,
            zero_point,
            out: ql.out,
            lo,
            hi,
            relu,
        });
    };
    for (u, e) in g.users(y) {
        if e.slot != 0 {
            continue;
        }
        match g.node(u).op {
            Op::QuantizeLinear(_) => look(u, false),
            Op::Relu => {
                for (v, e2) in g.users(u) {
                    if e2.slot == 0 {
                        look(v, true);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Add the Requant of `acc` for one target and hand it the target's readers.
fn requant(
    ed: &mut Editor<'_>,
    acc: NodeId,
    iv: &IntVal,
    w: &Weight,
    t: &Target,
    out_axis: usize,
    extra: f32,
) -> Result<Result<String, String>, PassError> {
    let mut ms = Vec::with_capacity(w.scales.len());
    let mut ss = Vec::with_capacity(w.scales.len());
    let n = if w.per_channel { w.scales.len() } else { 1 };
    for s_w in w.scales.iter().take(n) {
        match fixed_point(&[iv.scale, *s_w, extra], t.scale) {
            Ok(fp) => {
                ms.push(fp.multiplier);
                ss.push(fp.shift);
            }
            Err(e) => return Ok(Err(e.0)),
        }
    }
    // A tie acc·m ≡ 2^(s−1) (mod 2^s) needs 2^(s−1−t) | acc with 2^t | m: possible for an
    // accumulator below 2^31 only when t ≥ s − 31 (docs/semantics.md §8.5).
    let ties = ms
        .iter()
        .zip(&ss)
        .any(|(m, s)| *m != 0 && i64::from(m.trailing_zeros()) >= s - 31);
    let shape = if w.per_channel { vec![n] } else { vec![] };
    let multiplier =
        Tensor::from_i64(DType::I64, shape.clone(), ms.clone()).map_err(|e| ed.ir(e))?;
    let shift = Tensor::from_i64(DType::I64, shape, ss.clone()).map_err(|e| ed.ir(e))?;
    let name = ed.take_name(t.node, "float");
    let rq = Op::Requant(Requant {
        multiplier,
        shift,
        zero_point: t.zero_point,
        axis: out_axis,
        out: t.out,
        lo: t.lo,
        hi: t.hi,
    });
    let id = ed.node_named(name.clone(), rq, &[acc])?;
    ed.g.replace_uses(t.node, id);
    let (smin, smax) = (
        ss.iter().copied().min().unwrap_or(0),
        ss.iter().copied().max().unwrap_or(0),
    );
    Ok(Ok(format!(
        "`{name}` (requant): to {} scale {:e} zero point {}, bounds [{}, {}]{}, {}{}",
        t.out,
        t.scale,
        t.zero_point,
        t.lo,
        t.hi,
        if t.relu { " (ReLU fused)" } else { "" },
        match ms.as_slice() {
            [m] => format!("multiplier {m}, shift {smin}"),
            _ => format!(
                "{} per-channel multipliers, shifts {smin}..={smax}",
                ms.len()
            ),
        },
        if ties {
            "; exact ties are possible (a power-of-two ratio): Requant rounds them up where QuantizeLinear rounds to even"
        } else {
            ""
        },
    )))
}

/// Whether anything but the handled QuantizeLinear nodes (directly or behind a ReLU) reads `y`.
fn has_float_readers(ed: &Editor<'_>, y: NodeId, handled: &[NodeId]) -> bool {
    let g = &*ed.g;
    let is_handled = |q: NodeId| {
        handled.contains(&q)
            || g.users(q)
                .iter()
                .any(|(c, _)| handled.contains(c) && g.users(q).len() == 1)
    };
    g.users(y).iter().any(|(u, _)| match g.node(*u).op {
        Op::Relu => g.users(*u).iter().any(|(v, _)| !is_handled(*v)),
        _ => !is_handled(*u),
    })
}
