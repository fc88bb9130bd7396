//! One differential check: random input samples (with edge values), the reference
//! interpreter's output bytes, and every ARM target's output bytes for the same raw input.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, DType, Graph, Tensor};
use snnc_targets::arm::c::{emit, run_host, run_qemu, COptions};
use snnc_targets::arm::clif::{emit_object, run_qemu_aarch64, JitModel};
use snnc_targets::arm::plan::{encode, lower, Plan, PlanMachine};

use super::gen::Rng;

/// A target of the differential test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Plan,
    Jit,
    HostC,
    QemuM4,
    QemuA64,
}

impl Target {
    pub const FAST: [Target; 3] = [Target::Plan, Target::Jit, Target::HostC];
    pub const ALL: [Target; 5] = [
        Target::Plan,
        Target::Jit,
        Target::HostC,
        Target::QemuM4,
        Target::QemuA64,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Target::Plan => "plan executor",
            Target::Jit => "host JIT",
            Target::HostC => "C on the host",
            Target::QemuM4 => "C on cortex-m4 (qemu-system-arm)",
            Target::QemuA64 => "aarch64 object (qemu-aarch64)",
        }
    }
}

/// What one check found.
#[derive(Debug)]
pub enum Verdict {
    /// Every target matched the reference.
    Pass,
    /// The ARM lowering refused the graph (not a mismatch; counted).
    Unsupported(String),
    /// A target differs from the reference (or failed to run).
    Mismatch { target: Target, detail: String },
}

/// The samples fed to a model: `n` inputs of the graph's (single, f32 or integer) input.
/// Sample 0 is all zeros, sample 1 large magnitudes of alternating sign; the rest are random
/// in a range quantization resolves, in steps of 1/256 (so rounding ties occur), with about
/// one element in ten an edge value.
pub fn samples(g: &Graph, n: usize, seed: u64) -> Vec<Tensor> {
    let mut r = Rng::new(seed ^ 0x1a2b_3c4d);
    let ty = g.ty(g.inputs()[0]).clone();
    let count: usize = ty.shape.iter().product();
    (0..n)
        .map(|s| {
            if ty.dtype != DType::F32 {
                let (lo, hi) = ty.dtype.int_range().unwrap_or((0, 1));
                let (lo, hi) = (lo.max(-100_000), hi.min(100_000));
                let v = (0..count)
                    .map(|_| {
                        let v = r.range(lo, hi);
                        if ty.dtype == DType::Bin {
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
                return Tensor::from_i64(ty.dtype, ty.shape.clone(), v).unwrap();
            }
            let range = [0.05f32, 0.5, 2.0, 8.0][s % 4];
            let v = (0..count)
                .map(|i| match s {
                    0 => 0.0,
                    1 => {
                        let m = [1e30f32, 3.0e38, 1e6, 300.0][i % 4];
                        if i % 2 == 0 {
                            m
                        } else {
                            -m
                        }
                    }
                    _ if r.chance(10) => r.pick(&[0.0, -0.0, 1e9, -1e9, 127.5, -128.5, 0.5]),
                    _ => ((r.unit() * 2.0 - 1.0) * range * 256.0).round() / 256.0,
                })
                .collect();
            Tensor::from_f32(ty.shape.clone(), v).unwrap()
        })
        .collect()
}

/// Raw input bytes and the reference's output bytes for `xs`, each fed for `t` steps from a
/// reset state.
pub fn reference(g: &Graph, xs: &[Tensor], t: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let mut it = Interpreter::new(g, &info, 1e-3).map_err(|e| e.to_string())?;
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for x in xs {
        it.reset();
        for _ in 0..t {
            input.extend(encode(x)?);
            let ys = it
                .step(std::slice::from_ref(x))
                .map_err(|e| format!("reference: {e}"))?;
            for y in ys {
                output.extend(encode(&y)?);
            }
        }
    }
    Ok((input, output))
}

/// The plan of `g`, or why the ARM lowering refused it.
pub fn plan_of(g: &Graph) -> Result<Plan, String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    lower(g, &info, "cortex-m4").map_err(|e| e.to_string())
}

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

fn scratch() -> PathBuf {
    let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("snnc-difftest-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Output bytes of `plan` on `target` for `n` samples of `t` steps.
pub fn run_target(
    target: Target,
    plan: &Plan,
    input: &[u8],
    n: usize,
    t: usize,
) -> Result<Vec<u8>, String> {
    let e = |e: snnc_targets::arm::ArmError| e.to_string();
    match target {
        Target::Plan => {
            let in_bytes: usize = plan
                .inputs
                .iter()
                .map(|p| plan.values[p.value].bytes())
                .sum();
            let mut m = PlanMachine::new(plan);
            let mut out = Vec::new();
            for (i, step) in input.chunks(in_bytes.max(1)).enumerate() {
                if i % t == 0 {
                    m.init();
                }
                let mut ins = Vec::new();
                let mut at = 0;
                for p in &plan.inputs {
                    let b = plan.values[p.value].bytes();
                    ins.push(&step[at..at + b]);
                    at += b;
                }
                for y in m.run(&ins)? {
                    out.extend(y);
                }
            }
            Ok(out)
        }
        Target::Jit => {
            let mut j = JitModel::compile(plan).map_err(e)?;
            j.run_raw(input, n, t).map_err(e)
        }
        Target::HostC | Target::QemuM4 => {
            let dir = scratch();
            emit(plan, &COptions::default())
                .and_then(|a| a.write_to(&dir))
                .map_err(e)?;
            let out = if target == Target::HostC {
                run_host(&dir, input, n, t).map_err(e)
            } else {
                run_qemu(&dir, input, n, t, false)
                    .map(|q| q.output)
                    .map_err(e)
            };
            if out.is_ok() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            out
        }
        Target::QemuA64 => {
            let dir = scratch();
            emit_object(plan)
                .and_then(|a| a.write_to(&dir))
                .map_err(e)?;
            let out = run_qemu_aarch64(&dir, input, n, t).map_err(e);
            if out.is_ok() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            out
        }
    }
}

/// Bytes of one step's outputs.
fn step_bytes(plan: &Plan) -> usize {
    plan.outputs
        .iter()
        .map(|p| plan.values[p.value].bytes())
        .sum()
}

/// Where `got` first differs from `want`, described by sample, step and output port.
fn describe(plan: &Plan, got: &[u8], want: &[u8], t: usize) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!(
            "{} output bytes, reference has {}",
            got.len(),
            want.len()
        ));
    }
    let i = got.iter().zip(want).position(|(a, b)| a != b)?;
    let per = step_bytes(plan).max(1);
    let (step, mut off) = (i / per, i % per);
    let mut port = 0;
    for (k, p) in plan.outputs.iter().enumerate() {
        let b = plan.values[p.value].bytes();
        if off < b {
            port = k;
            break;
        }
        off -= b;
    }
    let base = i - off;
    let b = plan.values[plan.outputs[port].value].bytes();
    let show = |v: &[u8]| format!("{:?}", &v[base..(base + b).min(v.len())]);
    Some(format!(
        "sample {} step {} output {} (`{}`, {}) byte {off}:\n  got  {}\n  want {}",
        step / t.max(1),
        step % t.max(1),
        port,
        plan.outputs[port].name,
        plan.values[plan.outputs[port].value].dtype,
        show(got),
        show(want)
    ))
}

/// Checks `g` (fed `n_samples` inputs from `seed`, `t` steps each) on `targets`.
pub fn check(g: &Graph, t: usize, n_samples: usize, seed: u64, targets: &[Target]) -> Verdict {
    let plan = match plan_of(g) {
        Ok(p) => p,
        Err(e) => return Verdict::Unsupported(e),
    };
    let xs = samples(g, n_samples, seed);
    let (input, want) = match reference(g, &xs, t) {
        Ok(v) => v,
        Err(e) => return Verdict::Unsupported(format!("reference failed: {e}")),
    };
    for &target in targets {
        match run_target(target, &plan, &input, n_samples, t) {
            Ok(got) => {
                if let Some(d) = describe(&plan, &got, &want, t) {
                    return Verdict::Mismatch { target, detail: d };
                }
            }
            Err(e) => {
                return Verdict::Mismatch {
                    target,
                    detail: format!("failed: {e}"),
                }
            }
        }
    }
    Verdict::Pass
}
