//! Snapshots of the IR after passes on the shared models (constants over 16 elements shown as
//! digests): any change to what a pass produces shows up as a reviewed diff. Every pipeline's
//! result verifies before it is printed.

use snnc_compiler::load::load;
use snnc_compiler::passes::{parse_pipeline, run_pipeline, PassContext};
use snnc_ir::text::{print, PrintOptions};
use snnc_tests::model_file;

/// The IR text of `model` after `spec`, run with `ctx`.
fn after(model: &str, spec: &str, ctx: &PassContext<'_>) -> String {
    let mut m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
    let steps = parse_pipeline(spec).unwrap_or_else(|e| panic!("{e}"));
    run_pipeline(&mut m.graph, &steps, ctx).unwrap_or_else(|e| panic!("{model}: {e}"));
    snnc_ir::verify(&m.graph).unwrap_or_else(|e| panic!("{model}: {e}"));
    print(
        &m.graph,
        &PrintOptions {
            elide_consts_over: Some(16),
        },
    )
}

fn canonical(model: &str) -> String {
    after(model, "canonicalize", &PassContext::default())
}

#[test]
fn ann_mlp_canonicalize() {
    insta::assert_snapshot!(canonical("ann_mlp/ann_mlp.onnx"));
}

#[test]
fn bnn_mlp_canonicalize() {
    insta::assert_snapshot!(canonical("bnn_mlp/bnn_mlp.qonnx.onnx"));
}

#[test]
fn qcnn_int8_canonicalize() {
    insta::assert_snapshot!(canonical("qcnn_int8/qcnn_int8.qcdq.onnx"));
}

#[test]
fn snn_mlp_canonicalize() {
    insta::assert_snapshot!(canonical("snn_mlp/snn_mlp.nir"));
}

/// Post-training quantization of ann_mlp (int8 per channel, min/max over the digits
/// calibration set): the integer graph with its scales, multipliers and shifts.
#[test]
fn ann_mlp_quantize_int8() {
    let calib = snnc_tests::read_npy(&model_file("data/digits_calib_x.npy"));
    let ctx = PassContext {
        calib: Some(&calib),
        ..PassContext::default()
    };
    insta::assert_snapshot!(after(
        "ann_mlp/ann_mlp.onnx",
        "quantize=int8:per-channel",
        &ctx
    ));
}

/// qcnn_int8 lowered to integer kernels with its own quantization.
#[test]
fn qcnn_int8_lower_qdq() {
    insta::assert_snapshot!(after(
        "qcnn_int8/qcnn_int8.qcdq.onnx",
        "canonicalize,lower-qdq",
        &PassContext::default()
    ));
}

/// bnn_mlp's 8-bit input Quant becomes QuantizeLinear/DequantizeLinear; its BipolarQuant
/// weights and activations are left to binarization.
#[test]
fn bnn_mlp_lower_qdq() {
    insta::assert_snapshot!(after(
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "lower-qdq",
        &PassContext::default()
    ));
}

/// snn_mlp in fixed point (8-bit per-channel weights, 16-bit membranes, dt = 1e-4, input range
/// and bias correction from the digits calibration set): quantizer, integer Gemms, Requant and
/// IntLif parameters.
#[test]
fn snn_mlp_quantize_snn() {
    let calib = snnc_tests::read_npy(&model_file("data/digits_calib_x.npy"));
    let ctx = PassContext {
        calib: Some(&calib),
        ..PassContext::default()
    };
    insta::assert_snapshot!(after("snn_mlp/snn_mlp.nir", "quantize-snn", &ctx));
}

/// ann_mlp converted to IF neurons with threshold balancing (99.9th percentile over the digits
/// calibration set, dt = 1e-4) and a spiking output layer.
#[test]
fn ann_mlp_ann_to_snn() {
    let calib = snnc_tests::read_npy(&model_file("data/digits_calib_x.npy"));
    let ctx = PassContext {
        calib: Some(&calib),
        ..PassContext::default()
    };
    insta::assert_snapshot!(after("ann_mlp/ann_mlp.onnx", "ann-to-snn", &ctx));
}

/// bnn_mlp binarized: u8 input × ±1 weights and ±1 × ±1 Gemms on i32 accumulators, each
/// BatchNorm + sign folded into per-channel integer thresholds, the last layer in float on
/// the ±1 activations.
#[test]
fn bnn_mlp_binarize() {
    insta::assert_snapshot!(after(
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "binarize",
        &PassContext::default()
    ));
}

/// ann_mlp binarized with the default policy (first and last layer kept in float).
#[test]
fn ann_mlp_binarize() {
    insta::assert_snapshot!(after(
        "ann_mlp/ann_mlp.onnx",
        "binarize",
        &PassContext::default()
    ));
}

/// ann_mlp with half of every layer's weights zeroed (dense constants with zeros).
#[test]
fn ann_mlp_prune_unstructured() {
    insta::assert_snapshot!(after(
        "ann_mlp/ann_mlp.onnx",
        "prune=0.5",
        &PassContext::default()
    ));
}

/// ann_mlp with half of the hidden neurons removed: smaller weights, same output shape.
#[test]
fn ann_mlp_prune_structured() {
    insta::assert_snapshot!(after(
        "ann_mlp/ann_mlp.onnx",
        "prune=0.5:structured",
        &PassContext::default()
    ));
}
