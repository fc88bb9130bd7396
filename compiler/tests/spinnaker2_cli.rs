//! The spinnaker2 target end to end through the `snnc` binary: `compile --target spinnaker2`,
//! `run` on the bundled emulator, and `sim --target spinnaker2` (the reference interpreter on the
//! integer graph the target's pipeline leaves) must agree element for element on all 360 digits
//! inputs; the emitted C kernel, run on the host over the same images, must agree too. Emitted
//! artifacts are snapshotted (manifest, routing tables, kernel), and bad input fails cleanly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{models, scratch, snnc};
use snnc_compiler::npy;

const STEPS: &str = "16";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn machine(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/machines")
        .join(name)
}

/// A model and the pass options that make it an integer SNN.
struct Case {
    model: PathBuf,
    passes: Vec<String>,
}

fn snn_mlp() -> Case {
    Case {
        model: models("snn_mlp/snn_mlp.nir"),
        passes: vec![],
    }
}

fn converted_ann() -> Case {
    Case {
        model: models("ann_mlp/ann_mlp.onnx"),
        passes: vec![
            "--passes".into(),
            "canonicalize,ann-to-snn,quantize-snn".into(),
            "--calib".into(),
            models("data/digits_calib_x.npy").display().to_string(),
            "--steps".into(),
            STEPS.into(),
        ],
    }
}

fn compile(case: &Case, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<String> = vec![
        "compile".into(),
        case.model.display().to_string(),
        "--target".into(),
        "spinnaker2".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(case.passes.iter().cloned());
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
    let o = snnc(&refs);
    ok(&o);
    stderr(&o)
}

/// The reference interpreter's per-step output spikes `[360, T, 10]` on the integer graph.
fn reference(case: &Case, y: &Path) -> npy::Array {
    let x = models("data/digits_test_x.npy");
    let mut args: Vec<String> = vec![
        "sim".into(),
        case.model.display().to_string(),
        "--target".into(),
        "spinnaker2".into(),
        "--input".into(),
        x.display().to_string(),
        "--reduce".into(),
        "none".into(),
        "-o".into(),
        y.display().to_string(),
    ];
    args.extend(case.passes.iter().cloned());
    if !args.iter().any(|a| a == "--steps") {
        args.extend(["--steps".to_string(), STEPS.to_string()]);
    }
    let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
    ok(&snnc(&refs));
    npy::read(y).unwrap()
}

/// `snnc run` of `dir` on all digits, per step.
fn emulate(dir: &Path, y: &Path, extra: &[&str]) -> (npy::Array, String) {
    let x = models("data/digits_test_x.npy");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"run",
        &dir,
        &"--input",
        &x,
        &"--steps",
        &STEPS,
        &"--reduce",
        &"none",
        &"-o",
        &y,
    ];
    args.extend(extra.iter().map(|s| s as &dyn AsRef<std::ffi::OsStr>));
    let text = ok(&snnc(&args));
    (npy::read(y).unwrap(), text)
}

/// Equal element for element, with real activity to compare (not all zeros).
fn assert_same_spikes(emu: &npy::Array, reference: &npy::Array) {
    assert_eq!(emu.shape, vec![360, 16, 10]);
    assert_eq!(emu.shape, reference.shape);
    let differ = emu
        .data
        .iter()
        .zip(&reference.data)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "{differ} output spikes differ");
    let spikes: f32 = reference.data.iter().sum();
    assert!(spikes > 1000.0, "too little activity to compare: {spikes}");
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn snn_mlp_on_the_emulator_equals_the_reference_on_all_digits() {
    let d = scratch("s2-snn");
    let case = snn_mlp();
    let json = d.join("report.json").display().to_string();
    let report = compile(&case, &d.join("out"), &["--report", &json]);
    assert!(report.contains("mapping report"), "{report}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["target"], "spinnaker2");
    assert_eq!(r["passes"], "canonicalize,quantize-snn");
    assert!(r["mapping"].is_object(), "{r}");
    let reference = reference(&case, &d.join("ref.npy"));
    let (emu, text) = emulate(&d.join("out"), &d.join("emu.npy"), &[]);
    assert_same_spikes(&emu, &reference);
    assert!(text.contains("pipeline latency 2 tick(s)"), "{text}");
    assert!(text.contains("dropped 0"), "{text}");
}

#[test]
fn converted_ann_mlp_on_the_emulator_equals_the_reference_on_all_digits() {
    let d = scratch("s2-ann");
    let case = converted_ann();
    compile(&case, &d.join("out"), &[]);
    let reference = reference(&case, &d.join("ref.npy"));
    let (emu, text) = emulate(&d.join("out"), &d.join("emu.npy"), &[]);
    assert_same_spikes(&emu, &reference);
    assert!(text.contains("pipeline latency 3 tick(s)"), "{text}");
    // Without the packet-level NoC model the routing tables still decide who receives what.
    let (plain, _) = emulate(&d.join("out"), &d.join("plain.npy"), &["--no-noc"]);
    assert_same_spikes(&plain, &reference);
    // Synaptic matrices in the chip's DRAM instead of PE SRAM: other images, same results.
    compile(&case, &d.join("dram"), &["--synapses", "dram"]);
    let m = manifest(&d.join("dram"));
    assert!(m["resources"]["dram_total"].as_u64().unwrap() > 0, "{m}");
    let (dram, _) = emulate(&d.join("dram"), &d.join("dram.npy"), &[]);
    assert_same_spikes(&dram, &reference);
}

#[test]
fn reset_by_subtraction_is_a_compile_option_applied_to_reference_and_target_alike() {
    let d = scratch("s2-reset");
    let case = Case {
        model: models("snn_mlp/snn_mlp.nir"),
        passes: vec!["--reset".into(), "subtract".into()],
    };
    compile(&case, &d.join("out"), &[]);
    let text = std::fs::read_to_string(d.join("out/manifest.json")).unwrap();
    assert!(
        text.contains("reset-mode=subtract,canonicalize,quantize-snn"),
        "{text}"
    );
    let reference = reference(&case, &d.join("ref.npy"));
    let (emu, _) = emulate(&d.join("out"), &d.join("emu.npy"), &[]);
    assert_same_spikes(&emu, &reference);
    // It changes what the network computes: the default (reset to value) differs.
    let default = self::reference(&snn_mlp(), &d.join("default.npy"));
    assert_ne!(default.data, reference.data);
}

#[test]
fn a_model_spread_over_several_chips_equals_the_reference() {
    let d = scratch("s2-multichip");
    let case = converted_ann();
    let m = machine("two_qpe_chips.json");
    let m = m.display().to_string();
    compile(&case, &d.join("out"), &["--machine", &m]);
    let chips: std::collections::BTreeSet<(u64, u64)> = manifest(&d.join("out"))["pes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let c = &p["coord"];
            (c["chip_x"].as_u64().unwrap(), c["chip_y"].as_u64().unwrap())
        })
        .collect();
    assert!(chips.len() >= 2, "one chip only: {chips:?}");
    let reference = reference(&case, &d.join("ref.npy"));
    let (emu, text) = emulate(&d.join("out"), &d.join("emu.npy"), &[]);
    assert_same_spikes(&emu, &reference);
    assert!(text.contains("dropped 0"), "{text}");
}

#[test]
fn the_emitted_c_kernel_run_on_the_host_equals_the_reference() {
    use snnc_targets::spinnaker2::artifact::{InputEncoding, LoadedArtifact};
    use snnc_targets::spinnaker2::kernel::{host_driver_script, HOST_DRIVER_C};
    let d = scratch("s2-host-c");
    let case = snn_mlp();
    let out = d.join("out");
    compile(&case, &out, &[]);
    let reference = reference(&case, &d.join("ref.npy"));
    std::fs::write(d.join("host_driver.c"), HOST_DRIVER_C).unwrap();
    let exe = d.join("host_driver");
    let cc = std::process::Command::new("cc")
        .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(d.join("host_driver.c"))
        .arg(out.join("kernel/snnc_pe.c"))
        .arg(format!("-I{}", out.join("kernel").display()))
        .output()
        .expect("a host C compiler `cc` (Debian package gcc) is needed");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let art = LoadedArtifact::load(&out).unwrap();
    let InputEncoding::Quantized {
        scale,
        zero_point,
        lo,
        hi,
    } = art.manifest.input.encoding
    else {
        panic!("snn_mlp's input is quantized on the host");
    };
    let x = npy::read(&models("data/digits_test_x.npy")).unwrap();
    let steps = 16;
    for sample in (0..360).step_by(9) {
        let q: Vec<i32> = x.data[sample * 64..(sample + 1) * 64]
            .iter()
            .map(|&v| snnc_runtime::emu::quantize_linear(v, scale, zero_point, lo, hi))
            .collect();
        let script = host_driver_script(&out, &art, &vec![q; steps]).unwrap();
        let path = d.join("script.txt");
        std::fs::write(&path, script).unwrap();
        let run = std::process::Command::new(&exe)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let got: Vec<f32> = String::from_utf8_lossy(&run.stdout)
            .split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect();
        let want = &reference.data[sample * steps * 10..(sample + 1) * steps * 10];
        assert_eq!(got, want, "sample {sample}");
    }
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    let d = scratch("s2-determinism");
    let case = converted_ann();
    compile(&case, &d.join("a"), &[]);
    compile(&case, &d.join("b"), &[]);
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for sub in ["", "pe", "kernel"] {
            let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            for p in names {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
        out
    };
    let a = files(&d.join("a"));
    assert!(
        a.len() >= 6,
        "{:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(a, files(&d.join("b")));
}

/// Snapshot of what a user would diff in review: the manifest (minus the version string), the
/// routing tables and the kernel sources.
fn snapshot_artifact(name: &str, dir: &Path) {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let version = format!("\"snnc_version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&version), "{text}");
    insta::assert_snapshot!(
        format!("{name}_manifest"),
        text.replace(&version, "\"snnc_version\": \"<version>\"")
    );
    insta::assert_snapshot!(
        format!("{name}_routing"),
        std::fs::read_to_string(dir.join("routing.json")).unwrap()
    );
}

#[test]
fn emitted_artifacts_snapshot() {
    let d = scratch("s2-snapshots");
    compile(&snn_mlp(), &d.join("snn"), &[]);
    snapshot_artifact("snn_mlp", &d.join("snn"));
    compile(&converted_ann(), &d.join("ann"), &[]);
    snapshot_artifact("ann_mlp_converted", &d.join("ann"));
    let m = machine("two_qpe_chips.json").display().to_string();
    compile(&converted_ann(), &d.join("multi"), &["--machine", &m]);
    snapshot_artifact("ann_mlp_converted_multichip", &d.join("multi"));
    for file in ["snnc_pe.c", "snnc_pe.h"] {
        insta::assert_snapshot!(
            format!("kernel_{}", file.replace('.', "_")),
            std::fs::read_to_string(d.join("snn/kernel").join(file)).unwrap()
        );
    }
}

/// Exit 1, one `error:` line naming every needle, and no artifact directory left behind.
fn assert_refused(o: &Output, needles: &[&str], out: &Path) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing in: {}", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "output left behind at {}", out.display());
    if let Some(parent) = out.parent() {
        let leftovers: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("snnc-tmp") || n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn a_model_too_big_for_the_machine_is_refused() {
    let d = scratch("s2-too-big");
    let out = d.join("out");
    let snn = models("snn_mlp/snn_mlp.nir");
    let m = machine("one_qpe.json");
    let o = snnc(&[
        &"compile",
        &snn,
        &"--target",
        &"spinnaker2",
        &"--machine",
        &m,
        &"-o",
        &out,
    ]);
    assert_refused(&o, &["snn_mlp.nir", "PEs"], &out);
}

#[test]
fn routing_tables_that_cannot_be_compressed_enough_are_refused() {
    let d = scratch("s2-tables");
    let out = d.join("out");
    let Case { model, passes } = converted_ann();
    let m = machine("tiny_tables.json");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"compile",
        &model,
        &"--target",
        &"spinnaker2",
        &"--machine",
        &m,
        &"-o",
        &out,
    ];
    args.extend(passes.iter().map(|p| p as &dyn AsRef<std::ffi::OsStr>));
    let o = snnc(&args);
    assert_refused(&o, &["ann_mlp.onnx", "entries"], &out);
}

#[test]
fn an_op_the_target_cannot_run_is_named() {
    let d = scratch("s2-op");
    let out = d.join("out");
    let snn = models("snn_mlp/snn_mlp.nir");
    // Only canonicalize: the float LIF neurons are left for the target, which runs integers.
    let o = snnc(&[
        &"compile",
        &snn,
        &"--target",
        &"spinnaker2",
        &"--passes",
        &"canonicalize",
        &"-o",
        &out,
    ]);
    assert_refused(&o, &["snn_mlp.nir", "lif", "quantize-snn"], &out);
    let ann = models("ann_mlp/ann_mlp.onnx");
    let o = snnc(&[&"compile", &ann, &"--target", &"spinnaker2", &"-o", &out]);
    assert_refused(&o, &["ann_mlp.onnx"], &out);
}

#[test]
fn a_corrupted_artifact_is_refused_by_run() {
    let d = scratch("s2-corrupt");
    let good = d.join("good");
    compile(&snn_mlp(), &good, &[]);
    let x = models("data/digits_test_x.npy");
    let y = d.join("y.npy");
    let copy = |name: &str| -> PathBuf {
        let dst = d.join(name);
        for sub in ["", "pe", "kernel"] {
            std::fs::create_dir_all(dst.join(sub)).unwrap();
            for e in std::fs::read_dir(good.join(sub)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    std::fs::copy(&p, dst.join(sub).join(p.file_name().unwrap())).unwrap();
                }
            }
        }
        dst
    };
    let run = |dir: &Path| snnc(&[&"run", &dir, &"--input", &x, &"--steps", &STEPS, &"-o", &y]);
    // A flipped bit in a data image.
    let flipped = copy("flipped");
    let img = flipped.join("pe/pe_00001.bin");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[100] ^= 0x10;
    std::fs::write(&img, bytes).unwrap();
    let artifacts = ["good", "flipped", "truncated", "missing"];
    let o = run(&flipped);
    common::assert_clean_failure(&o, &["pe_00001.bin"], &d, &artifacts[..2]);
    // A truncated routing file.
    let truncated = copy("truncated");
    let r = truncated.join("routing.json");
    let text = std::fs::read_to_string(&r).unwrap();
    std::fs::write(&r, &text[..text.len() / 2]).unwrap();
    common::assert_clean_failure(&run(&truncated), &["routing.json"], &d, &artifacts[..3]);
    // No manifest at all.
    let missing = copy("missing");
    std::fs::remove_file(missing.join("manifest.json")).unwrap();
    common::assert_clean_failure(&run(&missing), &["manifest.json"], &d, &artifacts);
    // Not an artifact directory.
    common::assert_clean_failure(&run(&d.join("nowhere")), &["nowhere"], &d, &artifacts);
    // The good one still runs.
    ok(&run(&good));
}

#[test]
fn run_rejects_input_that_does_not_fit_the_artifact() {
    let d = scratch("s2-bad-input");
    let good = d.join("good");
    compile(&snn_mlp(), &good, &[]);
    let y = d.join("y.npy");
    let wrong = models("data/digits_test_y.npy");
    let o = snnc(&[
        &"run", &good, &"--input", &wrong, &"--steps", &STEPS, &"-o", &y,
    ]);
    assert_refused(&o, &["digits_test_y.npy"], &y);
    let x = models("data/digits_test_x.npy");
    let o = snnc(&[&"run", &good, &"--input", &x, &"--steps", &"0", &"-o", &y]);
    assert_refused(&o, &["--steps"], &y);
}
