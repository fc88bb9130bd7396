//! Accuracy of the binarize and prune passes on the shared models, measured by the reference
//! interpreter on the 360 digits test inputs (issue 3's acceptance numbers).

use std::path::Path;

use snnc_compiler::load::load;
use snnc_compiler::npy::Array;
use snnc_compiler::passes::{parse_pipeline, run_pipeline, PassContext, PassReport};
use snnc_compiler::sim::{simulate, BatchInput, Encoding, Reduce, SimOptions};
use snnc_ir::{verify, Graph, GraphInfo};
use snnc_tests::{accuracy, argmax_rows, max_abs_diff, model_file, read_npy};

/// The model after `passes` (verified after every pass), with the pass reports.
fn transformed(model: &str, passes: &str) -> (Graph, GraphInfo, Vec<PassReport>) {
    let mut g = load(&model_file(model))
        .unwrap_or_else(|e| panic!("{e}"))
        .graph;
    let steps = parse_pipeline(passes).unwrap_or_else(|e| panic!("{e}"));
    let mut reports = Vec::new();
    for step in &steps {
        let r = run_pipeline(&mut g, std::slice::from_ref(step), &PassContext::default())
            .unwrap_or_else(|e| panic!("{passes}: {e}"));
        verify(&g).unwrap_or_else(|e| panic!("{passes}: {e}"));
        reports.extend(r);
    }
    let info = verify(&g).unwrap_or_else(|e| panic!("{e}"));
    (g, info, reports)
}

/// Outputs on the digits test set.
fn run(g: &Graph, info: &GraphInfo) -> Array {
    let x_path = model_file("data/digits_test_x.npy");
    let x = read_npy(&x_path);
    let opts = SimOptions {
        steps: 1,
        dt: 1e-4,
        reduce: Reduce::Sum,
        encoding: Encoding::Direct,
        seed: 0,
        threads: 2,
    };
    let inputs = [BatchInput {
        array: &x,
        path: &x_path,
    }];
    let mut outs =
        simulate(Path::new("model"), g, info, &inputs, &opts).unwrap_or_else(|e| panic!("{e}"));
    outs.remove(0)
}

fn labels() -> Array {
    read_npy(&model_file("data/digits_test_y.npy"))
}

fn acc_of(y: &Array) -> f64 {
    accuracy(&argmax_rows(y), &labels())
}

fn float_run(model: &str) -> Array {
    let m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
    run(&m.graph, &m.info)
}

#[test]
fn bnn_mlp_binarized_is_bit_exact_with_its_float_qonnx_graph() {
    let reference = float_run("bnn_mlp/bnn_mlp.qonnx.onnx");
    let (g, info, reports) = transformed("bnn_mlp/bnn_mlp.qonnx.onnx", "binarize");
    for n in &reports[0].notes {
        eprintln!("  {n}");
    }
    let ops: Vec<&str> = info.order.iter().map(|i| g.node(*i).op.name()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "bin_threshold").count(), 2);
    assert_eq!(ops.iter().filter(|o| **o == "batchnorm").count(), 1);
    let y = run(&g, &info);
    let same = argmax_rows(&y)
        .iter()
        .zip(argmax_rows(&reference))
        .filter(|(a, b)| **a == *b)
        .count();
    let d = max_abs_diff(&y, &reference);
    eprintln!(
        "bnn_mlp binarize: max |y - float| = {d:e}, argmax equal on {same}/360, accuracy {:.2}% \
         (float {:.2}%)",
        100.0 * acc_of(&y),
        100.0 * acc_of(&reference)
    );
    assert_eq!(same, 360);
    assert_eq!(d, 0.0, "logits differ from the float QONNX graph");
    assert_eq!(y.data, reference.data);
}

#[test]
fn bnn_mlp_with_binary_last_layer_keeps_every_argmax() {
    let reference = float_run("bnn_mlp/bnn_mlp.qonnx.onnx");
    let (g, info, _) = transformed("bnn_mlp/bnn_mlp.qonnx.onnx", "binarize=last=bin");
    let y = run(&g, &info);
    let same = argmax_rows(&y)
        .iter()
        .zip(argmax_rows(&reference))
        .filter(|(a, b)| **a == *b)
        .count();
    let d = max_abs_diff(&y, &reference);
    eprintln!(
        "bnn_mlp binarize=last=bin: max |y - float| = {d:e} (f32 summation order of the float \
         graph), argmax equal on {same}/360, accuracy {:.2}%",
        100.0 * acc_of(&y)
    );
    assert_eq!(same, 360);
    assert!(d <= 1e-4, "{d}");
}
