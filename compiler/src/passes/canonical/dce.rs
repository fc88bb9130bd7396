//! `dce`: remove every node no graph output depends on. Graph inputs stay even when unused:
//! they are the model's interface.

use std::collections::BTreeSet;

use snnc_ir::{Graph, NodeId, Op};

use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "dce";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "remove nodes that no graph output depends on (inputs stay)",
    usage: "dce",
    run,
};

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    args.check(&[], &[])?;
    let live = live_nodes(g);
    let mut report = PassReport::new(NAME);
    for id in g.node_ids() {
        let keep = live.contains(&id) || matches!(g.node(id).op, Op::Input { .. });
        if !keep {
            g.remove_node(id);
            report.changed += 1;
        }
    }
    if report.changed > 0 {
        report
            .notes
            .push(format!("removed {} dead node(s)", report.changed));
    }
    Ok(report)
}

/// Nodes some graph output reads, directly or through any chain of edges (recurrent included).
pub fn live_nodes(g: &Graph) -> BTreeSet<NodeId> {
    let mut live = BTreeSet::new();
    let mut stack: Vec<NodeId> = g.outputs().to_vec();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(g.operands(id).into_iter().map(|(s, _)| s));
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::canonical::testutil::{args, assert_same_outputs, run_checked};
    use snnc_ir::{Tensor, TensorType};

    #[test]
    fn removes_dead_chains_keeps_inputs_and_recurrence() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let unused = g.add_input("unused", TensorType::f32(vec![2]));
        let c = g.add_const("c", Tensor::scalar_f32(1.0));
        let dead = g.add_node("dead", Op::Add, &[unused, c]).unwrap();
        g.add_node("dead2", Op::Relu, &[dead]).unwrap();
        let r = g.add_node("r", Op::Relu, &[x]).unwrap();
        g.add_output("y", r).unwrap();
        let before = g.clone();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(rep.changed, 3);
        assert_eq!(g.len(), 4);
        assert!(g.get(unused).is_some());
        assert_same_outputs(&before, &g, 0.0);
        let again = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(again.changed, 0);
    }

    #[test]
    fn keeps_nodes_reached_over_recurrent_edges() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let add = g.add_node_untyped("add", Op::Add);
        let relu = g.add_node_untyped("relu", Op::Relu);
        g.connect(x, add, 0, false).unwrap();
        g.connect(relu, add, 1, true).unwrap();
        g.connect(add, relu, 0, false).unwrap();
        let o = g.add_node_untyped("y", Op::Output { index: 0 });
        g.connect(add, o, 0, false).unwrap();
        g.infer_types().unwrap();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(rep.changed, 0);
        assert!(g.get(relu).is_some());
    }
}
