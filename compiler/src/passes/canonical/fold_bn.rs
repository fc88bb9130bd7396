//! `fold-bn`: a BatchNorm right after a Gemm or Conv with constant float weights becomes part of
//! that layer. Per output channel `c`, BatchNorm computes `a_c·y + (β_c − a_c·μ_c)` with
//! `a_c = γ_c / sqrt(σ²_c + ε)`; so the layer's weights of channel `c` are multiplied by `a_c`
//! and its bias becomes `a_c·bias_c + β_c − a_c·μ_c` (for a Gemm, `bias_c = beta·C_c` and the new
//! Gemm has `beta = 1`). The arithmetic is done in f64 and rounded once to f32.
//!
//! The fold is skipped, with a note, when it would change more than the notation: when the
//! layer's output has another reader, when weights or BatchNorm parameters are not float
//! constants (quantized models keep their exact integers), when the weights are binary (`±s`,
//! scaling them would make them non-binary), or when the BatchNorm feeds a sign (BipolarQuant,
//! Sign): binarization folds BatchNorm + sign into one integer threshold instead (DESIGN.md §4).

use snnc_ir::{Graph, NodeId, Op, Tensor};

use super::util::{const_operand, is_binary_valued, retype, unique_name};
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "fold-bn";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "fold BatchNorm into the preceding Gemm/Conv's float weights and bias",
    usage: "fold-bn",
    run,
};

/// What a fold writes: the layer, its new weights and bias, and its new op (a Gemm's `beta`).
struct Fold {
    layer: NodeId,
    weight: Tensor,
    bias: Tensor,
    op: Op,
}

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    args.check(&[], &[])?;
    let mut report = PassReport::new(NAME);
    for bn in g.topo_order().map_err(|e| PassError::ir(NAME, e))? {
        if !matches!(g.node(bn).op, Op::BatchNorm(_)) {
            continue;
        }
        match plan(g, bn) {
            Ok(fold) => {
                apply(g, bn, fold);
                report.changed += 1;
            }
            Err(reason) => report
                .notes
                .push(format!("kept BatchNorm `{}`: {reason}", g.node(bn).name)),
        }
    }
    retype(g, NAME)?;
    if report.changed > 0 {
        let n = report.changed;
        report.notes.insert(
            0,
            format!("folded {n} BatchNorm(s) into the preceding Gemm/Conv"),
        );
    }
    Ok(report)
}

/// Decide whether `bn` folds, and compute the new constants.
fn plan(g: &Graph, bn: NodeId) -> Result<Fold, String> {
    let Op::BatchNorm(b) = &g.node(bn).op else {
        return Err("not a BatchNorm".into());
    };
    let layer = g
        .operands(bn)
        .into_iter()
        .find(|(_, e)| e.slot == 0 && !e.recurrent)
        .map(|(s, _)| s)
        .ok_or("its input arrives over a recurrent edge")?;
    let lname = &g.node(layer).name;
    if !matches!(g.node(layer).op, Op::Gemm(_) | Op::Conv(_)) {
        return Err("it does not follow a Gemm or Conv".into());
    }
    if g.users(layer).len() != 1 {
        return Err(format!("the output of `{lname}` has other readers"));
    }
    if let Some((u, _)) = g
        .users(bn)
        .into_iter()
        .find(|(u, _)| matches!(g.node(*u).op, Op::BipolarQuant | Op::Sign))
    {
        return Err(format!(
            "it feeds the sign `{}`; binarize folds BatchNorm + sign into a threshold",
            g.node(u).name
        ));
    }
    let (a, shift) = bn_affine(g, bn, b.epsilon)?;
    let w = float_const(g, layer, 1, "weight")?;
    if is_binary_valued(w) {
        return Err(format!(
            "the weights of `{lname}` are binary (±s); scaling them would make them non-binary"
        ));
    }
    let weight = scale_weight(g, layer, w, &a)?;
    let old_bias = layer_bias(g, layer, a.len())?;
    let bias: Vec<f32> = (0..a.len())
        .map(|c| (a[c] * old_bias[c] + shift[c]) as f32)
        .collect();
    let bias = Tensor::from_f32(vec![a.len()], bias).map_err(|e| e.to_string())?;
    let op = match &g.node(layer).op {
        Op::Gemm(gm) => Op::Gemm(snnc_ir::op::Gemm {
            beta: 1.0,
            ..gm.clone()
        }),
        other => other.clone(),
    };
    Ok(Fold {
        layer,
        weight,
        bias,
        op,
    })
}

/// The float constant at input `slot` of `layer`.
fn float_const<'g>(
    g: &'g Graph,
    layer: NodeId,
    slot: usize,
    what: &str,
) -> Result<&'g Tensor, String> {
    const_operand(g, layer, slot)
        .filter(|t| t.dtype().is_float())
        .ok_or_else(|| {
            format!(
                "the {what} of `{}` is not a float constant (run const-fold first; quantized weights are not folded)",
                g.node(layer).name
            )
        })
}

/// Per channel `(a_c, β_c − a_c·μ_c)` of BatchNorm `bn`, in f64.
fn bn_affine(g: &Graph, bn: NodeId, eps: f32) -> Result<(Vec<f64>, Vec<f64>), String> {
    let p: Vec<&[f32]> = (1..5)
        .map(|slot| {
            const_operand(g, bn, slot)
                .and_then(Tensor::as_f32)
                .ok_or_else(|| format!("its input {slot} is not a float constant"))
        })
        .collect::<Result<_, _>>()?;
    let (gamma, beta, mean, var) = (p[0], p[1], p[2], p[3]);
    let a: Vec<f64> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| *g as f64 / (*v as f64 + eps as f64).sqrt())
        .collect();
    let shift = (0..a.len())
        .map(|c| beta[c] as f64 - a[c] * mean[c] as f64)
        .collect();
    Ok((a, shift))
}

/// `w` with every weight of output channel `c` multiplied by `a[c]`.
fn scale_weight(g: &Graph, layer: NodeId, w: &Tensor, a: &[f64]) -> Result<Tensor, String> {
    let v = w.as_f32().unwrap_or(&[]);
    let shape = w.shape();
    let channel: Box<dyn Fn(usize) -> usize> = match &g.node(layer).op {
        Op::Gemm(gm) if gm.trans_b => {
            let k = shape.get(1).copied().unwrap_or(1).max(1);
            Box::new(move |i| i / k)
        }
        Op::Gemm(_) => {
            let n = shape.get(1).copied().unwrap_or(1).max(1);
            Box::new(move |i| i % n)
        }
        _ => {
            let out_rank = g.ty(layer).rank();
            if out_rank != shape.len() {
                return Err(format!(
                    "`{}` has no batch axis, so BatchNorm's axis 1 is not its channel axis",
                    g.node(layer).name
                ));
            }
            let per = v.len() / shape.first().copied().unwrap_or(1).max(1);
            Box::new(move |i| i / per.max(1))
        }
    };
    if g.ty(layer).shape.get(1) != Some(&a.len()) {
        return Err(format!(
            "`{}` has no channel axis 1 of {} channels",
            g.node(layer).name,
            a.len()
        ));
    }
    let scaled = v
        .iter()
        .enumerate()
        .map(|(i, x)| (*x as f64 * a[channel(i)]) as f32)
        .collect();
    Tensor::from_f32(shape.to_vec(), scaled).map_err(|e| e.to_string())
}

/// The layer's bias per output channel as it enters the output (`beta·C` for a Gemm), zeros
/// when it has none.
fn layer_bias(g: &Graph, layer: NodeId, channels: usize) -> Result<Vec<f64>, String> {
    if g.operand(layer, 2).is_none() {
        return Ok(vec![0.0; channels]);
    }
    let c = float_const(g, layer, 2, "bias")?;
    let v = c.as_f32().unwrap_or(&[]);
    let scale = match &g.node(layer).op {
        Op::Gemm(gm) => gm.beta as f64,
        _ => 1.0,
    };
    let per_channel = v.len() == channels && c.shape().last() == Some(&channels);
    match v {
        [s] => Ok(vec![scale * *s as f64; channels]),
        _ if per_channel => Ok(v.iter().map(|x| scale * *x as f64).collect()),
        _ => Err(format!(
            "the bias of `{}` has shape {:?}, not one value per channel",
            g.node(layer).name,
            c.shape()
        )),
    }
}

/// Rewire: new constants into the layer, the BatchNorm's readers onto the layer.
fn apply(g: &mut Graph, bn: NodeId, f: Fold) {
    let bn_name = g.node(bn).name.clone();
    let w = g.add_const(
        unique_name(g, &format!("{bn_name}.folded_weight")),
        f.weight,
    );
    let b = g.add_const(unique_name(g, &format!("{bn_name}.folded_bias")), f.bias);
    g.set_operand(f.layer, 1, w);
    g.set_operand(f.layer, 2, b);
    g.node_mut(f.layer).op = f.op;
    g.replace_uses(bn, f.layer);
    g.remove_node(bn);
}

#[cfg(test)]
mod tests;
