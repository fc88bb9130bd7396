//! The cranelift backend (aarch64 object under qemu-aarch64, host JIT) against the reference
//! interpreter, byte for byte, on the shared models' integer graphs and on small graphs that
//! exercise every kernel.
//!
//! Fixtures (`tests/fixtures/arm_clif/`) are the IR `snnc compile` writes (arm_abi.md):
//!   snnc compile bnn_mlp.qonnx.onnx --passes canonicalize,lower-qdq,binarize -o bnn_mlp.ir
//!   snnc compile qcnn_int8.qcdq.onnx --passes canonicalize,lower-qdq -o qcnn_int8.ir
//!   snnc compile ann_mlp.onnx --passes canonicalize,quantize=int8 \
//!     --calib data/digits_calib_x.npy -o ann_mlp_int8.ir
//!   snnc compile snn_mlp.nir --passes canonicalize,quantize-snn -o snn_mlp.ir
//!
//! The QEMU tests need `aarch64-linux-gnu-gcc` and `qemu-aarch64` (Debian: gcc-aarch64-linux-gnu,
//! libc6-dev-arm64-cross, qemu-user) and fail naming them when missing.

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, DType, Graph, GraphInfo, Tensor};
use snnc_targets::arm::clif::{emit_object, run_qemu_aarch64, JitModel};
use snnc_targets::arm::plan::{encode, lower, Plan};

fn fixture(file: &str) -> Graph {
    let path = format!(
        "{}/tests/fixtures/arm_clif/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    snnc_ir::text::parse(&text).unwrap()
}

/// The 360 digits test images (f32 [360, 64]) from the shared models' data.
fn digits() -> Vec<Vec<f32>> {
    let bytes = std::fs::read("/work/shared/models/data/digits_test_x.npy").unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("(360, 64)"),
        "{header}"
    );
    let data: Vec<f32> = bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    data.chunks(64).map(|c| c.to_vec()).collect()
}

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform integer in `[lo, hi]`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// Random input tensors for every graph input: f32 in [-2, 2], integers over their range.
fn random_inputs(g: &Graph, rng: &mut Rng) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|&id| {
            let ty = g.ty(id);
            let n: usize = ty.shape.iter().product();
            match ty.dtype {
                DType::F32 => Tensor::from_f32(
                    ty.shape.clone(),
                    (0..n).map(|_| rng.f32(-2.0, 2.0)).collect(),
                )
                .unwrap(),
                dt => {
                    let (lo, hi) = dt.int_range().unwrap();
                    let (lo, hi) = (lo.max(-100_000), hi.min(100_000));
                    let v = (0..n)
                        .map(|_| {
                            let v = rng.int(lo, hi);
                            if dt == DType::Bin {
                                if v < 0 {
                                    -1
                                } else {
                                    1
                                }
                            } else {
                                v
                            }
                        })
                        .collect();
                    Tensor::from_i64(dt, ty.shape.clone(), v).unwrap()
                }
            }
        })
        .collect()
}

/// The digits images as the single f32 input of `g` (reshaped to its input shape).
fn digit_inputs(g: &Graph) -> Vec<Vec<Tensor>> {
    let shape = g.ty(g.inputs()[0]).shape.clone();
    digits()
        .into_iter()
        .map(|x| vec![Tensor::from_f32(shape.clone(), x).unwrap()])
        .collect()
}

/// Input bytes (storage format) and the reference's output bytes for `samples`, each run for
/// `t` steps with the same inputs.
fn reference(g: &Graph, info: &GraphInfo, samples: &[Vec<Tensor>], t: usize) -> (Vec<u8>, Vec<u8>) {
    let mut it = Interpreter::new(g, info, 1e-4).unwrap();
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for s in samples {
        it.reset();
        for _ in 0..t {
            for x in s {
                input.extend(encode(x).unwrap());
            }
            for y in it.step(s).unwrap() {
                output.extend(encode(&y).unwrap());
            }
        }
    }
    (input, output)
}

fn plan_of(g: &Graph) -> (GraphInfo, Plan) {
    let info = verify(g).unwrap();
    let plan = lower(g, &info, "aarch64").unwrap();
    (info, plan)
}

/// Assert equal outputs, naming the first differing sample and byte.
fn assert_same(what: &str, got: &[u8], want: &[u8], per_sample: usize) {
    assert_eq!(got.len(), want.len(), "{what}: output sizes");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        let s = i / per_sample.max(1);
        let r = s * per_sample..((s + 1) * per_sample).min(got.len());
        panic!(
            "{what}: first difference in sample {s} at byte {}:\n got  {:?}\n want {:?}",
            i - s * per_sample,
            &got[r.clone()],
            &want[r]
        );
    }
}

fn out_bytes(plan: &Plan) -> usize {
    plan.outputs
        .iter()
        .map(|p| plan.values[p.value].bytes())
        .sum()
}

/// JIT and (when `qemu`) aarch64-under-QEMU outputs equal the reference's.
fn check(what: &str, g: &Graph, samples: &[Vec<Tensor>], t: usize, qemu: bool) {
    let (info, plan) = plan_of(g);
    let (input, want) = reference(g, &info, samples, t);
    let per = out_bytes(&plan) * t;
    let mut jit = JitModel::compile(&plan).unwrap();
    let got = jit.run_raw(&input, samples.len(), t).unwrap();
    assert_same(&format!("{what} (host JIT)"), &got, &want, per);
    if qemu {
        let art = emit_object(&plan).unwrap();
        let dir =
            std::env::temp_dir().join(format!("snnc-arm-clif-test-{what}-{}", std::process::id()));
        art.write_to(&dir).unwrap();
        let got =
            run_qemu_aarch64(&dir, &input, samples.len(), t).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_same(&format!("{what} (aarch64 under QEMU)"), &got, &want, per);
    }
}

fn check_model(file: &str, t: usize, qemu: bool) {
    let g = fixture(file);
    let samples = digit_inputs(&g);
    assert_eq!(samples.len(), 360);
    check(file, &g, &samples, t, qemu);
}

#[test]
fn bnn_mlp_jit_matches_reference() {
    check_model("bnn_mlp.ir", 1, false);
}

#[test]
fn qcnn_int8_jit_matches_reference() {
    check_model("qcnn_int8.ir", 1, false);
}

#[test]
fn ann_mlp_int8_jit_matches_reference() {
    check_model("ann_mlp_int8.ir", 1, false);
}

#[test]
fn snn_mlp_jit_matches_reference() {
    check_model("snn_mlp.ir", 16, false);
}

#[test]
fn bnn_mlp_aarch64_matches_reference() {
    check_model("bnn_mlp.ir", 1, true);
}

#[test]
fn qcnn_int8_aarch64_matches_reference() {
    check_model("qcnn_int8.ir", 1, true);
}

#[test]
fn ann_mlp_int8_aarch64_matches_reference() {
    check_model("ann_mlp_int8.ir", 1, true);
}

#[test]
fn snn_mlp_aarch64_matches_reference() {
    check_model("snn_mlp.ir", 16, true);
}
