//! Where a layer's weights live and how tensors lose rows: the constant behind a weight operand
//! (through quantizers), slicing along an axis, and the per-channel parameters of ops that
//! broadcast against a value.

use snnc_ir::{DType, Data, Graph, NodeId, Op, Tensor};

/// A layer operand traced back to the constant that stores it.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// The constant.
    pub konst: NodeId,
    /// The node reading the constant, and the slot.
    pub reader: (NodeId, usize),
    /// Quantizers and clips between the constant and the layer, from the constant outward.
    pub ops: Vec<NodeId>,
}

impl Chain {
    /// Whether a weight of this chain can be zero: not through a BipolarQuant (±s only) and not
    /// stored as ±1.
    pub(crate) fn can_hold_zero(&self, g: &Graph) -> bool {
        let binary_const =
            matches!(&g.node(self.konst).op, Op::Const(t) if t.dtype() == DType::Bin);
        !binary_const
            && !self
                .ops
                .iter()
                .any(|o| matches!(g.node(*o).op, Op::BipolarQuant))
    }
}

/// The constant feeding input `slot` of `node`, through QuantizeLinear, DequantizeLinear, Clip,
/// Quant and BipolarQuant (each reading it in slot 0).
pub(crate) fn trace(g: &Graph, node: NodeId, slot: usize) -> Option<Chain> {
    let mut reader = (node, slot);
    let mut cur = g.operand(node, slot)?;
    let mut ops = Vec::new();
    loop {
        match &g.node(cur).op {
            Op::Const(_) => break,
            Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::Clip(_)
            | Op::Quant(_)
            | Op::BipolarQuant => {
                ops.push(cur);
                reader = (cur, 0);
                cur = g.operand(cur, 0)?;
            }
            _ => return None,
        }
    }
    ops.reverse();
    Some(Chain {
        konst: cur,
        reader,
        ops,
    })
}

/// The constant tensor of node `id`.
pub(crate) fn const_tensor(g: &Graph, id: NodeId) -> Option<&Tensor> {
    match &g.node(id).op {
        Op::Const(t) => Some(t),
        _ => None,
    }
}

/// The name of a pruned copy of constant `name`: `name.pruned` (once, however often the
/// constant is pruned again; [`crate::passes::binarize::Names`] numbers repeats).
pub(crate) fn pruned_name(name: &str) -> String {
    let base = name.split(".pruned").next().unwrap_or(name);
    format!("{base}.pruned")
}

/// `t` with only the entries `keep` (increasing) along `axis`.
pub(crate) fn slice_axis(t: &Tensor, axis: usize, keep: &[usize]) -> Result<Tensor, String> {
    let shape = t.shape();
    let len = *shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} is outside the shape {shape:?}"))?;
    if let Some(bad) = keep.iter().find(|k| **k >= len) {
        return Err(format!(
            "index {bad} is outside axis {axis} of length {len}"
        ));
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut new_shape = shape.to_vec();
    new_shape[axis] = keep.len();
    fn pick<T: Copy>(v: &[T], outer: usize, len: usize, inner: usize, keep: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * keep.len() * inner);
        for o in 0..outer {
            for k in keep {
                let start = (o * len + k) * inner;
                out.extend_from_slice(&v[start..start + inner]);
            }
        }
        out
    }
    match t.data() {
        Data::F32(v) => Tensor::from_f32(new_shape, pick(v, outer, len, inner, keep)),
        Data::I64(v) => Tensor::from_i64(t.dtype(), new_shape, pick(v, outer, len, inner, keep)),
    }
    .map_err(|e| e.to_string())
}

/// Entries selected along one axis of a value: the channels that stay.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sel {
    pub axis: usize,
    /// The axis' length before pruning.
    pub len: usize,
    /// The entries that stay, increasing.
    pub keep: Vec<usize>,
}

/// A constant that broadcasts against a value of rank `rank` (right-aligned, NumPy), sliced to
/// the selection: `Ok(None)` when it does not vary along the selected axis (nothing to do).
pub(crate) fn slice_broadcast(
    t: &Tensor,
    rank: usize,
    sel: &Sel,
) -> Result<Option<Tensor>, String> {
    let r = t.rank();
    if r > rank {
        return Err(format!(
            "a parameter of shape {:?} has a higher rank than the value ({rank})",
            t.shape()
        ));
    }
    let offset = rank - r;
    if sel.axis < offset {
        return Ok(None);
    }
    let ax = sel.axis - offset;
    match t.shape().get(ax).copied().unwrap_or(1) {
        1 => Ok(None),
        d if d == sel.len => slice_axis(t, ax, &sel.keep).map(Some),
        d => Err(format!(
            "a parameter of shape {:?} has {d} entries along the pruned axis of length {}",
            t.shape(),
            sel.len
        )),
    }
}

/// A QuantizeLinear/DequantizeLinear scale or zero point (scalar, or 1-D along the op's
/// `axis`), sliced to the selection.
pub(crate) fn slice_per_axis(
    t: &Tensor,
    op_axis: usize,
    sel: &Sel,
) -> Result<Option<Tensor>, String> {
    match t.shape() {
        [] | [1] => Ok(None),
        [n] if *n == sel.len && op_axis == sel.axis => slice_axis(t, 0, &sel.keep).map(Some),
        [_] if op_axis != sel.axis => Ok(None),
        s => Err(format!(
            "a per-axis quantization parameter of shape {s:?} does not match the pruned axis"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v).unwrap()
    }

    #[test]
    fn slices_rows_and_columns() {
        let t = f(&[3, 2], vec![1., 2., 3., 4., 5., 6.]);
        let r = slice_axis(&t, 0, &[0, 2]).unwrap();
        assert_eq!(r.shape(), &[2, 2]);
        assert_eq!(r.as_f32().unwrap(), &[1., 2., 5., 6.]);
        let c = slice_axis(&t, 1, &[1]).unwrap();
        assert_eq!(c.as_f32().unwrap(), &[2., 4., 6.]);
        assert!(slice_axis(&t, 0, &[3]).is_err());
        let i = Tensor::from_i64(DType::I8, vec![2, 2], vec![1, -2, 3, -4]).unwrap();
        let s = slice_axis(&i, 1, &[0]).unwrap();
        assert_eq!(
            (s.dtype(), s.as_i64().unwrap()),
            (DType::I8, &[1i64, 3][..])
        );
    }

    #[test]
    fn broadcast_parameters() {
        let sel = Sel {
            axis: 1,
            len: 3,
            keep: vec![0, 2],
        };
        let per_channel = f(&[3], vec![1., 2., 3.]);
        // Against a [N, 3] value: sliced.
        let s = slice_broadcast(&per_channel, 2, &sel).unwrap().unwrap();
        assert_eq!(s.as_f32().unwrap(), &[1., 3.]);
        // A [3, 1, 1] parameter against a [N, 3, H, W] value.
        let conv = f(&[3, 1, 1], vec![1., 2., 3.]);
        let s = slice_broadcast(&conv, 4, &sel).unwrap().unwrap();
        assert_eq!(s.shape(), &[2, 1, 1]);
        assert!(slice_broadcast(&f(&[], vec![2.0]), 2, &sel)
            .unwrap()
            .is_none());
        assert!(slice_broadcast(&f(&[4], vec![0.; 4]), 2, &sel).is_err());
        assert!(slice_per_axis(&per_channel, 1, &sel).unwrap().is_some());
        assert!(slice_per_axis(&f(&[1], vec![1.]), 1, &sel)
            .unwrap()
            .is_none());
    }
}
