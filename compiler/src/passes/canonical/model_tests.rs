//! Every canonicalization pass on the shared models: the result verifies and the reference
//! interpreter computes the same outputs on the digits test set as before the pass.

use std::path::{Path, PathBuf};

use snnc_ir::verify;

use crate::load::load;
use crate::npy::{self, Array};
use crate::passes::{parse_pipeline, run_pipeline, PassContext};
use crate::sim::{simulate, BatchInput, Encoding, Reduce, SimOptions};

fn models(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/models")
        .join(rel)
}

/// The first 64 test digits.
fn digits() -> Array {
    let x = npy::read(&models("data/digits_test_x.npy")).unwrap();
    Array {
        shape: vec![64, 64],
        data: x.data[..64 * 64].to_vec(),
    }
}

fn outputs(path: &Path, g: &snnc_ir::Graph, x: &Array, steps: usize) -> Vec<f32> {
    let info = verify(g).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let opts = SimOptions {
        steps,
        dt: 1e-4,
        reduce: Reduce::Sum,
        encoding: Encoding::Direct,
        seed: 0,
        threads: 2,
    };
    let input = BatchInput { array: x, path };
    let mut y = simulate(path, g, &info, &[input], &opts).unwrap();
    y.remove(0).data
}

/// Run `spec` on `model`; outputs before and after differ by at most `tol`.
fn check(model: &str, spec: &str, steps: usize, tol: f32) -> usize {
    let path = models(model);
    let mut m = load(&path).unwrap();
    let x = digits();
    let before = outputs(&path, &m.graph, &x, steps);
    let pipeline = parse_pipeline(spec).unwrap();
    let reports = run_pipeline(&mut m.graph, &pipeline, &PassContext::default())
        .unwrap_or_else(|e| panic!("{model} {spec}: {e}"));
    let after = outputs(&path, &m.graph, &x, steps);
    let diff = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= tol, "{model} {spec}: max |diff| = {diff}");
    reports.iter().map(|r| r.changed).sum()
}

const PASSES: [&str; 5] = [
    "const-fold",
    "fold-bn",
    "dce",
    "reshape-cleanup",
    "canonicalize",
];

#[test]
fn ann_mlp_within_1e5() {
    for p in PASSES {
        check("ann_mlp/ann_mlp.onnx", p, 1, 1e-5);
    }
}

#[test]
fn quantized_models_are_bit_exact() {
    // No BatchNorm of these folds (bnn_mlp's are binary or feed signs), and folded constants
    // are computed by the interpreter itself: nothing may change by even one rounding.
    for p in PASSES {
        check("qcnn_int8/qcnn_int8.qcdq.onnx", p, 1, 0.0);
        check("bnn_mlp/bnn_mlp.qonnx.onnx", p, 1, 0.0);
    }
    assert_eq!(
        check("qcnn_int8/qcnn_int8.qcdq.onnx", "canonicalize", 1, 0.0),
        14
    );
}

#[test]
fn snn_mlp_spike_counts_unchanged() {
    for p in PASSES {
        check("snn_mlp/snn_mlp.nir", p, 16, 0.0);
    }
}
