//! The cortex-m4 C backend: plans lowered from integer graphs are emitted as C, built with the
//! host `cc` and with `arm-none-eabi-gcc` for the Cortex-M4 (run under `qemu-system-arm`), and
//! every output byte is compared with the reference interpreter's.
//!
//! Fixtures (IR text of the pipelines' integer graphs; the targets crate cannot use the compiler):
//!   snnc compile bnn_mlp.qonnx.onnx --passes canonicalize,lower-qdq,binarize -o fixtures/arm/bnn_mlp.ir
//!   snnc compile qcnn_int8.qcdq.onnx --passes canonicalize,lower-qdq -o fixtures/arm/qcnn_int8.ir
//!   snnc compile ann_mlp.onnx --passes canonicalize,quantize=int8 --calib digits_calib_x.npy \
//!     -o fixtures/arm/ann_mlp_int8.ir
//!   fixtures/snn_mlp_int.ir (shared with the SpiNNaker2 tests: canonicalize,quantize-snn)
//!   fixtures/arm/kernels.ir: hand-written, for the kernels the models do not use.
//! Missing tools (cc, arm-none-eabi-gcc, qemu-system-arm) fail these tests with the Debian
//! package to install.

use std::path::PathBuf;

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, Graph, GraphInfo, Tensor};
use snnc_targets::arm::c::{emit, measure_code, run_host, run_qemu, COptions, Popcount};
use snnc_targets::arm::plan::{encode, lower, Plan};

fn load(file: &str) -> Graph {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    snnc_ir::text::parse(&text).unwrap()
}

fn planned(file: &str) -> (Graph, GraphInfo, Plan) {
    let g = load(file);
    let info = verify(&g).unwrap();
    let plan = lower(&g, &info, "cortex-m4").unwrap();
    (g, info, plan)
}

/// The digits test images, float32 [360, 64].
fn digits() -> Vec<Vec<f32>> {
    let path = format!(
        "{}/../tests/models/data/digits_test_x.npy",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + hlen]);
    assert!(
        header.contains("'<f4'") && header.contains("(360, 64)"),
        "{header}"
    );
    let data: Vec<f32> = bytes[10 + hlen..]
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    data.chunks(64).map(|c| c.to_vec()).collect()
}

/// A scratch directory for one test's artifact.
fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-arm-c-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Input bytes for `samples` (each fed for `t` steps) and the interpreter's output bytes.
fn reference(g: &Graph, info: &GraphInfo, samples: &[Vec<f32>], t: usize) -> (Vec<u8>, Vec<u8>) {
    let shape = g.node(g.inputs()[0]).ty.as_ref().unwrap().shape.clone();
    let mut input = Vec::new();
    let mut output = Vec::new();
    let mut it = Interpreter::new(g, info, 1e-3).unwrap();
    for s in samples {
        let x = Tensor::from_f32(shape.clone(), s.clone()).unwrap();
        it.reset();
        for _ in 0..t {
            input.extend(encode(&x).unwrap());
            for y in it.step(std::slice::from_ref(&x)).unwrap() {
                output.extend(encode(&y).unwrap());
            }
        }
    }
    (input, output)
}

/// Emits `plan`, runs it on the host and under QEMU, and checks both against `expect`.
/// Returns the model's instruction count per sample under QEMU.
fn check_plan(
    name: &str,
    plan: &Plan,
    opts: &COptions,
    input: &[u8],
    expect: &[u8],
    n: usize,
    t: usize,
) -> f64 {
    let art = emit(plan, opts).unwrap();
    let dir = out_dir(name);
    art.write_to(&dir).unwrap();
    let host = run_host(&dir, input, n, t).unwrap_or_else(|e| panic!("{name} host: {e}"));
    assert!(
        host == expect,
        "{name}: host output differs from the reference (first byte {:?})",
        first_diff(&host, expect)
    );
    let q = run_qemu(&dir, input, n, t, true).unwrap_or_else(|e| panic!("{name} qemu: {e}"));
    assert!(
        q.output == expect,
        "{name}: QEMU output differs from the reference (first byte {:?})",
        first_diff(&q.output, expect)
    );
    let per = q.insns_model.unwrap() as f64 / n as f64;
    let code = measure_code(&dir, opts.cpu).unwrap();
    let fp = art.footprint.clone().with_code(code);
    eprintln!("{name}: {per:.0} instructions per sample\n{}", fp.render());
    let _ = std::fs::remove_dir_all(&dir);
    per
}

fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then_some(a.len().min(b.len())))
}

fn check_model(file: &str, samples: usize, t: usize) -> f64 {
    let (g, info, plan) = planned(file);
    let data = digits();
    let (input, expect) = reference(&g, &info, &data[..samples], t);
    check_plan(
        file,
        &plan,
        &COptions::default(),
        &input,
        &expect,
        samples,
        t,
    )
}

#[test]
fn bnn_mlp_bit_exact() {
    check_model("arm/bnn_mlp.ir", 360, 1);
}

#[test]
fn qcnn_int8_bit_exact() {
    check_model("arm/qcnn_int8.ir", 360, 1);
}

#[test]
fn ann_mlp_int8_bit_exact() {
    check_model("arm/ann_mlp_int8.ir", 360, 1);
}

#[test]
fn snn_mlp_bit_exact() {
    check_model("snn_mlp_int.ir", 40, 16);
}

#[test]
fn debug_dump() {
    let (_, _, plan) = planned("arm/qcnn_int8.ir");
    for k in &plan.kernels {
        eprintln!("{k:?}");
    }
    for (i, v) in plan.values.iter().enumerate() {
        eprintln!(
            "{i} {} {:?} {:?} {:?}",
            v.name,
            v.dtype,
            v.shape,
            match &v.place {
                snnc_targets::arm::plan::Place::Const(b) => format!("const {}", b.len()),
                p => format!("{p:?}"),
            }
        );
    }
    let art = emit(&plan, &COptions::default()).unwrap();
    art.write_to(&PathBuf::from("/tmp/armc/qcnn")).unwrap();
}

#[test]
fn debug_prefix() {
    use snnc_targets::arm::plan::{reads_writes, Place, PlanMachine, Port};
    let (g, info, plan) = planned("arm/qcnn_int8.ir");
    let data = digits();
    let (input, _) = reference(&g, &info, &data[..3], 1);
    for j in 0..plan.kernels.len() {
        let mut p = plan.clone();
        p.kernels.truncate(j + 1);
        let (_, y) = reads_writes(&p.kernels[j]);
        for v in p.values.iter_mut() {
            if v.place == Place::Output(0) {
                v.place = Place::Arena(3000);
            }
        }
        p.arena_bytes = p.arena_bytes.max(3000 + 64);
        p.values[y].place = Place::Output(0);
        p.outputs = vec![Port {
            name: "o".into(),
            value: y,
        }];
        let mut m = PlanMachine::new(&p);
        let mut expect = Vec::new();
        for s in input.chunks(256) {
            expect.extend(m.run(&[s]).unwrap().concat());
        }
        let art = emit(&p, &COptions::default()).unwrap();
        let dir = out_dir(&format!("dbg{j}"));
        art.write_to(&dir).unwrap();
        let host = run_host(&dir, &input, 3, 1).unwrap();
        eprintln!(
            "kernel {j}: {}",
            if host == expect {
                "ok".to_string()
            } else {
                format!(
                    "DIFF at {:?}: {:?} vs {:?}",
                    first_diff(&host, &expect),
                    &host[..16.min(host.len())],
                    &expect[..16.min(expect.len())]
                )
            }
        );
    }
}
