//! `reshape-cleanup`: shape-only ops are free in the IR but cost a copy or a kernel call on a
//! target, so chains of Reshape/Flatten become one Reshape, and a Reshape/Flatten that does not
//! change the shape disappears.

use snnc_ir::op::Reshape;
use snnc_ir::{Graph, NodeId, Op};

use super::util::retype;
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "reshape-cleanup";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "drop Reshape/Flatten that keep the shape; merge consecutive ones into one Reshape",
    usage: "reshape-cleanup",
    run,
};

fn is_shape_op(op: &Op) -> bool {
    matches!(op, Op::Reshape(_) | Op::Flatten(_))
}

/// The node feeding input 0 of `id` over an ordinary edge.
fn direct_input(g: &Graph, id: NodeId) -> Option<NodeId> {
    g.operands(id)
        .into_iter()
        .find(|(_, e)| e.slot == 0 && !e.recurrent)
        .map(|(s, _)| s)
}

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    args.check(&[], &[])?;
    let (mut merged, mut removed) = (0, 0);
    for id in g.topo_order().map_err(|e| PassError::ir(NAME, e))? {
        if g.get(id).is_none() || !is_shape_op(&g.node(id).op) {
            continue;
        }
        let Some(src) = direct_input(g, id) else {
            continue;
        };
        let mut input = src;
        if is_shape_op(&g.node(src).op) {
            if let Some(inner) = direct_input(g, src) {
                let shape = g.ty(id).shape.clone();
                g.set_operand(id, 0, inner);
                g.node_mut(id).op = Op::Reshape(Reshape { shape });
                if g.users(src).is_empty() {
                    g.remove_node(src);
                }
                merged += 1;
                input = inner;
            }
        }
        if g.ty(input).shape == g.ty(id).shape {
            g.replace_uses(id, input);
            g.remove_node(id);
            removed += 1;
        }
    }
    retype(g, NAME)?;
    let mut report = PassReport::new(NAME);
    report.changed = merged + removed;
    if merged > 0 {
        report
            .notes
            .push(format!("merged {merged} Reshape/Flatten chain link(s)"));
    }
    if removed > 0 {
        report.notes.push(format!(
            "removed {removed} Reshape/Flatten that kept the shape"
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::canonical::testutil::{args, assert_same_outputs, run_checked};
    use snnc_ir::op::Flatten;
    use snnc_ir::TensorType;

    fn reshape(shape: &[usize]) -> Op {
        Op::Reshape(Reshape {
            shape: shape.to_vec(),
        })
    }

    #[test]
    fn merges_chains_and_drops_identities() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 2, 3, 4]));
        let f = Op::Flatten(Flatten {
            start_dim: 2,
            end_dim: 3,
        });
        let a = g.add_node("a", f, &[x]).unwrap();
        let b = g.add_node("b", reshape(&[1, 24]), &[a]).unwrap();
        let c = g.add_node("c", reshape(&[1, 24]), &[b]).unwrap();
        let r = g.add_node("r", Op::Relu, &[c]).unwrap();
        let d = g.add_node("d", reshape(&[1, 2, 3, 4]), &[r]).unwrap();
        let e = g.add_node("e", reshape(&[1, 2, 12]), &[d]).unwrap();
        let o = g.add_output("y", e).unwrap();
        let before = g.clone();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        // a,b merge into b; b,c merge into c; d,e merge into e: one reshape each side of relu.
        assert_eq!(
            g.len(),
            5,
            "{}",
            snnc_ir::text::print(&g, &Default::default())
        );
        assert_eq!(rep.changed, 3);
        let last = g.operand(o, 0).unwrap();
        assert_eq!(g.node(last).op, reshape(&[1, 2, 12]));
        let relu_in = g.operand(r, 0).unwrap();
        assert_eq!(g.operand(relu_in, 0), Some(x));
        assert_same_outputs(&before, &g, 0.0);
    }

    #[test]
    fn removes_identity_reshape_before_output() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 6]));
        let a = g.add_node("a", reshape(&[1, 6]), &[x]).unwrap();
        let o = g.add_output("y", a).unwrap();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(rep.changed, 1);
        assert_eq!(g.operand(o, 0), Some(x));
    }

    #[test]
    fn keeps_a_reshape_whose_input_has_other_users() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 6]));
        let a = g.add_node("a", reshape(&[2, 3]), &[x]).unwrap();
        let b = g.add_node("b", reshape(&[3, 2]), &[a]).unwrap();
        g.add_output("y", a).unwrap();
        g.add_output("z", b).unwrap();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(rep.changed, 1);
        assert!(g.get(a).is_some());
        assert_eq!(g.operand(b, 0), Some(x));
    }
}
