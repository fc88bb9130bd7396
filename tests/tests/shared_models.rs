//! Every shared model imports, verifies and simulates, and agrees with the outputs of the
//! framework that exported it (the acceptance numbers of issue 2).

use snnc_compiler::load::load;
use snnc_compiler::npy::Array;
use snnc_tests::{accuracy, argmax_rows, max_abs_diff, model_file, read_npy, run_digits, test_y};

fn run(model: &str, steps: usize) -> Array {
    let m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
    run_digits(&m.graph, &m.info, steps)
}

/// Logits within `tol` of the reference on every input, and the same argmax everywhere.
fn check_logits(model: &str, reference: &str, tol: f32) {
    let y = run(model, 1);
    let r = read_npy(&model_file(reference));
    assert_eq!(y.shape, vec![360, 10]);
    let d = max_abs_diff(&y, &r);
    let same = argmax_rows(&y)
        .iter()
        .zip(argmax_rows(&r))
        .filter(|(a, b)| **a == *b)
        .count();
    eprintln!(
        "{model}: max |y - ref| = {d:.3e}, argmax equal on {same}/360, accuracy {:.1}%",
        100.0 * accuracy(&argmax_rows(&y), &test_y())
    );
    assert!(d <= tol, "{model}: max abs diff {d} > {tol}");
    assert_eq!(same, 360, "{model}: argmax differs");
}

#[test]
fn ann_mlp_matches_pytorch() {
    check_logits("ann_mlp/ann_mlp.onnx", "ann_mlp/ref_logits.npy", 1e-4);
}

#[test]
fn bnn_mlp_matches_qonnx_executor() {
    check_logits(
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "bnn_mlp/ref_logits_qonnx_exec.npy",
        1e-4,
    );
}

#[test]
fn qcnn_int8_matches_onnxruntime() {
    check_logits(
        "qcnn_int8/qcnn_int8.qcdq.onnx",
        "qcnn_int8/ref_logits_onnxruntime.npy",
        1e-4,
    );
}

#[test]
fn snn_mlp_matches_snntorch_spike_counts() {
    let y = run("snn_mlp/snn_mlp.nir", 16);
    let r = read_npy(&model_file("snn_mlp/ref_spike_counts.npy"));
    assert_eq!(y.shape, r.shape);
    let equal_rows = y
        .data
        .chunks(10)
        .zip(r.data.chunks(10))
        .filter(|(a, b)| a == b)
        .count();
    let acc = accuracy(&argmax_rows(&y), &test_y());
    let ref_acc = accuracy(&argmax_rows(&r), &test_y());
    eprintln!(
        "snn_mlp: spike counts equal on {equal_rows}/360 inputs, accuracy {:.2}% (snnTorch {:.2}%)",
        100.0 * acc,
        100.0 * ref_acc
    );
    assert!(equal_rows * 100 >= 99 * 360, "only {equal_rows}/360 equal");
    assert!((ref_acc - 0.975).abs() < 1e-9, "reference accuracy changed");
    assert!((acc - ref_acc).abs() < 1e-9, "accuracy {acc} != {ref_acc}");
}
