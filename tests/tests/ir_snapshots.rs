//! Snapshots of the IR text of every shared model (constants over 16 elements shown as digests):
//! any change to what the frontends produce shows up as a reviewed diff.

use snnc_compiler::load::load;
use snnc_ir::text::{print, PrintOptions};
use snnc_tests::model_file;

fn ir_text(model: &str) -> String {
    let m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
    print(
        &m.graph,
        &PrintOptions {
            elide_consts_over: Some(16),
        },
    )
}

#[test]
fn ann_mlp_ir() {
    insta::assert_snapshot!(ir_text("ann_mlp/ann_mlp.onnx"));
}

#[test]
fn bnn_mlp_ir() {
    insta::assert_snapshot!(ir_text("bnn_mlp/bnn_mlp.qonnx.onnx"));
}

#[test]
fn qcnn_int8_ir() {
    insta::assert_snapshot!(ir_text("qcnn_int8/qcnn_int8.qcdq.onnx"));
}

#[test]
fn snn_mlp_ir() {
    insta::assert_snapshot!(ir_text("snn_mlp/snn_mlp.nir"));
}

/// The full text form of every shared model parses back to the same text.
#[test]
fn shared_models_round_trip_through_text() {
    for model in [
        "ann_mlp/ann_mlp.onnx",
        "bnn_mlp/bnn_mlp.qonnx.onnx",
        "qcnn_int8/qcnn_int8.qcdq.onnx",
        "snn_mlp/snn_mlp.nir",
    ] {
        let m = load(&model_file(model)).unwrap_or_else(|e| panic!("{e}"));
        let full = print(&m.graph, &PrintOptions::default());
        let back = snnc_ir::text::parse(&full).unwrap_or_else(|e| panic!("{model}: {e}"));
        snnc_ir::verify(&back).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(print(&back, &PrintOptions::default()), full, "{model}");
    }
}
