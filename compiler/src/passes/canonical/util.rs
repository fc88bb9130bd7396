//! Small graph edits shared by the canonicalization passes.

use std::collections::BTreeSet;

use snnc_ir::{Graph, NodeId, Op, Tensor};

use crate::passes::PassError;

/// The tensor of `id` when it is a constant.
pub(crate) fn const_of(g: &Graph, id: NodeId) -> Option<&Tensor> {
    match &g.node(id).op {
        Op::Const(t) => Some(t),
        _ => None,
    }
}

/// The constant feeding input `slot` of `id` over an ordinary (non-recurrent) edge, if any.
pub(crate) fn const_operand(g: &Graph, id: NodeId, slot: usize) -> Option<&Tensor> {
    let (src, e) = g.operands(id).into_iter().find(|(_, e)| e.slot == slot)?;
    if e.recurrent {
        return None;
    }
    const_of(g, src)
}

/// `base` if no node is called that yet, else `base.1`, `base.2`, ...: new nodes need unique
/// names (the verifier requires them, and users find nodes by name).
pub(crate) fn unique_name(g: &Graph, base: &str) -> String {
    let names: BTreeSet<&str> = g
        .node_ids()
        .iter()
        .map(|i| g.node(*i).name.as_str())
        .collect();
    if !names.contains(base) {
        return base.to_string();
    }
    (1..)
        .map(|k| format!("{base}.{k}"))
        .find(|n| !names.contains(n.as_str()))
        .unwrap_or_else(|| base.to_string())
}

/// Replace node `id` by a constant holding `t` under the same name: every reader now reads the
/// constant. Returns the constant's id.
pub(crate) fn replace_by_const(g: &mut Graph, id: NodeId, t: Tensor) -> NodeId {
    let name = g.node(id).name.clone();
    let c = g.add_const(name, t);
    g.replace_uses(id, c);
    g.remove_node(id);
    c
}

/// True for a float tensor whose values are all `±s` for one `s > 0`: binary weights with a
/// scale, as a folded QONNX `BipolarQuant` leaves them.
pub(crate) fn is_binary_valued(t: &Tensor) -> bool {
    let v = t.as_f32().unwrap_or(&[]);
    match v.first() {
        Some(first) if *first != 0.0 => v.iter().all(|x| x.abs() == first.abs()),
        _ => false,
    }
}

/// Recompute every node's type after a rewrite changed what flows into it.
pub(crate) fn retype(g: &mut Graph, pass: &str) -> Result<(), PassError> {
    g.infer_types().map_err(|e| PassError::ir(pass, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values() {
        let t = |v: Vec<f32>| Tensor::from_f32(vec![v.len()], v).unwrap();
        assert!(is_binary_valued(&t(vec![0.1, -0.1, 0.1])));
        assert!(!is_binary_valued(&t(vec![0.1, -0.2])));
        assert!(!is_binary_valued(&t(vec![0.0, 0.0])));
        assert!(!is_binary_valued(&Tensor::zeros(
            snnc_ir::DType::I8,
            vec![2]
        )));
    }

    #[test]
    fn unique_names_count_up() {
        let mut g = Graph::new("t");
        g.add_const("w", Tensor::scalar_f32(1.0));
        g.add_const("w.1", Tensor::scalar_f32(1.0));
        assert_eq!(unique_name(&g, "b"), "b");
        assert_eq!(unique_name(&g, "w"), "w.2");
    }

    #[test]
    fn replacing_by_a_constant_keeps_the_name_and_readers() {
        let mut g = Graph::new("t");
        let a = g.add_const("a", Tensor::scalar_f32(2.0));
        let r = g.add_node("r", Op::Relu, &[a]).unwrap();
        let o = g.add_output("y", r).unwrap();
        let c = replace_by_const(&mut g, r, Tensor::scalar_f32(2.0));
        assert_eq!(g.node(c).name, "r");
        assert_eq!(g.operand(o, 0), Some(c));
        assert!(g.get(r).is_none());
        assert_eq!(const_operand(&g, o, 0), Some(&Tensor::scalar_f32(2.0)));
    }
}
