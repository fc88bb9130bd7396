//! `const-fold`: replace every stateless node whose inputs are all constants by a constant
//! holding its value, computed by the reference interpreter (so folding never changes a result
//! by a rounding). The constant keeps the node's name.
//!
//! Examples: `QuantizeLinear(Const W)` becomes an `i8` constant (the integer weights),
//! `Clip` of that stays `i8`, `BipolarQuant(Const W, s)` becomes the `±s` constant.
//!
//! Ops that turn integers back into reals (`DequantizeLinear`, QONNX `Quant` and `Trunc`) are
//! kept by default: their output is the real-valued view of an already quantized tensor, and the
//! quantization passes read the integer tensor and its scale from them (a model that arrives
//! quantized keeps its exact quantization). `const-fold=all` folds them too. A folded
//! `BipolarQuant` loses nothing: `±s` still states the sign and the scale.

use snnc_ir::{Graph, NodeId, Op, Tensor};

use super::eval::eval_op;
use super::util::{const_of, replace_by_const, retype};
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "const-fold";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "evaluate nodes whose inputs are all constants (QuantizeLinear of weights -> int8 constants)",
    usage: "const-fold[=all]   all: also fold DequantizeLinear and QONNX Quant/Trunc of constants",
    run,
};

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    args.check(&["all"], &[])?;
    let all = args.has("all");
    let mut report = PassReport::new(NAME);
    let order = g.topo_order().map_err(|e| PassError::ir(NAME, e))?;
    for id in order {
        if g.get(id).is_none() || !foldable(g, id, all) {
            continue;
        }
        let value = value_of(g, id)?;
        replace_by_const(g, id, value);
        report.changed += 1;
    }
    retype(g, NAME)?;
    if report.changed > 0 {
        report
            .notes
            .push(format!("folded {} node(s) into constants", report.changed));
    }
    Ok(report)
}

/// True when `id` is a stateless op reading only constants over ordinary edges.
fn foldable(g: &Graph, id: NodeId, all: bool) -> bool {
    let op = &g.node(id).op;
    let excluded = match op {
        Op::Input { .. } | Op::Output { .. } | Op::Const(_) => true,
        Op::DequantizeLinear(_) | Op::Quant(_) | Op::Trunc(_) => !all,
        op => op.is_stateful(),
    };
    let ops = g.operands(id);
    !excluded
        && !ops.is_empty()
        && ops
            .iter()
            .all(|(s, e)| !e.recurrent && const_of(g, *s).is_some())
}

fn value_of(g: &Graph, id: NodeId) -> Result<Tensor, PassError> {
    let node = g.node(id);
    let ins: Vec<&Tensor> = g
        .operands(id)
        .iter()
        .filter_map(|(s, _)| const_of(g, *s))
        .collect();
    eval_op(&node.name, &node.op, &ins).map_err(|e| PassError::ir(NAME, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::canonical::testutil::{args, assert_same_outputs, run_checked};
    use snnc_ir::op::{Clip, DequantizeLinear, QuantizeLinear};
    use snnc_ir::{DType, TensorType};

    /// x + DQ(Clip(QL(W))) and BipolarQuant(W2): the QDQ weight chain of a QCDQ export.
    fn qdq_graph() -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 3]));
        let w = g.add_const(
            "w",
            Tensor::from_f32(vec![1, 3], vec![0.26, -0.5, 40.0]).unwrap(),
        );
        let s = g.add_const("s", Tensor::scalar_f32(0.1));
        let ql = QuantizeLinear {
            axis: 1,
            out: DType::I8,
        };
        let q = g.add_node("q", Op::QuantizeLinear(ql), &[w, s]).unwrap();
        let clip = Clip {
            min: Some(-127.0),
            max: Some(127.0),
        };
        let c = g.add_node("clip", Op::Clip(clip), &[q]).unwrap();
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: 1 });
        let d = g.add_node("dq", dq, &[c, s]).unwrap();
        let w2 = g.add_const(
            "w2",
            Tensor::from_f32(vec![1, 3], vec![0.0, -2.0, 3.0]).unwrap(),
        );
        let bq = g.add_node("bq", Op::BipolarQuant, &[w2, s]).unwrap();
        let a = g.add_node("a", Op::Add, &[x, d]).unwrap();
        let m = g.add_node("m", Op::Mul, &[a, bq]).unwrap();
        g.add_output("y", m).unwrap();
        g
    }

    fn find(g: &Graph, name: &str) -> NodeId {
        g.node_ids()
            .into_iter()
            .find(|i| g.node(*i).name == name)
            .unwrap()
    }

    #[test]
    fn folds_to_integer_weights_and_keeps_dequantize() {
        let mut g = qdq_graph();
        let before = g.clone();
        let r = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(r.changed, 3, "{r:?}");
        let q = const_of(&g, find(&g, "clip")).unwrap();
        assert_eq!(q.dtype(), DType::I8);
        assert_eq!(q.as_i64().unwrap(), &[3, -5, 127]);
        let bq = const_of(&g, find(&g, "bq")).unwrap();
        assert_eq!(bq.as_f32().unwrap(), &[0.1, -0.1, 0.1]);
        assert!(matches!(g.node(find(&g, "dq")).op, Op::DequantizeLinear(_)));
        assert_same_outputs(&before, &g, 0.0);
    }

    #[test]
    fn all_folds_the_dequantize_too() {
        let mut g = qdq_graph();
        let before = g.clone();
        let r = run_checked(run, &mut g, &args(NAME, "all"));
        assert_eq!(r.changed, 4);
        let dq = const_of(&g, find(&g, "dq")).unwrap();
        assert_eq!(dq.dtype(), DType::F32);
        assert_same_outputs(&before, &g, 0.0);
    }

    #[test]
    fn rejects_unknown_arguments() {
        let mut g = qdq_graph();
        let ctx = PassContext::default();
        assert!(matches!(
            run(&mut g, &args(NAME, "everything"), &ctx),
            Err(PassError::InvalidArgs { .. })
        ));
    }

    #[test]
    fn leaves_nodes_that_read_inputs() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let r = g.add_node("r", Op::Relu, &[x]).unwrap();
        g.add_output("y", r).unwrap();
        let r = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(r.changed, 0);
        assert!(r.notes.is_empty());
    }
}
