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

/// Deterministic pseudo-random floats in `[-r, r)` (a 64-bit LCG), quantized to 1/64 so that
/// ties of the round-half-even quantizers occur.
fn noise(n: usize, r: f32, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            ((u * 2.0 - 1.0) * r * 64.0).round() / 64.0
        })
        .collect()
}

/// Integer inputs × packed ±1 weights (a BNN's first layer): u8 (the SIMD byte-mask path, with
/// a row of 18 leaving a scalar tail) and i8 with a bias (the scalar path); and a float layer
/// over ±1 inputs whose rows are ±scale (weights stored as packed signs).
#[test]
fn integer_input_binary_weight_layers_bit_exact() {
    let (g, info, plan) = planned("arm/binw.ir");
    let samples: Vec<Vec<f32>> = (0..50).map(|i| noise(18, 6.0, i)).collect();
    let (input, expect) = reference(&g, &info, &samples, 1);
    let c = emit(&plan, &COptions::default()).unwrap();
    let model_c = c.file("model.c").unwrap();
    assert_eq!(model_c.matches("DenseBinW").count(), 2, "{model_c}");
    assert!(
        model_c.contains("wsign"),
        "float ±scale rows not stored as signs"
    );
    check_plan("binw", &plan, &COptions::default(), &input, &expect, 50, 1);
}

/// Per-channel quantize, grouped strided dilated padded conv, per-channel requant with a zero
/// point, integer and float sum pooling, integer and float clamps, broadcast integer multiply,
/// a reshape output, a sparse dense layer, per-channel dequantize, batchnorm and ReLU.
#[test]
fn every_other_kernel_bit_exact() {
    let (g, info, plan) = planned("arm/kernels.ir");
    let samples: Vec<Vec<f32>> = (0..50).map(|i| noise(72, 3.0, i)).collect();
    let (input, expect) = reference(&g, &info, &samples, 1);
    let c = emit(&plan, &COptions::default()).unwrap();
    let model_c = c.file("model.c").unwrap();
    for kind in [
        "Quantize",
        "Conv2dInt",
        "Requant",
        "Pool2d Sum",
        "Clamp",
        "Elementwise mul",
        "sparse rows",
        "Dequantize",
        "ScaleShift",
    ] {
        assert!(model_c.contains(kind), "no {kind} kernel in the plan");
    }
    check_plan(
        "kernels",
        &plan,
        &COptions::default(),
        &input,
        &expect,
        50,
        1,
    );
    // The dense form of the same layer agrees too.
    let dense = COptions {
        sparse_min_zero_percent: 100,
        ..COptions::default()
    };
    assert!(!emit(&plan, &dense)
        .unwrap()
        .file("model.c")
        .unwrap()
        .contains("sparse rows"));
    check_plan("kernels-dense", &plan, &dense, &input, &expect, 50, 1);
}

/// Binary layer over 1056 inputs (33 words: the SWAR byte sums are flushed every 31 words),
/// with a bias; SWAR and the naive popcount agree with the reference.
#[test]
fn long_binary_rows_bit_exact() {
    let (g, info, plan) = planned("arm/binlong.ir");
    let samples: Vec<Vec<f32>> = (0..20).map(|i| noise(1056, 1.0, 100 + i)).collect();
    let (input, expect) = reference(&g, &info, &samples, 1);
    for popcount in [Popcount::Swar, Popcount::Naive] {
        let opts = COptions {
            popcount,
            ..COptions::default()
        };
        check_plan(
            &format!("binlong-{popcount:?}"),
            &plan,
            &opts,
            &input,
            &expect,
            20,
            1,
        );
    }
}

/// Instructions per inference of bnn_mlp's binary layer with SWAR and with the naive popcount
/// (the difference of two QEMU counts isolates the model).
#[test]
fn bnn_popcount_measured() {
    let (g, info, plan) = planned("arm/bnn_mlp.ir");
    let data = digits();
    let (input, expect) = reference(&g, &info, &data[..20], 1);
    let swar = check_plan(
        "bnn-swar",
        &plan,
        &COptions::default(),
        &input,
        &expect,
        20,
        1,
    );
    let naive_opts = COptions {
        popcount: Popcount::Naive,
        ..COptions::default()
    };
    let naive = check_plan("bnn-naive", &plan, &naive_opts, &input, &expect, 20, 1);
    // 256×256 binary MACs: the naive loop costs at least 3 instructions per bit.
    assert!(
        naive - swar > 3.0 * 65536.0 * 0.9,
        "swar {swar}, naive {naive}"
    );
    eprintln!("bnn_mlp: {swar:.0} instructions/inference with SWAR, {naive:.0} naive");
}

/// A graph output that is a graph input (or a reshape of a value still needed) is a byte copy.
#[test]
fn copy_kernel_bit_exact() {
    use snnc_ir::DType;
    use snnc_targets::arm::plan::{Kernel, Place, Port, Value};
    let value = |name: &str, place| Value {
        name: name.into(),
        dtype: DType::I16,
        shape: vec![3, 5],
        place,
    };
    let plan = Plan {
        name: "copy".into(),
        stateful: false,
        values: vec![value("x", Place::Input(0)), value("y", Place::Output(0))],
        kernels: vec![Kernel::Copy { x: 0, y: 1 }],
        inputs: vec![Port {
            name: "x".into(),
            value: 0,
        }],
        outputs: vec![Port {
            name: "y".into(),
            value: 1,
        }],
        arena_bytes: 0,
        state_bytes: 0,
    };
    let input: Vec<u8> = (0..4 * 30).map(|i| (i * 37 % 251) as u8).collect();
    check_plan("copy", &plan, &COptions::default(), &input, &input, 4, 1);
}

/// The emitted file as an insta snapshot `arm_c__<name>.snap` (review changes with
/// `cargo insta review`).
fn snapshot(name: &str, text: &str) {
    insta::assert_snapshot!(name.to_string(), text);
}

/// The emitted C of the four shared models (regression of generated code; weights.c of the
/// small qcnn only), and determinism.
#[test]
fn emitted_c_snapshots() {
    for (name, file) in [
        ("bnn_mlp", "arm/bnn_mlp.ir"),
        ("qcnn_int8", "arm/qcnn_int8.ir"),
        ("ann_mlp_int8", "arm/ann_mlp_int8.ir"),
        ("snn_mlp", "snn_mlp_int.ir"),
    ] {
        let (_, _, plan) = planned(file);
        let a = emit(&plan, &COptions::default()).unwrap();
        assert_eq!(
            a,
            emit(&plan, &COptions::default()).unwrap(),
            "{name}: emission is not deterministic"
        );
        snapshot(&format!("{name}_model_h"), a.file("model.h").unwrap());
        snapshot(&format!("{name}_model_c"), a.file("model.c").unwrap());
        if name == "qcnn_int8" {
            snapshot(&format!("{name}_weights_c"), a.file("weights.c").unwrap());
        }
    }
}

/// bnn_mlp's 256×256 binary layer alone (input bin, output i32): instructions per binary MAC
/// under QEMU with SWAR and with the naive popcount, checked against the plan executor.
#[test]
fn binary_layer_macs_per_instruction() {
    use snnc_ir::DType;
    use snnc_targets::arm::plan::{Kernel, Place, PlanMachine, Port, Value};
    let (_, _, bnn) = planned("arm/bnn_mlp.ir");
    let Some(Kernel::DenseBin { k, n, w, bias, .. }) = bnn
        .kernels
        .iter()
        .find(|k| matches!(k, Kernel::DenseBin { .. }))
        .cloned()
    else {
        panic!("bnn_mlp has no binary layer");
    };
    let plan = Plan {
        name: "bin_layer".into(),
        stateful: false,
        values: vec![
            Value {
                name: "x".into(),
                dtype: DType::Bin,
                shape: vec![1, k],
                place: Place::Input(0),
            },
            Value {
                name: "y".into(),
                dtype: DType::I32,
                shape: vec![1, n],
                place: Place::Output(0),
            },
        ],
        kernels: vec![Kernel::DenseBin {
            x: 0,
            y: 1,
            rows: 1,
            k,
            n,
            w,
            bias,
        }],
        inputs: vec![Port {
            name: "x".into(),
            value: 0,
        }],
        outputs: vec![Port {
            name: "y".into(),
            value: 1,
        }],
        arena_bytes: 0,
        state_bytes: 0,
    };
    let samples = 10;
    let input: Vec<u8> = noise(samples * k / 8, 1.0, 7)
        .iter()
        .map(|v| (v * 1000.0) as i32 as u8)
        .collect();
    let mut m = PlanMachine::new(&plan);
    let expect: Vec<u8> = input
        .chunks(k / 8)
        .flat_map(|s| m.run(&[s]).unwrap().concat())
        .collect();
    let macs = (k * n) as f64;
    let mut per = Vec::new();
    for popcount in [Popcount::Swar, Popcount::Naive] {
        let opts = COptions {
            popcount,
            ..COptions::default()
        };
        let insns = check_plan(
            &format!("binlayer-{popcount:?}"),
            &plan,
            &opts,
            &input,
            &expect,
            samples,
            1,
        );
        eprintln!(
            "{popcount:?}: {insns:.0} instructions, {:.2} binary MACs per instruction",
            macs / insns
        );
        per.push(macs / insns);
    }
    assert!(per[0] > 1.5 && per[0] > 5.0 * per[1], "{per:?}");
}
