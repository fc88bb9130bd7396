//! Evaluating ops on constants with the reference interpreter, so that folding a constant
//! computes exactly what running the model would have computed (same rounding, same
//! saturation): the op is run as a one-node graph by [`snnc_ir::interp`].

use std::collections::{BTreeMap, BTreeSet};

use snnc_ir::{interp, verify, Graph, IrError, NodeId, Op, Tensor};

/// The value of the stateless `op` (a node called `name`) on the constant `inputs`, computed by
/// the reference interpreter. Errors name the node.
pub fn eval_op(name: &str, op: &Op, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    if op.is_stateful() || matches!(op, Op::Input { .. } | Op::Output { .. }) {
        return Err(IrError::node(
            name,
            op.name(),
            "cannot be evaluated on constants (it has state or is a graph input/output)",
        ));
    }
    let mut g = Graph::new("eval");
    let ids: Vec<NodeId> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_const(format!("{name} (input {i})"), (*t).clone()))
        .collect();
    let node = g.add_node(name, op.clone(), &ids)?;
    g.add_output(format!("{name} (value)"), node)?;
    let info = verify(&g)?;
    let mut out = interp::run(&g, &info, &[])?;
    out.pop()
        .ok_or_else(|| IrError::node(name, op.name(), "produced no value"))
}

/// True for a node whose value is the same at every step and for every input: a constant, or
/// a stateless op reading only such nodes over ordinary edges.
pub fn constant_derived(g: &Graph) -> Result<BTreeMap<NodeId, bool>, IrError> {
    let mut m = BTreeMap::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        let c = match node.op {
            Op::Const(_) => true,
            Op::Input { .. } | Op::Output { .. } => false,
            ref op if op.is_stateful() => false,
            _ => {
                let ops = g.operands(id);
                !ops.is_empty()
                    && ops
                        .iter()
                        .all(|(s, e)| !e.recurrent && m.get(s).copied().unwrap_or(false))
            }
        };
        m.insert(id, c);
    }
    Ok(m)
}

/// The values of those `targets` that are constant-derived ([`constant_derived`]), computed by
/// evaluating their constant ancestors in topological order. Other targets are left out.
pub fn const_values(g: &Graph, targets: &[NodeId]) -> Result<BTreeMap<NodeId, Tensor>, IrError> {
    let derived = constant_derived(g)?;
    let is_derived = |id: &NodeId| derived.get(id).copied().unwrap_or(false);
    let mut needed = BTreeSet::new();
    let mut stack: Vec<NodeId> = targets.iter().copied().filter(is_derived).collect();
    while let Some(id) = stack.pop() {
        if needed.insert(id) {
            stack.extend(g.operands(id).into_iter().map(|(s, _)| s));
        }
    }
    let mut values: BTreeMap<NodeId, Tensor> = BTreeMap::new();
    for id in g.topo_order()?.into_iter().filter(|i| needed.contains(i)) {
        let node = g.node(id);
        let v = match &node.op {
            Op::Const(t) => t.clone(),
            op => {
                let srcs: Vec<NodeId> = g.operands(id).into_iter().map(|(s, _)| s).collect();
                let ins: Vec<&Tensor> = srcs.iter().filter_map(|s| values.get(s)).collect();
                if ins.len() != srcs.len() {
                    return Err(IrError::node(
                        &node.name,
                        op.name(),
                        "an input has no value",
                    ));
                }
                eval_op(&node.name, op, &ins)?
            }
        };
        values.insert(id, v);
    }
    values.retain(|id, _| targets.contains(id));
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::QuantizeLinear;
    use snnc_ir::DType;

    #[test]
    fn evaluates_quantize_linear_like_the_interpreter() {
        let x = Tensor::from_f32(vec![4], vec![0.5, -1.26, 2.5, 300.0]).unwrap();
        let s = Tensor::scalar_f32(0.5);
        let op = Op::QuantizeLinear(QuantizeLinear {
            axis: 0,
            out: DType::I8,
        });
        let y = eval_op("q", &op, &[&x, &s]).unwrap();
        assert_eq!(y.dtype(), DType::I8);
        // round half to even, saturate at 127
        assert_eq!(y.as_i64().unwrap(), &[1, -3, 5, 127]);
    }

    #[test]
    fn refuses_stateful_and_names_failing_nodes() {
        let a = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
        let err = eval_op("mm", &Op::MatMul, &[&a, &a]).unwrap_err();
        assert!(err.to_string().contains("`mm`"), "{err}");
    }

    #[test]
    fn values_of_constant_chains_only() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", snnc_ir::TensorType::f32(vec![2]));
        let c = g.add_const("c", Tensor::from_f32(vec![2], vec![-1.0, 2.0]).unwrap());
        let r = g.add_node("r", Op::Relu, &[c]).unwrap();
        let s = g.add_node("s", Op::Add, &[x, r]).unwrap();
        g.add_output("y", s).unwrap();
        let v = const_values(&g, &[r, s]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[&r].as_f32().unwrap(), &[0.0, 2.0]);
    }
}
