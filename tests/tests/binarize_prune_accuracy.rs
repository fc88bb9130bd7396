//! Accuracy of the binarize and prune passes on the shared models, measured by the reference
//! interpreter on the 360 digits test inputs (issue 3's acceptance numbers).

use snnc_compiler::load::load;
use snnc_compiler::npy::Array;
use snnc_compiler::passes::{parse_pipeline, run_pipeline, PassContext, PassReport};
use snnc_ir::{verify, Graph, GraphInfo};
use snnc_tests::{accuracy, argmax_rows, max_abs_diff, model_file, read_npy, run_digits};

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
    run_digits(g, info, 1)
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

/// The same exactness after the passes that usually run first: canonicalization folds the
/// BipolarQuant weights into ±0.1 constants (recognized as binary), lower-qdq turns the input
/// Quant into QuantizeLinear/DequantizeLinear (read as u8).
#[test]
fn bnn_mlp_binarized_after_canonicalization_is_still_bit_exact() {
    let reference = float_run("bnn_mlp/bnn_mlp.qonnx.onnx");
    for passes in ["canonicalize,binarize", "lower-qdq,binarize"] {
        let (g, info, _) = transformed("bnn_mlp/bnn_mlp.qonnx.onnx", passes);
        let thresholds = info
            .order
            .iter()
            .filter(|i| g.node(**i).op.name() == "bin_threshold")
            .count();
        assert_eq!(thresholds, 2, "{passes}");
        let y = run(&g, &info);
        assert_eq!(y.data, reference.data, "{passes}");
    }
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

#[test]
fn ann_mlp_binarized_runs_and_reports_its_accuracy() {
    let float = acc_of(&float_run("ann_mlp/ann_mlp.onnx"));
    eprintln!("ann_mlp float: {:.2}%", 100.0 * float);
    for passes in [
        "binarize",
        "binarize=weights",
        "binarize=acts",
        "binarize=last=bin",
        "binarize=first=bin:last=bin",
    ] {
        let (g, info, reports) = transformed("ann_mlp/ann_mlp.onnx", passes);
        let y = run(&g, &info);
        assert_eq!(y.shape, vec![360, 10]);
        let a = acc_of(&y);
        eprintln!(
            "ann_mlp {passes}: accuracy {:.2}% ({} layer(s) changed)",
            100.0 * a,
            reports[0].changed
        );
        // No accuracy bar (binarizing a float model after training loses accuracy), but the
        // result must still be a classifier and not a constant.
        assert!(a > 0.1, "{passes}: accuracy {a}");
    }
}

/// Zero weights and all weights of the Gemm/Conv weight constants of a graph.
fn weight_sparsity(g: &Graph) -> (usize, usize) {
    let mut zeros = 0;
    let mut total = 0;
    for id in g.node_ids() {
        if !matches!(g.node(id).op, snnc_ir::Op::Gemm(_) | snnc_ir::Op::Conv(_)) {
            continue;
        }
        let Some(mut w) = g.operand(id, 1) else {
            continue;
        };
        // Through the weight quantizers to the stored constant.
        while let (
            snnc_ir::Op::BipolarQuant
            | snnc_ir::Op::QuantizeLinear(_)
            | snnc_ir::Op::DequantizeLinear(_)
            | snnc_ir::Op::Clip(_),
            Some(src),
        ) = (&g.node(w).op, g.operand(w, 0))
        {
            w = src;
        }
        if let snnc_ir::Op::Const(t) = &g.node(w).op {
            let v = t.to_f32_vec();
            zeros += v.iter().filter(|x| **x == 0.0).count();
            total += v.len();
        }
    }
    (zeros, total)
}

#[test]
fn ann_mlp_pruned_unstructured_reports_accuracy() {
    let float = acc_of(&float_run("ann_mlp/ann_mlp.onnx"));
    for target in [0.5, 0.8] {
        let (g, info, reports) = transformed("ann_mlp/ann_mlp.onnx", &format!("prune={target}"));
        assert_eq!(reports[0].changed, 3);
        let (zeros, total) = weight_sparsity(&g);
        let measured = zeros as f64 / total as f64;
        let y = run(&g, &info);
        eprintln!(
            "ann_mlp prune={target}: sparsity {:.3}% ({zeros}/{total}), accuracy {:.2}% (float {:.2}%)",
            100.0 * measured,
            100.0 * acc_of(&y),
            100.0 * float
        );
        assert!((measured - target).abs() <= 0.005, "sparsity {measured}");
        assert_eq!(y.shape, vec![360, 10]);
    }
}

#[test]
fn structured_pruning_keeps_shapes_consistent_on_the_shared_models() {
    for (model, passes) in [
        ("ann_mlp/ann_mlp.onnx", "prune=0.5:structured"),
        ("bnn_mlp/bnn_mlp.qonnx.onnx", "prune=0.25:structured"),
        ("qcnn_int8/qcnn_int8.qcdq.onnx", "prune=0.25:structured"),
    ] {
        let before = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
        let (g, info, reports) = transformed(model, passes);
        for n in &reports[0].notes {
            eprintln!("  {n}");
        }
        assert!(reports[0].changed >= 1, "{model}: {:?}", reports[0].notes);
        let out_shape = |g: &Graph| g.ty(g.outputs()[0]).shape.clone();
        assert_eq!(out_shape(&g), out_shape(&before.graph), "{model}");
        let y = run(&g, &info);
        assert_eq!(y.shape, vec![360, 10]);
        eprintln!(
            "{model} {passes}: {} → {} weights, accuracy {:.2}% (before {:.2}%)",
            weight_sparsity(&before.graph).1,
            weight_sparsity(&g).1,
            100.0 * acc_of(&y),
            100.0 * acc_of(&run(&before.graph, &before.info))
        );
    }
}
