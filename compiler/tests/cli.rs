//! The `snnc` binary end to end: exit codes, one-line diagnostics naming file and node, and no
//! output left behind on failure.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_failure, models, scratch, snnc};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

fn compile_fails(model: &Path, needles: &[&str], name: &str) {
    let dir = scratch(name);
    let out = snnc(&[
        &"compile",
        &model,
        &"--emit",
        &"ir",
        &"-o",
        &dir.join("m.ir"),
    ]);
    assert_clean_failure(&out, needles, &dir, &[]);
}

#[test]
fn truncated_onnx_file() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(models("ann_mlp/ann_mlp.onnx")).unwrap();
    let p = dir.join("half.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let out = snnc(&[&"compile", &p, &"-o", &dir.join("m.ir")]);
    assert_clean_failure(&out, &["half.onnx"], &dir, &["half.onnx"]);
}

#[test]
fn truncated_nir_file() {
    let dir = scratch("truncated-nir");
    let bytes = std::fs::read(models("snn_mlp/snn_mlp.nir")).unwrap();
    let p = dir.join("half.nir");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let out = snnc(&[&"compile", &p, &"-o", &dir.join("m.ir")]);
    assert_clean_failure(&out, &["half.nir"], &dir, &["half.nir"]);
}

#[test]
fn file_that_is_no_model() {
    let dir = scratch("not-a-model");
    let p = dir.join("notes.onnx");
    std::fs::write(&p, "these are my notes, not a neural network\n").unwrap();
    let out = snnc(&[&"inspect", &p]);
    assert_clean_failure(&out, &["notes.onnx"], &dir, &["notes.onnx"]);
    let empty = dir.join("empty.nir");
    std::fs::write(&empty, "").unwrap();
    let out = snnc(&[&"inspect", &empty]);
    assert_clean_failure(
        &out,
        &["empty.nir", "empty"],
        &dir,
        &["notes.onnx", "empty.nir"],
    );
}

#[test]
fn missing_model_file() {
    let dir = scratch("missing");
    let out = snnc(&[&"inspect", &dir.join("nope.onnx")]);
    assert_clean_failure(&out, &["nope.onnx"], &dir, &[]);
}

#[test]
fn unknown_ops_are_all_reported() {
    compile_fails(
        &fixture("onnx/unknown_op.onnx"),
        &[
            "unknown_op.onnx",
            "fancy_1",
            "FancyActivation",
            "hardmax_2",
            "Hardmax",
        ],
        "unknown-op",
    );
}

#[test]
fn shape_mismatch_names_the_node() {
    compile_fails(
        &fixture("onnx/shape_mismatch.onnx"),
        &["shape_mismatch.onnx", "`fc`"],
        "shape",
    );
}

#[test]
fn nan_weight_names_the_tensor() {
    compile_fails(
        &fixture("onnx/nan_weight.onnx"),
        &["nan_weight.onnx", "fc.weight", "NaN"],
        "nan",
    );
}

#[test]
fn missing_external_data_file() {
    compile_fails(
        &fixture("onnx/external_missing.onnx"),
        &["external_missing.onnx", "missing.weights", "fc.weight"],
        "external-missing",
    );
}

#[test]
fn external_data_cannot_escape_the_model_folder() {
    compile_fails(
        &fixture("onnx/external_escape.onnx"),
        &["external_escape.onnx", "fc.weight"],
        "external-escape",
    );
}

#[test]
fn sim_input_of_the_wrong_shape() {
    let dir = scratch("sim-shape");
    let out = snnc(&[
        &"sim",
        &models("ann_mlp/ann_mlp.onnx"),
        &"--input",
        &fixture("onnx/x4.npy"),
        &"-o",
        &dir.join("y.npy"),
    ]);
    assert_clean_failure(&out, &["x4.npy", "4 values"], &dir, &[]);
}

#[test]
fn sim_of_a_spiking_model_needs_steps() {
    let dir = scratch("sim-steps");
    let out = snnc(&[
        &"sim",
        &models("snn_mlp/snn_mlp.nir"),
        &"--input",
        &models("data/digits_test_x.npy"),
        &"-o",
        &dir.join("y.npy"),
    ]);
    assert_clean_failure(&out, &["snn_mlp.nir", "--steps"], &dir, &[]);
}

#[test]
fn failed_sim_keeps_the_previous_output() {
    let dir = scratch("keep-previous");
    let y = dir.join("y.npy");
    std::fs::write(&y, b"previous").unwrap();
    let out = snnc(&[
        &"sim",
        &models("ann_mlp/ann_mlp.onnx"),
        &"--input",
        &fixture("onnx/x4.npy"),
        &"-o",
        &y,
    ]);
    assert_clean_failure(&out, &["x4.npy"], &dir, &["y.npy"]);
    assert_eq!(std::fs::read(&y).unwrap(), b"previous");
}

#[test]
fn sim_external_data_model_matches_numpy() {
    let dir = scratch("sim-ok");
    let y = dir.join("y.npy");
    let out = snnc(&[
        &"sim",
        &fixture("onnx/external_ok.onnx"),
        &"--input",
        &fixture("onnx/x4.npy"),
        &"-o",
        &y,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = snnc_compiler::npy::read(&y).unwrap();
    let want = snnc_compiler::npy::read(&fixture("onnx/external_ok_y.npy")).unwrap();
    assert_eq!(got.shape, want.shape);
    for (a, b) in got.data.iter().zip(&want.data) {
        assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
    }
}

#[test]
fn compile_ir_is_deterministic_and_parses_back() {
    let dir = scratch("determinism");
    for name in ["a.ir", "b.ir"] {
        let out = snnc(&[
            &"compile",
            &models("bnn_mlp/bnn_mlp.qonnx.onnx"),
            &"-o",
            &dir.join(name),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let a = std::fs::read(dir.join("a.ir")).unwrap();
    assert_eq!(a, std::fs::read(dir.join("b.ir")).unwrap());
    // The IR text is itself a model snnc reads.
    let out = snnc(&[&"compile", &dir.join("a.ir"), &"-o", &dir.join("c.ir")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(a, std::fs::read(dir.join("c.ir")).unwrap());
}

#[test]
fn inspect_shows_shapes_and_parameters() {
    let out = snnc(&[&"inspect", &models("ann_mlp/ann_mlp.onnx")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 64·128 + 128 + 128·64 + 64 + 64·10 + 10 parameters.
    assert!(text.contains("parameters: 17226"), "{text}");
    assert!(text.contains("f32[1,128]"), "{text}");
    let out = snnc(&[&"inspect", &"--json", &models("snn_mlp/snn_mlp.nir")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stateful"], serde_json::Value::Bool(true));
}

fn nir_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nir")
        .join(name)
}

#[test]
fn nir_unknown_types_are_all_reported() {
    compile_fails(
        &nir_fixture("unknown_types.nir"),
        &[
            "unknown_types.nir",
            "`cli` (CubaLI)",
            "`sub.mystery` (Spooky)",
        ],
        "nir-unknown",
    );
}

#[test]
fn nir_nan_parameter_names_node_and_parameter() {
    compile_fails(
        &nir_fixture("nan_param.nir"),
        &["nan_param.nir", "`lif`", "`tau`"],
        "nir-nan",
    );
}

#[test]
fn nir_shape_mismatch_names_the_node() {
    compile_fails(
        &nir_fixture("shape_mismatch.nir"),
        &["shape_mismatch.nir", "`fc`"],
        "nir-shape",
    );
}

#[test]
fn nir_missing_parameter() {
    compile_fails(
        &nir_fixture("missing_param.nir"),
        &["missing_param.nir", "`lif`", "`r`"],
        "nir-missing",
    );
}

#[test]
fn ir_text_with_a_syntax_error_reports_line_and_column() {
    let dir = scratch("ir-syntax");
    let p = dir.join("bad.ir");
    std::fs::write(
        &p,
        "graph \"g\" {\n  n0 = input 0 \"x\" : f32[4]\n  n1 = frobnicate(n0) \"y\" : f32[4]\n}\n",
    )
    .unwrap();
    let out = snnc(&[&"compile", &p, &"-o", &dir.join("m.ir")]);
    assert_clean_failure(&out, &["bad.ir", "line 3"], &dir, &["bad.ir"]);
}
