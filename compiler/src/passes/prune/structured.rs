//! Structured pruning: whole output neurons (Gemm) or channels (Conv) with the smallest L2 norm
//! of their weights are removed, and everything that reads them is updated consistently.
//!
//! From the layer's output the pass follows the data forward through per-channel ops —
//! BatchNorm (its four parameters lose the same entries), Mul/Add/quantizers with constant
//! parameters (sliced where they vary along the channel), ReLU, clip, sign, pooling — and
//! through flatten and flatten-like reshapes (each channel becomes a block of columns), to the
//! next layers, whose input columns (Gemm) or input channels (Conv) are removed. A layer whose
//! channels reach a graph output is never pruned (the model's output size stays), nor one whose
//! channels reach anything else (a residual Add, a neuron with per-neuron parameters): it is
//! reported and left as it is. Every edit is made on a copy of the graph and committed only
//! when the copy's types infer again.

use std::collections::BTreeSet;

use snnc_ir::op::Reshape;
use snnc_ir::{Data, Graph, NodeId, Op, Tensor};

use super::weights::{
    const_tensor, pruned_name, slice_axis, slice_broadcast, slice_per_axis, trace, Chain, Sel,
};
use crate::passes::binarize::Names;

/// What structured pruning of one layer did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Removed {
    pub kept: usize,
    pub total: usize,
    /// The nodes whose parameters or attributes changed besides the layer itself.
    pub updated: Vec<String>,
}

/// One change to the graph.
enum Edit {
    /// Input `slot` of `reader` reads a new constant `tensor` (named after `src`).
    Operand {
        reader: NodeId,
        slot: usize,
        src: NodeId,
        tensor: Tensor,
    },
    /// A node's op changes (a reshape's target shape).
    Op { node: NodeId, op: Box<Op> },
}

/// Remove `round(s · C)` output channels of `layer` (at least one stays). `Ok(None)` when that
/// rounds to nothing; `Err` says why the layer cannot be pruned (the graph is then unchanged).
pub(crate) fn prune_layer(
    g: &mut Graph,
    names: &mut Names,
    layer: NodeId,
    sparsity: f64,
) -> Result<Option<Removed>, String> {
    let out_axis = match &g.node(layer).op {
        Op::Gemm(x) if !x.trans_b => 1,
        Op::Gemm(_) | Op::Conv(_) => 0,
        _ => return Err("not a Gemm or Conv".into()),
    };
    let chain = trace(g, layer, 1).ok_or("its weights are not a constant")?;
    let w = const_tensor(g, chain.konst).ok_or("its weights are not a constant")?;
    let n = *w
        .shape()
        .get(out_axis)
        .ok_or("its weights have too few dimensions")?;
    let remove = ((sparsity * n as f64).round() as usize).min(n.saturating_sub(1));
    if remove == 0 {
        return Ok(None);
    }
    let keep = strongest(w, out_axis, n - remove);
    let sel = Sel {
        axis: out_axis,
        len: n,
        keep: keep.clone(),
    };
    let mut edits = Vec::new();
    chain_edits(g, &chain, &sel, &mut edits)?;
    if let Some(b) = g.operand(layer, 2) {
        let bias_chain = trace(g, layer, 2).ok_or("its bias is not a constant")?;
        let rank = g.node(b).ty.as_ref().map_or(1, |t| t.rank());
        // The bias broadcasts against the output, whose channels are its last axis (Gemm) or
        // its only axis (Conv bias [C]).
        let bsel = Sel {
            axis: rank.saturating_sub(1),
            ..sel.clone()
        };
        chain_edits(g, &bias_chain, &bsel, &mut edits)?;
    }
    let out_rank = g.node(layer).ty.as_ref().map_or(0, |t| t.rank());
    let spatial = match &g.node(layer).op {
        Op::Conv(_) => w.rank().saturating_sub(2),
        _ => 0,
    };
    let start = Sel {
        axis: out_rank.saturating_sub(1 + spatial),
        len: n,
        keep,
    };
    let mut updated = BTreeSet::new();
    forward(g, layer, start, &mut edits, &mut updated)?;
    let mut h = g.clone();
    for e in edits {
        match e {
            Edit::Operand {
                reader,
                slot,
                src,
                tensor,
            } => {
                let quant = h.node(src).ty.as_ref().and_then(|t| t.quant.clone());
                let name = names.fresh(&pruned_name(&h.node(src).name));
                let c = h.add_const(name, tensor);
                if let (Some(q), Some(ty)) = (quant, h.node_mut(c).ty.as_mut()) {
                    ty.quant = Some(q);
                }
                h.set_operand(reader, slot, c);
            }
            Edit::Op { node, op } => h.node_mut(node).op = *op,
        }
    }
    h.infer_types()
        .map_err(|e| format!("the updated graph does not type-check: {e}"))?;
    *g = h;
    Ok(Some(Removed {
        kept: n - remove,
        total: n,
        updated: updated.into_iter().collect(),
    }))
}

/// The `count` channels along `axis` with the largest L2 norm (ties: lower index), increasing.
fn strongest(w: &Tensor, axis: usize, count: usize) -> Vec<usize> {
    let shape = w.shape();
    let len = shape.get(axis).copied().unwrap_or(1);
    let inner: usize = shape[axis + 1..].iter().product();
    let mut norm = vec![0f64; len];
    let vals: Vec<f64> = match w.data() {
        Data::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        Data::I64(v) => v.iter().map(|x| *x as f64).collect(),
    };
    for (i, v) in vals.iter().enumerate() {
        norm[(i / inner.max(1)) % len.max(1)] += v * v;
    }
    let mut idx: Vec<usize> = (0..len).collect();
    idx.sort_by(|a, b| norm[*b].total_cmp(&norm[*a]).then(a.cmp(b)));
    idx.truncate(count);
    idx.sort_unstable();
    idx
}

/// Edits that slice a constant and the parameters of the quantizers on its way to a layer.
fn chain_edits(g: &Graph, chain: &Chain, sel: &Sel, edits: &mut Vec<Edit>) -> Result<(), String> {
    let t = const_tensor(g, chain.konst).ok_or("not a constant")?;
    let rank = t.rank();
    let sliced = slice_broadcast(t, rank, sel)?;
    if let Some(tensor) = sliced {
        edits.push(Edit::Operand {
            reader: chain.reader.0,
            slot: chain.reader.1,
            src: chain.konst,
            tensor,
        });
    }
    for op in &chain.ops {
        param_edits(g, *op, rank, sel, edits)?;
    }
    Ok(())
}

/// Edits for the constant parameters (slots ≥ 1) of an elementwise op over a value of rank
/// `rank` whose axis `sel.axis` is pruned.
fn param_edits(
    g: &Graph,
    id: NodeId,
    rank: usize,
    sel: &Sel,
    edits: &mut Vec<Edit>,
) -> Result<(), String> {
    let node = g.node(id);
    for (src, e) in g.operands(id).into_iter().filter(|(_, e)| e.slot >= 1) {
        let t = const_tensor(g, src)
            .ok_or_else(|| format!("`{}` has a parameter that is not a constant", node.name))?;
        let sliced = match &node.op {
            Op::QuantizeLinear(q) => slice_per_axis(t, q.axis, sel)?,
            Op::DequantizeLinear(q) => slice_per_axis(t, q.axis, sel)?,
            Op::BatchNorm(_) => slice_axis(t, 0, &sel.keep).map(Some)?,
            _ => slice_broadcast(t, rank, sel)?,
        };
        if let Some(tensor) = sliced {
            edits.push(Edit::Operand {
                reader: id,
                slot: e.slot,
                src,
                tensor,
            });
        }
    }
    Ok(())
}

/// Follow the pruned channels forward from `start`'s value, collecting edits, up to the next
/// layers.
fn forward(
    g: &Graph,
    layer: NodeId,
    start: Sel,
    edits: &mut Vec<Edit>,
    updated: &mut BTreeSet<String>,
) -> Result<(), String> {
    let mut queue = vec![(layer, start)];
    let mut seen = BTreeSet::new();
    while let Some((v, sel)) = queue.pop() {
        let in_shape = g
            .node(v)
            .ty
            .as_ref()
            .map(|t| t.shape.clone())
            .unwrap_or_default();
        for (u, e) in g.users(v) {
            let node = g.node(u);
            let name = node.name.clone();
            if e.recurrent || !seen.insert(u) {
                return Err(format!(
                    "its channels reach `{name}` twice or over a recurrent edge"
                ));
            }
            let rank = node.ty.as_ref().map_or(0, |t| t.rank());
            let same_shape = node.ty.as_ref().is_some_and(|t| t.shape == in_shape);
            match (&node.op, e.slot) {
                (Op::Output { .. }, _) => {
                    return Err(format!(
                        "its output channels are graph output `{name}` (output sizes stay)"
                    ))
                }
                (Op::Gemm(gm), 0) => {
                    let k_axis_a = if gm.trans_a && in_shape.len() == 2 {
                        0
                    } else {
                        in_shape.len().saturating_sub(1)
                    };
                    if sel.axis != k_axis_a {
                        return Err(format!(
                            "`{name}` reads the channels along a non-reduced axis"
                        ));
                    }
                    let chain = trace(g, u, 1)
                        .ok_or_else(|| format!("`{name}` has weights that are not a constant"))?;
                    let k_axis = usize::from(gm.trans_b);
                    chain_edits(
                        g,
                        &chain,
                        &Sel {
                            axis: k_axis,
                            ..sel.clone()
                        },
                        edits,
                    )?;
                    updated.insert(name);
                }
                (Op::Conv(c), 0) => {
                    let spatial = c.stride.len();
                    if c.groups != 1 || sel.axis + 1 + spatial != in_shape.len() {
                        return Err(format!("`{name}` is a grouped convolution or reads the channels along another axis"));
                    }
                    let chain = trace(g, u, 1)
                        .ok_or_else(|| format!("`{name}` has weights that are not a constant"))?;
                    chain_edits(
                        g,
                        &chain,
                        &Sel {
                            axis: 1,
                            ..sel.clone()
                        },
                        edits,
                    )?;
                    updated.insert(name);
                }
                (Op::BatchNorm(_), 0) if sel.axis == 1 => {
                    param_edits(g, u, rank, &sel, edits)?;
                    updated.insert(name);
                    queue.push((u, sel.clone()));
                }
                (
                    Op::Add
                    | Op::Mul
                    | Op::BipolarQuant
                    | Op::Quant(_)
                    | Op::Trunc(_)
                    | Op::QuantizeLinear(_)
                    | Op::DequantizeLinear(_),
                    _,
                ) if same_shape => {
                    let data_slot = e.slot;
                    let others_const = g
                        .operands(u)
                        .iter()
                        .filter(|(_, oe)| oe.slot != data_slot)
                        .all(|(s, _)| const_tensor(g, *s).is_some());
                    if !others_const || (data_slot != 0 && !matches!(node.op, Op::Add | Op::Mul)) {
                        return Err(format!(
                            "`{name}` ({}) combines the channels with another value",
                            node.op.name()
                        ));
                    }
                    other_param_edits(g, u, data_slot, rank, &sel, edits)?;
                    queue.push((u, sel.clone()));
                }
                (Op::Relu | Op::Clip(_) | Op::Sign, 0) => queue.push((u, sel.clone())),
                (Op::Pool(p), 0) if sel.axis + 1 + p.kernel.len() == in_shape.len() => {
                    queue.push((u, sel.clone()))
                }
                (Op::Flatten(f), 0) => {
                    queue.push((u, flattened(&in_shape, f.start_dim, f.end_dim, &sel)));
                }
                (Op::Reshape(r), 0) => {
                    let (start, new_sel) = reshape_as_flatten(&in_shape, &r.shape, &sel)
                        .ok_or_else(|| {
                            format!("`{name}` reshapes the channels other than by flattening")
                        })?;
                    let mut shape = r.shape.clone();
                    shape[start] = shape[start] / sel.len * sel.keep.len();
                    edits.push(Edit::Op {
                        node: u,
                        op: Box::new(Op::Reshape(Reshape { shape })),
                    });
                    updated.insert(name);
                    queue.push((u, new_sel));
                }
                (op, _) => {
                    return Err(format!(
                        "`{name}` ({}) reads its channels and cannot be updated",
                        op.name()
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Edits for the constant operands of a binary or quantizer op other than its data input.
fn other_param_edits(
    g: &Graph,
    id: NodeId,
    data_slot: usize,
    rank: usize,
    sel: &Sel,
    edits: &mut Vec<Edit>,
) -> Result<(), String> {
    let node = g.node(id);
    for (src, e) in g
        .operands(id)
        .into_iter()
        .filter(|(_, e)| e.slot != data_slot)
    {
        let t = const_tensor(g, src).ok_or("not a constant")?;
        let sliced = match &node.op {
            Op::QuantizeLinear(q) => slice_per_axis(t, q.axis, sel)?,
            Op::DequantizeLinear(q) => slice_per_axis(t, q.axis, sel)?,
            _ => slice_broadcast(t, rank, sel)?,
        };
        if let Some(tensor) = sliced {
            edits.push(Edit::Operand {
                reader: id,
                slot: e.slot,
                src,
                tensor,
            });
        }
    }
    Ok(())
}

/// The selection after flattening dimensions `start..=end` of a value of shape `shape`: a
/// selected channel becomes a block of consecutive entries.
fn flattened(shape: &[usize], start: usize, end: usize, sel: &Sel) -> Sel {
    if sel.axis < start {
        return sel.clone();
    }
    if sel.axis > end {
        return Sel {
            axis: sel.axis - (end - start),
            ..sel.clone()
        };
    }
    let outer: usize = shape[start..sel.axis].iter().product();
    let inner: usize = shape[sel.axis + 1..=end.min(shape.len().saturating_sub(1))]
        .iter()
        .product();
    let mut keep = Vec::with_capacity(outer * sel.keep.len() * inner);
    for o in 0..outer {
        for c in &sel.keep {
            for i in 0..inner {
                keep.push((o * sel.len + c) * inner + i);
            }
        }
    }
    Sel {
        axis: start,
        len: outer * sel.len * inner,
        keep,
    }
}

/// A reshape that only merges the trailing dimensions from some `start ≤ sel.axis` into one:
/// the merge start and the selection after it.
fn reshape_as_flatten(input: &[usize], target: &[usize], sel: &Sel) -> Option<(usize, Sel)> {
    let start = target.len().checked_sub(1)?;
    if start > sel.axis || input.get(..start)? != target.get(..start)? {
        return None;
    }
    let merged: usize = input[start..].iter().product();
    (target[start] == merged).then(|| (start, flattened(input, start, input.len() - 1, sel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_channels_by_l2_norm() {
        let w = Tensor::from_f32(vec![3, 2], vec![1.0, 1.0, 3.0, 0.0, 0.1, 0.1]).unwrap();
        assert_eq!(strongest(&w, 0, 2), vec![0, 1]);
        assert_eq!(strongest(&w, 0, 1), vec![1]);
        // Columns: norms 10.01 and 1.01.
        assert_eq!(strongest(&w, 1, 1), vec![0]);
    }

    #[test]
    fn flattening_turns_channels_into_blocks() {
        let sel = Sel {
            axis: 1,
            len: 3,
            keep: vec![0, 2],
        };
        let f = flattened(&[1, 3, 2, 2], 1, 3, &sel);
        assert_eq!(f.axis, 1);
        assert_eq!(f.len, 12);
        assert_eq!(f.keep, vec![0, 1, 2, 3, 8, 9, 10, 11]);
        let (start, r) = reshape_as_flatten(&[1, 3, 2, 2], &[1, 12], &sel).unwrap();
        assert_eq!((start, r), (1, f));
        assert!(reshape_as_flatten(&[1, 3, 2, 2], &[3, 4], &sel).is_none());
    }
}
