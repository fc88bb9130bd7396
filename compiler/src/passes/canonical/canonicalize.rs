//! `canonicalize`: const-fold, fold-bn, dce and reshape-cleanup, repeated until a round changes
//! nothing (each can expose work for another: folding a weight's quantizer makes a BatchNorm
//! foldable, folding a BatchNorm leaves dead constants).

use snnc_ir::Graph;

use super::{const_fold, dce, fold_bn, reshape_cleanup};
use crate::passes::{PassArgs, PassContext, PassError, PassFn, PassInfo, PassReport};

pub const NAME: &str = "canonicalize";

/// Rounds after which the pass stops even if something still changes (each round removes or
/// folds at least one node, so a real graph reaches its fixed point long before).
const MAX_ROUNDS: usize = 32;

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "const-fold, fold-bn, dce and reshape-cleanup to a fixed point",
    usage: "canonicalize",
    run,
};

const STEPS: [(&str, PassFn); 4] = [
    (const_fold::NAME, const_fold::run),
    (fold_bn::NAME, fold_bn::run),
    (dce::NAME, dce::run),
    (reshape_cleanup::NAME, reshape_cleanup::run),
];

/// Run the pass (see the module docs).
pub fn run(g: &mut Graph, args: &PassArgs, ctx: &PassContext<'_>) -> Result<PassReport, PassError> {
    args.check(&[], &[])?;
    let mut report = PassReport::new(NAME);
    for round in 1..=MAX_ROUNDS {
        let mut changed = 0;
        for (name, f) in STEPS {
            let r = f(g, &PassArgs::parse(name, "")?, ctx)?;
            changed += r.changed;
            for note in r.notes {
                let note = format!("{name}: {note}");
                if !report.notes.contains(&note) {
                    report.notes.push(note);
                }
            }
        }
        report.changed += changed;
        if changed == 0 {
            report
                .notes
                .push(format!("fixed point after {round} round(s)"));
            return Ok(report);
        }
    }
    report.notes.push(format!(
        "stopped after {MAX_ROUNDS} rounds without a fixed point"
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::canonical::testutil::{args, assert_same_outputs, run_checked};
    use snnc_ir::op::{BatchNorm, Gemm, QuantizeLinear, Reshape};
    use snnc_ir::{DType, Op, Tensor, TensorType};

    #[test]
    fn reaches_a_fixed_point_through_all_four() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 2, 2]));
        let r = Op::Reshape(Reshape { shape: vec![1, 4] });
        let flat = g.add_node("flat", r.clone(), &[x]).unwrap();
        let same = g.add_node("same", r, &[flat]).unwrap();
        // A weight computed from constants: Relu(W) is foldable, then the BatchNorm is.
        let w0 = Tensor::from_f32(vec![3, 4], (0..12).map(|i| i as f32 / 6.0 - 1.0).collect());
        let w0 = g.add_const("w0", w0.unwrap());
        let w = g.add_node("w", Op::Relu, &[w0]).unwrap();
        let gm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        let l = g.add_node("gemm", Op::Gemm(gm), &[same, w]).unwrap();
        let p: Vec<_> = (0..4)
            .map(|k| {
                let v = (0..3).map(|i| 0.5 + (i + k) as f32 / 4.0).collect();
                g.add_const(format!("p{k}"), Tensor::from_f32(vec![3], v).unwrap())
            })
            .collect();
        let bn = Op::BatchNorm(BatchNorm { epsilon: 1e-5 });
        let b = g.add_node("bn", bn, &[l, p[0], p[1], p[2], p[3]]).unwrap();
        g.add_output("y", b).unwrap();
        // An unused quantized constant.
        let s = g.add_const("s", Tensor::scalar_f32(0.5));
        let ql = QuantizeLinear {
            axis: 0,
            out: DType::I8,
        };
        g.add_node("q", Op::QuantizeLinear(ql), &[w0, s]).unwrap();
        let before = g.clone();
        let rep = run_checked(run, &mut g, &args(NAME, ""));
        assert!(
            rep.notes.iter().any(|n| n.starts_with("fixed point")),
            "{rep:?}"
        );
        // input, one reshape, gemm, folded weight, folded bias, output
        assert_eq!(
            g.len(),
            6,
            "{}",
            snnc_ir::text::print(&g, &Default::default())
        );
        assert_same_outputs(&before, &g, 1e-5);
        let again = run_checked(run, &mut g, &args(NAME, ""));
        assert_eq!(again.changed, 0);
    }

    #[test]
    fn rejects_arguments() {
        let mut g = Graph::new("t");
        let ctx = PassContext::default();
        assert!(run(&mut g, &args(NAME, "fast"), &ctx).is_err());
    }
}
