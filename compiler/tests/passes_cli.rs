//! `--passes`, `--calib`, `snnc passes` and `snnc report` end to end: what the pipeline prints
//! and writes, and clean one-line failures (exit 1, file and pass named, no output) on bad input.

mod common;

use std::path::Path;
use std::process::Output;

use common::{models, scratch, snnc};

/// Exit 1, one `error:` line containing every needle, and nothing written into `dir`.
fn assert_clean_failure(out: &Output, needles: &[&str], dir: &Path) {
    common::assert_clean_failure(out, needles, dir, &[]);
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn passes_lists_every_pass() {
    let text = ok(&snnc(&[&"passes"]));
    for name in [
        "canonicalize",
        "const-fold",
        "fold-bn",
        "dce",
        "reshape-cleanup",
    ] {
        assert!(text.contains(&format!("  {name} ")), "{name}: {text}");
    }
    assert!(text.contains("usage: const-fold[=all]"), "{text}");
    assert!(text.contains("reference: canonicalize"), "{text}");
}

#[test]
fn compile_runs_the_pipeline_reports_and_is_deterministic() {
    let dir = scratch("compile");
    let model = models("qcnn_int8/qcnn_int8.qcdq.onnx");
    let (a, b, r) = (dir.join("a.ir"), dir.join("b.ir"), dir.join("r.json"));
    let out = snnc(&[
        &"compile",
        &model,
        &"--passes",
        &"default",
        &"--report",
        &r,
        &"-o",
        &a,
    ]);
    ok(&out);
    let err = stderr(&out);
    assert!(err.starts_with("pass canonicalize: 14 changed\n"), "{err}");
    assert!(err.contains("const-fold: folded 7 node(s)"), "{err}");
    ok(&snnc(&[
        &"compile",
        &model,
        &"--passes",
        &"canonicalize",
        &"-o",
        &b,
    ]));
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    let g = snnc_ir::text::parse(&text).unwrap();
    snnc_ir::verify(&g).unwrap();
    assert!(
        text.contains(": i8[16,8,3,3] = "),
        "integer weights expected"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    assert_eq!(json["passes"], "canonicalize");
    assert_eq!(json["target"], "reference");
    assert_eq!(json["pass_reports"][0]["changed"], 14);
    assert_eq!(json["report"]["total"]["macs"], 4608 + 18432 + 640);
}

#[test]
fn compile_without_passes_keeps_the_imported_graph() {
    let dir = scratch("nopasses");
    let model = models("ann_mlp/ann_mlp.onnx");
    let out = snnc(&[&"compile", &model, &"-o", &dir.join("m.ir")]);
    ok(&out);
    assert_eq!(stderr(&out), "");
}

#[test]
fn sim_after_canonicalize_matches_the_imported_model() {
    let dir = scratch("sim");
    let model = models("ann_mlp/ann_mlp.onnx");
    let x = models("data/digits_test_x.npy");
    let (y0, y1) = (dir.join("y0.npy"), dir.join("y1.npy"));
    ok(&snnc(&[&"sim", &model, &"--input", &x, &"-o", &y0]));
    let calib = models("data/digits_calib_x.npy");
    ok(&snnc(&[
        &"sim",
        &model,
        &"--passes",
        &"canonicalize",
        &"--calib",
        &calib,
        &"--input",
        &x,
        &"-o",
        &y1,
    ]));
    let a = snnc_compiler::npy::read(&y0).unwrap();
    let b = snnc_compiler::npy::read(&y1).unwrap();
    assert_eq!(a.shape, vec![360, 10]);
    assert_eq!(a.shape, b.shape);
    let diff = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(u, v)| (u - v).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-5, "max |diff| = {diff}");
}

#[test]
fn report_table_and_json() {
    let model = models("ann_mlp/ann_mlp.onnx");
    let table = ok(&snnc(&[&"report", &model]));
    assert!(table.contains("/0/Gemm"), "{table}");
    let total = table.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(
        total.contains("17226") && total.contains("17024"),
        "{table}"
    );
    assert!(table.contains("PokeBNN"), "{table}");
    let json = ok(&snnc(&[
        &"report",
        &model,
        &"--passes",
        &"canonicalize",
        &"--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["total"]["params"], 17226);
    assert_eq!(v["total"]["ace"], 17024u64 * 32 * 32);
    assert_eq!(v["layers"].as_array().unwrap().len(), 3);
}

#[test]
fn report_measures_spike_rates_with_calibration_data() {
    let model = models("snn_mlp/snn_mlp.nir");
    let calib = models("data/digits_calib_x.npy");
    let json = ok(&snnc(&[
        &"report", &model, &"--calib", &calib, &"--steps", &"4", &"--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let acs = v["total"]["acs"].as_f64().unwrap();
    assert!(acs > 0.0 && acs <= 1280.0, "{acs}");
    let dir = scratch("report-steps");
    let out = snnc(&[&"report", &model, &"--calib", &calib]);
    assert_clean_failure(&out, &["snn_mlp.nir", "--steps"], &dir);
}

fn compile_fails(passes: &str, calib: Option<&Path>, needles: &[&str], name: &str) {
    let dir = scratch(name);
    let model = models("ann_mlp/ann_mlp.onnx");
    let (o, r) = (dir.join("m.ir"), dir.join("r.json"));
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"compile",
        &model,
        &"--passes",
        &passes,
        &"--report",
        &r,
        &"-o",
        &o,
    ];
    if let Some(c) = &calib {
        args.extend([&"--calib" as &dyn AsRef<std::ffi::OsStr>, c]);
    }
    assert_clean_failure(&snnc(&args), needles, &dir);
}

#[test]
fn unknown_pass() {
    compile_fails(
        "canonicalize,fold-everything",
        None,
        &["ann_mlp.onnx", "unknown pass `fold-everything`", "known: "],
        "unknown",
    );
}

#[test]
fn malformed_and_unknown_arguments() {
    compile_fails(
        "dce=fast",
        None,
        &["ann_mlp.onnx", "pass `dce`", "`fast`"],
        "arg",
    );
    compile_fails(
        "const-fold=all:k=",
        None,
        &[
            "ann_mlp.onnx",
            "pass `const-fold`",
            "malformed argument `k=`",
        ],
        "malformed",
    );
    compile_fails(
        "const-fold=mode=all",
        None,
        &["pass `const-fold`", "unknown option `mode`"],
        "option",
    );
}

#[test]
fn calibration_file_of_the_wrong_shape() {
    let wrong = models("ann_mlp/ref_logits.npy");
    compile_fails(
        "canonicalize",
        Some(&wrong),
        &[
            "ref_logits.npy",
            "--passes canonicalize",
            "10 values",
            "64 values",
        ],
        "calib",
    );
    let missing = models("data/no_such_calib.npy");
    compile_fails(
        "canonicalize",
        Some(&missing),
        &["no_such_calib.npy"],
        "calib-missing",
    );
}

#[test]
fn failed_sim_with_passes_writes_nothing() {
    let dir = scratch("sim-fail");
    let model = models("ann_mlp/ann_mlp.onnx");
    let x = models("data/digits_test_x.npy");
    let out = snnc(&[
        &"sim",
        &model,
        &"--passes",
        &"canonicalize,nope",
        &"--input",
        &x,
        &"-o",
        &dir.join("y.npy"),
    ]);
    assert_clean_failure(&out, &["ann_mlp.onnx", "`nope`"], &dir);
}

#[test]
fn a_pass_that_does_not_apply() {
    let dir = scratch("not-applicable");
    let model = models("snn_mlp/snn_mlp.nir");
    let out = snnc(&[
        &"compile",
        &model,
        &"--passes",
        &"canonicalize,binarize",
        &"--report",
        &dir.join("r.json"),
        &"-o",
        &dir.join("m.ir"),
    ]);
    assert_clean_failure(
        &out,
        &[
            "snn_mlp.nir",
            "pass `binarize` does not apply to this model",
        ],
        &dir,
    );
    let x = models("data/digits_test_x.npy");
    let out = snnc(&[
        &"sim",
        &model,
        &"--passes",
        &"binarize",
        &"--steps",
        &"4",
        &"--input",
        &x,
        &"-o",
        &dir.join("y.npy"),
    ]);
    assert_clean_failure(&out, &["snn_mlp.nir", "pass `binarize`"], &dir);
}

#[test]
fn impossible_pass_options() {
    let calib = models("data/digits_calib_x.npy");
    compile_fails(
        "quantize=int0",
        Some(&calib),
        &["pass `quantize`", "int0"],
        "int0",
    );
    compile_fails(
        "quantize=int33",
        Some(&calib),
        &["pass `quantize`", "int33"],
        "int33",
    );
    compile_fails("prune=1.5", None, &["pass `prune`", "1.5"], "sparsity");
    compile_fails("prune=-0.1", None, &["pass `prune`"], "sparsity-neg");
    compile_fails("quantize-snn=w=0", None, &["pass `quantize-snn`"], "w0");
}

#[test]
fn passes_that_need_calibration_say_so() {
    compile_fails(
        "quantize=int8",
        None,
        &["ann_mlp.onnx", "--calib"],
        "no-calib-q",
    );
    compile_fails(
        "ann-to-snn",
        None,
        &["ann_mlp.onnx", "--calib"],
        "no-calib-a2s",
    );
}

#[test]
fn spiking_passes_on_a_non_spiking_model() {
    compile_fails(
        "quantize-snn",
        None,
        &["ann_mlp.onnx", "pass `quantize-snn` does not apply"],
        "snn-on-ann",
    );
}
