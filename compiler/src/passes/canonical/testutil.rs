//! Test helpers of the canonicalization passes: run a pass, verify, and compare what the
//! reference interpreter computes before and after.

use snnc_ir::{interp, verify, Graph, Tensor};

use crate::passes::{PassArgs, PassContext, PassFn, PassReport};

pub(crate) fn args(pass: &str, text: &str) -> PassArgs {
    PassArgs::parse(pass, text).unwrap()
}

/// Run `f` with a default context; the result must verify.
pub(crate) fn run_checked(f: PassFn, g: &mut Graph, a: &PassArgs) -> PassReport {
    let r = f(g, a, &PassContext::default()).unwrap_or_else(|e| panic!("{e}"));
    verify(g).unwrap_or_else(|e| panic!("{} left an invalid graph: {e}", a.pass()));
    r
}

/// Deterministic inputs covering negative and positive values.
pub(crate) fn sample_inputs(g: &Graph, seed: usize) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|id| {
            let ty = g.ty(*id);
            let n = ty.numel();
            let v: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 + seed * 104_729) % 200) as f32 / 100.0 - 1.0)
                .collect();
            Tensor::from_f32(ty.shape.clone(), v).unwrap()
        })
        .collect()
}

/// The outputs of the two (stateless) graphs agree within `tol` on a few inputs.
pub(crate) fn assert_same_outputs(before: &Graph, after: &Graph, tol: f32) {
    let (ib, ia) = (verify(before).unwrap(), verify(after).unwrap());
    for seed in 0..3 {
        let x = sample_inputs(before, seed);
        let yb = interp::run(before, &ib, &x).unwrap();
        let ya = interp::run(after, &ia, &x).unwrap();
        assert_eq!(yb.len(), ya.len());
        for (b, a) in yb.iter().zip(&ya) {
            assert_eq!(b.shape(), a.shape());
            for (u, v) in b.to_f32_vec().iter().zip(a.to_f32_vec()) {
                assert!((u - v).abs() <= tol, "{u} vs {v} (tolerance {tol})");
            }
        }
    }
}
