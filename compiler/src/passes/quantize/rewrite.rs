//! The post-training quantization rewrite: where quantization goes in a float graph, and the
//! quantize/dequantize structure that states it.
//!
//! 1. **Plan.** Every float Gemm/Conv with constant weights (and a constant or no bias, no
//!    transposed `A`) is a *kernel*. Walking up from a kernel's activation input through ops that
//!    are exact on integers (max pooling, Flatten, Reshape) leads to its *root*: the tensor whose
//!    range is calibrated and where the activation is quantized (the graph input, a ReLU, a
//!    kernel's output, or the output of an op without integer form).
//! 2. **Calibrate** the roots ([`super::calibration`]) and choose their scales
//!    ([`super::scale`]).
//! 3. **State the quantization** as a QDQ graph: `root → QuantizeLinear → DequantizeLinear` for
//!    the readers on the way to a kernel; each kernel's weight becomes an integer constant
//!    (symmetric, narrow range, `QuantParams` on its type) read through a DequantizeLinear, and
//!    its bias `b_q = ⌊b / (s_x ⊗ s_w)⌉` an `i32` constant likewise. `alpha`/`beta` are folded
//!    into weight and bias first.
//! 4. **Lower** that graph exactly as an imported QDQ model ([`super::lower`]): integer kernels,
//!    Requant with ReLU fused, DequantizeLinear after the last layer, and DequantizeLinear /
//!    QuantizeLinear around whatever has no integer form.

use std::collections::{BTreeMap, BTreeSet};

use snnc_ir::op::{Clip, DequantizeLinear, Gemm, PoolKind, QuantizeLinear};
use snnc_ir::{DType, Graph, NodeId, Op, QuantParams, Tensor};

use super::calibration::Range;
use super::edit::{const_of, const_operand, Editor};
use super::options::QuantizeOptions;
use super::scale::{activation, quantize_weights, weight_qmax, weight_scales, ActQuant};
use crate::passes::PassError;

/// A float kernel to quantize.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub id: NodeId,
    pub root: NodeId,
    /// The pass-through nodes between root and kernel, nearest the root last.
    pub chain: Vec<NodeId>,
    /// A Conv with zero padding: its root needs zero point 0.
    pub padded: bool,
}

/// Ops that are exact on integers and keep the scale.
fn pass_through(op: &Op) -> bool {
    match op {
        Op::Pool(p) => p.kind == PoolKind::Max,
        Op::Flatten(_) | Op::Reshape(_) => true,
        _ => false,
    }
}

fn is_f32(g: &Graph, id: NodeId) -> bool {
    g.get(id)
        .and_then(|n| n.ty.as_ref())
        .is_some_and(|t| t.dtype == DType::F32)
}

/// The kernels of a float graph (step 1 of the module docs).
pub fn plan(g: &Graph) -> Vec<Kernel> {
    let mut out = Vec::new();
    for id in g.node_ids() {
        let n = g.node(id);
        if !is_f32(g, id) {
            continue;
        }
        let (Some(x), Some(w)) = (g.operand(id, 0), g.operand(id, 1)) else {
            continue;
        };
        let Some(wt) = const_of(g, w) else { continue };
        if wt.dtype() != DType::F32 || wt.is_empty() {
            continue;
        }
        let bias_ok = match g.operand(id, 2) {
            None => true,
            Some(b) => const_of(g, b).is_some_and(|t| t.dtype() == DType::F32),
        };
        let padded = match &n.op {
            Op::Gemm(gm) => {
                let x_rank = g.get(x).and_then(|n| n.ty.as_ref()).map_or(0, |t| t.rank());
                if wt.rank() != 2 || (gm.trans_a && x_rank == 2) {
                    continue;
                }
                let out_n = if gm.trans_b {
                    wt.shape()[0]
                } else {
                    wt.shape()[1]
                };
                let c_ok = g
                    .operand(id, 2)
                    .and_then(|b| const_of(g, b))
                    .is_none_or(|c| c.len() == 1 || c.len() == out_n);
                if !c_ok {
                    continue;
                }
                false
            }
            Op::Conv(c) => c.pads.iter().any(|p| *p > 0),
            _ => continue,
        };
        if !bias_ok || !is_f32(g, x) {
            continue;
        }
        let mut chain = Vec::new();
        let mut root = x;
        while pass_through(&g.node(root).op) {
            match g.operand(root, 0) {
                Some(src) if is_f32(g, src) => {
                    chain.push(root);
                    root = src;
                }
                _ => break,
            }
        }
        if const_of(g, root).is_some() {
            continue;
        }
        out.push(Kernel {
            id,
            root,
            chain,
            padded,
        });
    }
    out
}

/// Insert the QDQ form of the quantization (step 3 of the module docs). Returns one note per
/// root.
pub fn insert_qdq(
    ed: &mut Editor<'_>,
    kernels: &[Kernel],
    ranges: &BTreeMap<NodeId, Range>,
    opts: &QuantizeOptions,
) -> Result<Vec<String>, PassError> {
    let mut notes = Vec::new();
    let zero_zp: BTreeSet<NodeId> = kernels
        .iter()
        .filter(|k| k.padded)
        .map(|k| k.root)
        .collect();
    let mut acts: BTreeMap<NodeId, ActQuant> = BTreeMap::new();
    for (root, range) in ranges {
        let a = activation(*range, opts.act, opts.act_bits, zero_zp.contains(root));
        notes.push(format!(
            "`{}`: activations {} ({} bits) scale {:e} zero point {} from the calibrated range [{}, {}]",
            ed.g.node(*root).name,
            a.dtype,
            a.bits,
            a.scale,
            a.zero_point,
            range.min,
            range.max
        ));
        acts.insert(*root, a);
    }
    // Readers that see the quantized activation: kernels (slot 0) and pass-through chains.
    let mut readers: BTreeSet<(NodeId, NodeId)> = BTreeSet::new();
    for k in kernels {
        let first = k.chain.last().copied().unwrap_or(k.id);
        readers.insert((k.root, first));
    }
    for (root, a) in &acts {
        let dq = quantize_activation(ed, *root, a)?;
        for (u, e) in ed.g.users(*root) {
            if e.slot == 0 && readers.contains(&(*root, u)) {
                ed.g.set_operand(u, 0, dq);
            }
        }
    }
    for k in kernels {
        let Some(a) = acts.get(&k.root) else { continue };
        quantize_kernel(ed, k, a.scale, opts)?;
    }
    Ok(notes)
}

/// `root → QuantizeLinear → [Clip] → DequantizeLinear`; returns the DequantizeLinear.
fn quantize_activation(
    ed: &mut Editor<'_>,
    root: NodeId,
    a: &ActQuant,
) -> Result<NodeId, PassError> {
    let base = ed.g.node(root).name.clone();
    let scale = ed.scalar(&format!("{base}.scale"), a.scale);
    let zp = ed.scalar_int(&format!("{base}.zero_point"), a.dtype, a.zero_point)?;
    let axis = 0;
    let mut q = ed.node(
        &format!("{base}.quantize"),
        Op::QuantizeLinear(QuantizeLinear { axis, out: a.dtype }),
        &[root, scale, zp],
    )?;
    if a.dtype.int_range() != Some((a.lo, a.hi)) {
        q = ed.node(
            &format!("{base}.clip"),
            Op::Clip(Clip {
                min: Some(a.lo as f64),
                max: Some(a.hi as f64),
            }),
            &[q],
        )?;
    }
    ed.node(
        &format!("{base}.dequantize"),
        Op::DequantizeLinear(DequantizeLinear { axis }),
        &[q, scale, zp],
    )
}

/// Weight and bias of one kernel as dequantized integer constants.
fn quantize_kernel(
    ed: &mut Editor<'_>,
    k: &Kernel,
    s_x: f32,
    opts: &QuantizeOptions,
) -> Result<(), PassError> {
    let op = ed.g.node(k.id).op.clone();
    let (alpha, beta, w_axis) = match &op {
        Op::Gemm(gm) => (gm.alpha, gm.beta, usize::from(!gm.trans_b)),
        _ => (1.0, 1.0, 0),
    };
    let Some(w_node) = ed.g.operand(k.id, 1) else {
        return Ok(());
    };
    let Some(w) = const_of(ed.g, w_node).cloned() else {
        return Ok(());
    };
    let shape = w.shape().to_vec();
    let values: Vec<f32> = w
        .as_f32()
        .unwrap_or_default()
        .iter()
        .map(|v| if alpha == 1.0 { *v } else { v * alpha })
        .collect();
    let qmax = weight_qmax(opts.weight_bits);
    let axis = opts.per_channel.then_some(w_axis);
    let scales = weight_scales(&values, &shape, axis, qmax);
    let ints = quantize_weights(&values, &shape, axis, &scales, qmax);
    let channels = shape.get(w_axis).copied().unwrap_or(1);
    let wq = Tensor::from_i64(DType::I8, shape, ints).map_err(|e| ed.ir(e))?;
    let params = QuantParams {
        scale: scales.clone(),
        zero_point: vec![0; scales.len()],
        axis,
        bits: opts.weight_bits,
        signed: true,
        narrow: true,
    };
    let wname = ed.take_name(w_node, "float");
    let wq = ed.constant_named(wname.clone(), wq, Some(params));
    let ws = ed.vector_f32(&format!("{wname}.scale"), scales.clone())?;
    let wdq = ed.node(
        &format!("{wname}.dequantize"),
        Op::DequantizeLinear(DequantizeLinear { axis: w_axis }),
        &[wq, ws],
    )?;
    ed.g.set_operand(k.id, 1, wdq);
    if let Some(b_node) = ed.g.operand(k.id, 2) {
        let b = const_operand(ed.g, k.id, 2)
            .and_then(|t| t.as_f32())
            .map(|v| v.to_vec())
            .unwrap_or_default();
        let per_channel: Vec<f32> = (0..channels)
            .map(|c| {
                let v = if b.len() == 1 {
                    b[0]
                } else {
                    b.get(c).copied().unwrap_or(0.0)
                };
                if beta == 1.0 {
                    v
                } else {
                    beta * v
                }
            })
            .collect();
        let s_b: Vec<f32> = (0..channels)
            .map(|c| {
                s_x * scales
                    .get(if scales.len() == 1 { 0 } else { c })
                    .copied()
                    .unwrap_or(1.0)
            })
            .collect();
        let bq: Vec<i64> = per_channel
            .iter()
            .zip(&s_b)
            .map(|(v, s)| {
                let r = (f64::from(*v) / f64::from(*s)).round_ties_even();
                r.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
            })
            .collect();
        let s_b = if scales.len() == 1 { vec![s_b[0]] } else { s_b };
        let params = QuantParams {
            scale: s_b.clone(),
            zero_point: vec![0; s_b.len()],
            axis: (s_b.len() > 1).then_some(0),
            bits: 32,
            signed: true,
            narrow: false,
        };
        let t = Tensor::from_i64(DType::I32, vec![channels], bq).map_err(|e| ed.ir(e))?;
        let bname = ed.take_name(b_node, "float");
        let bq = ed.constant_named(bname.clone(), t, Some(params));
        let bs = ed.vector_f32(&format!("{bname}.scale"), s_b)?;
        let bdq = ed.node(
            &format!("{bname}.dequantize"),
            Op::DequantizeLinear(DequantizeLinear { axis: 0 }),
            &[bq, bs],
        )?;
        ed.g.set_operand(k.id, 2, bdq);
    }
    if let Op::Gemm(gm) = op {
        ed.g.node_mut(k.id).op = Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            ..gm
        });
    }
    Ok(())
}
