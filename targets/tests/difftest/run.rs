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

/// The samples fed to a model: `n` samples, each one tensor per graph input. Input 0 draws
/// from the seed's stream as it always did, input `i > 0` from a stream of its own.
pub fn samples(g: &Graph, n: usize, seed: u64) -> Vec<Vec<Tensor>> {
    let per_input: Vec<Vec<Tensor>> = g
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let salt = if i == 0 { 0 } else { (i as u64) << 40 };
            input_samples(g.ty(id), n, seed ^ 0x1a2b_3c4d ^ salt)
        })
        .collect();
    (0..n)
        .map(|s| per_input.iter().map(|v| v[s].clone()).collect())
        .collect()
}

/// Samples of one input. Floats: sample 0 is all zeros, sample 1 large magnitudes of
/// alternating sign; samples 2 to 7 are random in a range quantization resolves, in steps of
/// 1/256 (so rounding ties occur), with about one element in ten an edge value. Integers:
/// uniform over the dtype's range (clipped to ±100000). Samples from 8 on hold special values
/// (see [`special_sample`]).
fn input_samples(ty: &snnc_ir::TensorType, n: usize, seed: u64) -> Vec<Tensor> {
    let mut r = Rng::new(seed);
    let mut special = Rng::new(seed ^ 0x05be_c1a1);
    let count: usize = ty.shape.iter().product();
    (0..n)
        .map(|s| {
            if s >= 8 {
                return special_sample(ty, s, &mut special);
            }
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

/// Sample `s ≥ 8` of an input: even ones cycle through IEEE special values (NaN, ±∞, ±0,
/// subnormals, ±f32::MAX, the smallest normal, ties) or the integer dtype's extremes; odd ones
/// draw magnitudes log-uniformly from 1e-45 to 3e38 with random signs (integers: uniform over
/// the whole dtype range).
fn special_sample(ty: &snnc_ir::TensorType, s: usize, r: &mut Rng) -> Tensor {
    let count: usize = ty.shape.iter().product();
    if ty.dtype != DType::F32 {
        let (lo, hi) = ty.dtype.int_range().unwrap_or((0, 1));
        let v = (0..count)
            .map(|i| {
                let v = if s % 2 == 0 {
                    [lo, hi, 0, lo + 1, hi - 1, 1, -1][(i + s) % 7].clamp(lo, hi)
                } else {
                    r.range(lo, hi)
                };
                match ty.dtype {
                    DType::Bin if v < 0 => -1,
                    DType::Bin => 1,
                    _ => v,
                }
            })
            .collect();
        return Tensor::from_i64(ty.dtype, ty.shape.clone(), v).unwrap();
    }
    const SPECIAL: [f32; 14] = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        1e-45,
        -1e-40,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        0.5,
        -2.5,
        3e38,
        -1.5,
        1.0,
    ];
    let v = (0..count)
        .map(|i| {
            if s % 2 == 0 {
                SPECIAL[(i + s / 2) % SPECIAL.len()]
            } else {
                let e = r.unit() * 83.0 - 45.0;
                let m = 10f32.powf(e);
                if r.chance(50) {
                    -m
                } else {
                    m
                }
            }
        })
        .collect();
    Tensor::from_f32(ty.shape.clone(), v).unwrap()
}

/// Raw input bytes and the reference's output bytes for `xs` (one tensor per graph input per
/// sample), each sample fed for `t` steps from a reset state.
pub fn reference(g: &Graph, xs: &[Vec<Tensor>], t: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let mut it = Interpreter::new(g, &info, 1e-3).map_err(|e| e.to_string())?;
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for x in xs {
        it.reset();
        for _ in 0..t {
            for xi in x {
                input.extend(encode(xi)?);
            }
            let ys = it.step(x).map_err(|e| format!("reference: {e}"))?;
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

/// Where `got` differs from `want` at byte `i`, described by sample, step and output port.
fn describe(plan: &Plan, got: &[u8], want: &[u8], t: usize, i: usize) -> String {
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
    format!(
        "sample {} step {} output {} (`{}`, {}) byte {off}:\n  got  {}\n  want {}",
        step / t.max(1),
        step % t.max(1),
        port,
        plan.outputs[port].name,
        plan.values[plan.outputs[port].value].dtype,
        show(got),
        show(want)
    )
}

/// Compares a target's output bytes with the reference's: `Ok(n)` when they are equal except
/// for `n` f32 output elements that are NaN on both sides with different bits (a NaN's sign
/// and payload are not part of the contract: x86 and Arm make different default NaNs), else
/// where they first differ.
pub fn compare(plan: &Plan, got: &[u8], want: &[u8], t: usize) -> Result<usize, String> {
    if got.len() != want.len() {
        return Err(format!(
            "{} output bytes, reference has {}",
            got.len(),
            want.len()
        ));
    }
    if got == want {
        return Ok(0);
    }
    let per = step_bytes(plan).max(1);
    let mut nans = 0;
    let mut at = 0;
    while at < got.len() {
        for p in &plan.outputs {
            let v = &plan.values[p.value];
            let b = v.bytes();
            let (g, w) = (&got[at..at + b], &want[at..at + b]);
            if g != w {
                let first = g.iter().zip(w).position(|(x, y)| x != y).unwrap_or(0);
                if v.dtype != DType::F32 {
                    return Err(describe(plan, got, want, t, at + first));
                }
                for (e, (ge, we)) in g.chunks(4).zip(w.chunks(4)).enumerate() {
                    if ge == we {
                        continue;
                    }
                    let f = |c: &[u8]| f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    if f(ge).is_nan() && f(we).is_nan() {
                        nans += 1;
                    } else {
                        return Err(describe(plan, got, want, t, at + 4 * e));
                    }
                }
            }
            at += b;
        }
        if per == 0 {
            break;
        }
    }
    Ok(nans)
}

/// Checks that every ARM target refuses `g` naming `node` (a `delay`, or an `add` with a
/// recurrent input); returns the first target's message.
pub fn refusal(g: &Graph, node: &str) -> Result<String, String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let mut first = None;
    for target in ["cortex-m4", "cortex-m7", "aarch64", "host"] {
        match lower(g, &info, target) {
            Ok(_) => return Err(format!("{target} compiled a model with `{node}`")),
            Err(e @ snnc_targets::arm::ArmError::Unsupported { .. }) => {
                let m = e.to_string();
                if !m.starts_with(target) || !m.contains(&format!("`{node}`")) {
                    return Err(format!("{target} refused without naming `{node}`: {m}"));
                }
                first.get_or_insert(m);
            }
            Err(e) => return Err(format!("{target} failed instead of refusing: {e}")),
        }
    }
    Ok(first.unwrap_or_default())
}

/// Checks `g` (fed `n_samples` inputs from `seed`, `t` steps each) on `targets`, one target
/// at a time (the path shrinking and the regression replay use).
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
                if let Err(d) = compare(&plan, &got, &want, t) {
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
