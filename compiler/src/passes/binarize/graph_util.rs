//! Small graph helpers shared by the `binarize` and `prune` passes: unique names for new nodes,
//! constant values, per-channel indexing of tensors, and removal of nodes nothing reads.

use std::collections::BTreeSet;

use snnc_ir::{Graph, NodeId, Op, Tensor};

use crate::passes::canonical::{dce, eval};
use crate::passes::PassError;

/// Unique names for the nodes a pass adds (the verifier requires unique names; users find nodes
/// by name, so new names extend the name of the node they come from).
pub(crate) struct Names {
    used: BTreeSet<String>,
}

impl Names {
    pub(crate) fn new(g: &Graph) -> Self {
        Names {
            used: g
                .node_ids()
                .iter()
                .map(|i| g.node(*i).name.clone())
                .collect(),
        }
    }

    /// `base` if unused, else `base.1`, `base.2`, ...; the name is then taken.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1usize;
        while self.used.contains(&name) {
            name = format!("{base}.{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// The value of `id` if it depends on constants only (a constant, or stateless ops over
/// constants, evaluated by the reference interpreter), else `None`.
pub(crate) fn const_value(g: &Graph, id: NodeId, pass: &str) -> Result<Option<Tensor>, PassError> {
    if let Op::Const(t) = &g.node(id).op {
        return Ok(Some(t.clone()));
    }
    let mut values = eval::const_values(g, &[id]).map_err(|e| PassError::ir(pass, e))?;
    Ok(values.remove(&id))
}

/// Remove every node no graph output depends on (graph inputs stay: they are the model's
/// interface). Returns how many were removed.
pub(crate) fn remove_dead(g: &mut Graph) -> usize {
    let live = dce::live_nodes(g);
    let mut removed = 0;
    for id in g.node_ids() {
        if !live.contains(&id) && !matches!(g.node(id).op, Op::Input { .. }) {
            g.remove_node(id);
            removed += 1;
        }
    }
    removed
}

/// Where element `i` (row-major) of a tensor of `shape` lies along `axis`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AxisIndex {
    /// Length of the axis.
    pub len: usize,
    /// Elements per step along the axis (product of the dimensions after it).
    pub inner: usize,
}

impl AxisIndex {
    pub(crate) fn new(shape: &[usize], axis: usize) -> Self {
        AxisIndex {
            len: shape.get(axis).copied().unwrap_or(1),
            inner: shape.get(axis + 1..).map_or(1, |s| s.iter().product()),
        }
    }

    /// The index along the axis of element `i`.
    pub(crate) fn of(self, i: usize) -> usize {
        (i / self.inner.max(1)) % self.len.max(1)
    }
}

/// The single element of a tensor that holds one value (any shape of one element, or a tensor
/// whose elements are all equal), as f32.
pub(crate) fn uniform_f32(t: &Tensor) -> Option<f32> {
    let v = t.to_f32_vec();
    let first = *v.first()?;
    v.iter()
        .all(|x| x.to_bits() == first.to_bits())
        .then_some(first)
}

/// For every element of a tensor of shape `to`, the index of the element of a tensor of shape
/// `from` that NumPy broadcasting reads, or `None` when `from` does not broadcast to `to`.
pub(crate) fn broadcast_index(from: &[usize], to: &[usize]) -> Option<Vec<usize>> {
    if !snnc_ir::broadcast::broadcasts_to(from, to) {
        return None;
    }
    let rank = to.len();
    // `from` right-aligned to `to`; a dimension of 1 (or a missing one) has stride 0.
    let mut strides = vec![0usize; rank];
    let mut acc = 1usize;
    for k in 0..from.len() {
        let d = from[from.len() - 1 - k];
        if d != 1 {
            strides[rank - 1 - k] = acc;
        }
        acc *= d;
    }
    let n: usize = to.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        out.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < to[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::TensorType;

    #[test]
    fn fresh_names_count_up() {
        let mut g = Graph::new("t");
        g.add_input("x", TensorType::f32(vec![2]));
        let mut n = Names::new(&g);
        assert_eq!(n.fresh("x"), "x.1");
        assert_eq!(n.fresh("x"), "x.2");
        assert_eq!(n.fresh("y"), "y");
        assert_eq!(n.fresh("y"), "y.1");
    }

    #[test]
    fn axis_index_and_uniform() {
        let a = AxisIndex::new(&[2, 3, 4], 1);
        assert_eq!((a.len, a.inner), (3, 4));
        assert_eq!(a.of(0), 0);
        assert_eq!(a.of(5), 1);
        assert_eq!(a.of(12), 0);
        assert_eq!(a.of(23), 2);
        let t = Tensor::from_f32(vec![1, 2], vec![0.5, 0.5]).unwrap();
        assert_eq!(uniform_f32(&t), Some(0.5));
        let t = Tensor::from_f32(vec![2], vec![0.5, 0.25]).unwrap();
        assert_eq!(uniform_f32(&t), None);
    }

    #[test]
    fn broadcast_indices() {
        assert_eq!(
            broadcast_index(&[3], &[2, 3]).unwrap(),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(
            broadcast_index(&[2, 1], &[2, 3]).unwrap(),
            vec![0, 0, 0, 1, 1, 1]
        );
        assert_eq!(broadcast_index(&[], &[2]).unwrap(), vec![0, 0]);
        assert!(broadcast_index(&[4], &[2, 3]).is_none());
    }

    #[test]
    fn const_values_and_dead_nodes() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let c = g.add_const("c", Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap());
        let d = g.add_node("d", Op::Add, &[c, c]).unwrap();
        let y = g.add_node("y", Op::Mul, &[x, d]).unwrap();
        let unused = g.add_node("unused", Op::Relu, &[x]).unwrap();
        g.add_output("out", y).unwrap();
        let v = const_value(&g, d, "t").unwrap().unwrap();
        assert_eq!(v.as_f32().unwrap(), &[2.0, 4.0]);
        assert!(const_value(&g, y, "t").unwrap().is_none());
        assert_eq!(remove_dead(&mut g), 1);
        assert!(g.get(unused).is_none());
        assert!(g.get(x).is_some());
    }
}
