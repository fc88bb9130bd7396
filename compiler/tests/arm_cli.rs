//! The ARM targets end to end through the `snnc` binary: `compile --target
//! cortex-m4|cortex-m7|aarch64|host`, `run` under QEMU (or natively), and `sim --target ...` (the
//! reference interpreter on the graph as that target's pipeline leaves it) must write
//! byte-identical `.npy` files on all 360 digits inputs. QEMU and the cross compilers are
//! required: without them these tests fail with the name of what is missing.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{models, scratch, snnc};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A shared model with the extra pass options it needs.
struct Case {
    name: &'static str,
    model: &'static str,
    extra: Vec<String>,
    steps: Option<&'static str>,
}

fn case(name: &'static str) -> Case {
    let calib = models("data/digits_calib_x.npy").display().to_string();
    let (model, extra, steps) = match name {
        "bnn_mlp" => ("bnn_mlp/bnn_mlp.qonnx.onnx", vec![], None),
        "qcnn_int8" => ("qcnn_int8/qcnn_int8.qcdq.onnx", vec![], None),
        "ann_mlp_int8" => (
            "ann_mlp/ann_mlp.onnx",
            vec![
                "--passes".into(),
                "default,quantize=int8:per-channel".into(),
                "--calib".into(),
                calib,
            ],
            None,
        ),
        "ann_mlp_f32" => ("ann_mlp/ann_mlp.onnx", vec![], None),
        "snn_mlp" => ("snn_mlp/snn_mlp.nir", vec![], Some("16")),
        other => panic!("no case {other}"),
    };
    Case {
        name,
        model,
        extra,
        steps,
    }
}

/// Compile `c` for `target` into `dir/<name>_<target>`; returns the artifact directory.
fn compile(c: &Case, target: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{}_{target}", c.name));
    let mut args: Vec<String> = vec![
        "compile".into(),
        models(c.model).display().to_string(),
        "--target".into(),
        target.into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(c.extra.iter().cloned());
    let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
    ok(&snnc(&refs));
    out
}

/// `snnc run` of `artifact` and `snnc sim` of the model for `target`: the two files must be
/// byte-identical. Returns `run`'s standard output.
fn run_equals_sim(c: &Case, target: &str, artifact: &Path, dir: &Path, native: bool) -> String {
    let x = models("data/digits_test_x.npy").display().to_string();
    let y_run = dir.join(format!("{}_{target}_run.npy", c.name));
    let y_sim = dir.join(format!("{}_{target}_sim.npy", c.name));
    let mut run: Vec<String> = vec![
        "run".into(),
        artifact.display().to_string(),
        "--input".into(),
        x.clone(),
        "-o".into(),
        y_run.display().to_string(),
    ];
    let mut sim: Vec<String> = vec![
        "sim".into(),
        models(c.model).display().to_string(),
        "--target".into(),
        target.into(),
        "--input".into(),
        x,
        "-o".into(),
        y_sim.display().to_string(),
    ];
    sim.extend(c.extra.iter().cloned());
    if let Some(t) = c.steps {
        for v in [&mut run, &mut sim] {
            v.extend(["--steps".to_string(), t.to_string()]);
        }
    }
    if native {
        run.extend(["--target".to_string(), "host".to_string()]);
    }
    let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = run.iter().map(|a| a as _).collect();
    let stdout = ok(&snnc(&refs));
    let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = sim.iter().map(|a| a as _).collect();
    ok(&snnc(&refs));
    let (a, b) = (
        std::fs::read(&y_run).unwrap(),
        std::fs::read(&y_sim).unwrap(),
    );
    let y = snnc_compiler::npy::read(&y_sim).unwrap();
    assert_eq!(y.shape[0], 360, "{}", c.name);
    assert!(a == b, "{} on {target}: run and sim differ", c.name);
    stdout
}

fn all_targets(name: &'static str) {
    let dir = scratch(&format!("arm-{name}"));
    let c = case(name);
    for target in ["cortex-m4", "aarch64", "host"] {
        let art = compile(&c, target, &dir);
        let stdout = run_equals_sim(&c, target, &art, &dir, false);
        let runner = match target {
            "cortex-m4" => "qemu-system-arm",
            "aarch64" => "qemu-aarch64",
            _ => "host JIT",
        };
        assert!(stdout.contains(runner), "{stdout}");
        if target != "host" {
            assert!(stdout.contains("instructions"), "{stdout}");
        }
    }
    // Any ARM artifact also runs natively (cranelift JIT of its model.ir).
    let art = dir.join(format!("{name}_cortex-m4"));
    run_equals_sim(&c, "cortex-m4", &art, &dir, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bnn_mlp_on_every_arm_target_equals_the_reference() {
    all_targets("bnn_mlp");
}

#[test]
fn qcnn_int8_on_every_arm_target_equals_the_reference() {
    all_targets("qcnn_int8");
}

#[test]
fn ann_mlp_int8_on_every_arm_target_equals_the_reference() {
    all_targets("ann_mlp_int8");
}

#[test]
fn snn_mlp_on_every_arm_target_equals_the_reference() {
    all_targets("snn_mlp");
}

#[test]
fn float_ann_mlp_on_every_arm_target_equals_the_reference() {
    all_targets("ann_mlp_f32");
}

#[test]
fn cortex_m7_builds_and_reports_float_kernels() {
    let dir = scratch("arm-m7");
    let c = case("bnn_mlp");
    let art = compile(&c, "cortex-m7", &dir);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(art.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["target"], "cortex-m7");
    let floats: Vec<&str> = m["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["float"] == true)
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(floats, vec!["dense_f32", "scale_shift"]);
    assert!(m["memory"]["flash_bytes"].as_u64().unwrap() > 10_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compiling_twice_gives_identical_artifacts() {
    let dir = scratch("arm-det");
    let c = case("qcnn_int8");
    for target in ["cortex-m4", "aarch64"] {
        let a = compile(&c, target, &dir);
        let first: Vec<(String, Vec<u8>)> = files(&a);
        let b = compile(&c, target, &dir);
        assert_eq!(a, b);
        assert_eq!(first, files(&b), "{target}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Exit 1, an `error:` last line naming every needle, no panic, nothing written at `dest`.
fn clean_failure(o: &Output, needles: &[&str], dest: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{err}");
    for n in needles {
        assert!(last.contains(n), "`{n}` missing from: {last}");
    }
    assert!(!dest.exists(), "{} was written", dest.display());
}

#[test]
fn over_budget_and_unsupported_models_are_refused_with_the_reason() {
    let dir = scratch("arm-bad");
    let dest = dir.join("out");
    let bnn = models("bnn_mlp/bnn_mlp.qonnx.onnx");
    let o = snnc(&[
        &"compile",
        &bnn,
        &"--target",
        &"cortex-m4",
        &"--flash",
        &"8K",
        &"-o",
        &dest,
    ]);
    clean_failure(&o, &["cortex-m4", "flash", "8192", "budget"], &dest);
    let o = snnc(&[
        &"compile",
        &bnn,
        &"--target",
        &"cortex-m4",
        &"--ram",
        &"512",
        &"-o",
        &dest,
    ]);
    clean_failure(&o, &["RAM", "512", "arena"], &dest);
    let o = snnc(&[
        &"compile",
        &bnn,
        &"--target",
        &"cortex-m4",
        &"--flash",
        &"lots",
        &"-o",
        &dest,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a size"));
    // Float LIF neurons have no kernel: the node is named.
    let snn = models("snn_mlp/snn_mlp.nir");
    let o = snnc(&[
        &"compile",
        &snn,
        &"--target",
        &"aarch64",
        &"--passes",
        &"canonicalize",
        &"-o",
        &dest,
    ]);
    clean_failure(
        &o,
        &["aarch64", "no kernel", "node `1`", "quantize-snn"],
        &dest,
    );
    // A stateful artifact without --steps, and an input of the wrong size.
    let art = compile(&case("snn_mlp"), "host", &dir);
    let x = models("data/digits_test_x.npy");
    let y = dir.join("y.npy");
    let o = snnc(&[&"run", &art, &"--input", &x, &"-o", &y]);
    clean_failure(&o, &["stateful", "--steps"], &y);
    let art = compile(&case("qcnn_int8"), "cortex-m4", &dir);
    let calib_like = dir.join("x3.npy");
    std::fs::write(
        &calib_like,
        snnc_compiler::npy::to_bytes(&snnc_compiler::npy::Array {
            shape: vec![2, 3],
            data: vec![0.0; 6],
        }),
    )
    .unwrap();
    let o = snnc(&[&"run", &art, &"--input", &calib_like, &"-o", &y]);
    clean_failure(&o, &["x3.npy", "3 values", "64 values"], &y);
    let _ = std::fs::remove_dir_all(&dir);
}
