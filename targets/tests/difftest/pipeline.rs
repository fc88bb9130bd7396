//! The batch pipeline of the differential test: seeds are taken in chunks; within a chunk,
//! every model is generated, built, lowered, run on the reference, the plan executor and the
//! host JIT, and emitted (C and aarch64 object) in parallel; then the chunk's models run as
//! batches on the host C compiler, the Cortex-M4 under QEMU and aarch64 under QEMU (one link
//! and one emulator start per batch, `snnc_targets::arm::batch`), while the next chunk is
//! prepared. Results are merged in seed order, so the report does not depend on the number of
//! threads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use snnc_targets::arm::c::{emit, run_host_batch, run_qemu_batch, COptions, Cpu};
use snnc_targets::arm::clif::{emit_object, run_qemu_aarch64_batch};
use snnc_targets::arm::plan::Plan;
use snnc_targets::arm::BatchItem;

use super::gen::{self, Built, Spec};
use super::run::{self, Target};

/// Seconds spent per phase, summed over threads (per-model phases) or wall (batches).
#[derive(Default)]
pub struct Times(Mutex<BTreeMap<&'static str, f64>>);

impl Times {
    pub fn add(&self, what: &'static str, t0: Instant) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(what).or_default() += t0.elapsed().as_secs_f64();
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, f64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// What one seed gave.
pub enum Prep {
    /// The spec did not build or verify (the batch takes the next seed).
    BuildFailed(String),
    /// A model every ARM target must refuse: whether they all did, naming the node.
    Refused {
        built: Box<Built>,
        result: Result<String, String>,
    },
    /// The ARM lowering refused a model it was not meant to refuse, or the reference failed.
    Unsupported(String),
    Model(Box<Model>),
}

/// A model and what every target made of it.
pub struct Model {
    pub spec: Spec,
    pub built: Built,
    pub plan: Plan,
    pub input: Vec<u8>,
    pub want: Vec<u8>,
    /// Output bytes (or failure) per target run so far.
    pub results: BTreeMap<Target, Result<Vec<u8>, String>>,
    /// Scratch directory with `c/` (the C library) and `a64/` (the aarch64 object).
    dir: PathBuf,
}

impl Drop for Model {
    /// Removes the scratch directory, unless `SNNC_DIFF_KEEP` is set (for debugging).
    fn drop(&mut self) {
        if std::env::var_os("SNNC_DIFF_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn scratch(seed: u64) -> PathBuf {
    std::env::temp_dir().join(format!("snnc-difftest-{}-seed{seed}", std::process::id()))
}

/// Everything about one seed that does not need an external program, and the C library (and,
/// with `qemu`, the aarch64 object) written for the batches.
fn prepare(seed: u64, qemu: bool, times: &Times) -> Prep {
    let t0 = Instant::now();
    let spec = gen::generate(seed);
    let built = match gen::build(&spec) {
        Ok(b) => b,
        Err(e) => return Prep::BuildFailed(e),
    };
    times.add("generate + build + verify", t0);
    if let Some(node) = built.refused.clone() {
        let t0 = Instant::now();
        let xs = run::samples(&built.graph, 2, spec.seed);
        let result = run::reference(&built.graph, &xs, built.steps)
            .map_err(|e| format!("the reference failed on a model to refuse: {e}"))
            .and_then(|_| run::refusal(&built.graph, &node));
        times.add("refusal checks", t0);
        return Prep::Refused {
            built: Box::new(built),
            result,
        };
    }
    let t0 = Instant::now();
    let plan = match run::plan_of(&built.graph) {
        Ok(p) => p,
        Err(e) => return Prep::Unsupported(e),
    };
    times.add("plan lowering", t0);
    let t0 = Instant::now();
    let xs = run::samples(&built.graph, spec.samples, spec.seed);
    let (input, want) = match run::reference(&built.graph, &xs, built.steps) {
        Ok(v) => v,
        Err(e) => return Prep::Unsupported(format!("reference failed: {e}")),
    };
    times.add("reference interpreter", t0);
    let mut results = BTreeMap::new();
    for target in [Target::Plan, Target::Jit] {
        let t0 = Instant::now();
        let r = run::run_target(target, &plan, &input, spec.samples, built.steps);
        times.add(
            if target == Target::Plan {
                "plan executor"
            } else {
                "host JIT (compile + run)"
            },
            t0,
        );
        results.insert(target, r);
    }
    let dir = scratch(seed);
    let e = |e: snnc_targets::arm::ArmError| e.to_string();
    let t0 = Instant::now();
    let c = emit(&plan, &COptions::default())
        .and_then(|a| a.write_to(&dir.join("c")))
        .map_err(e);
    times.add("emit C", t0);
    if let Err(c) = c {
        for t in [Target::HostC, Target::QemuM4] {
            results.insert(t, Err(format!("emit failed: {c}")));
        }
    }
    if qemu {
        let t0 = Instant::now();
        let a = emit_object(&plan)
            .and_then(|a| a.write_to(&dir.join("a64")))
            .map_err(e);
        times.add("emit aarch64 object", t0);
        if let Err(a) = a {
            results.insert(Target::QemuA64, Err(format!("emit failed: {a}")));
        }
    }
    Prep::Model(Box::new(Model {
        spec,
        built,
        plan,
        input,
        want,
        results,
        dir,
    }))
}

/// `target`'s batch over `models` (those without a result for it yet): one entry per model,
/// `None` where it already had a result.
fn batch_results(
    models: &[&Model],
    target: Target,
    times: &Times,
) -> Vec<Option<Result<Vec<u8>, String>>> {
    let t0 = Instant::now();
    let todo: Vec<usize> = (0..models.len())
        .filter(|&i| !models[i].results.contains_key(&target))
        .collect();
    let sub = if target == Target::QemuA64 {
        "a64"
    } else {
        "c"
    };
    let dirs: Vec<PathBuf> = todo.iter().map(|&i| models[i].dir.join(sub)).collect();
    let items: Vec<BatchItem> = todo
        .iter()
        .zip(&dirs)
        .map(|(&i, dir)| BatchItem {
            dir,
            input: &models[i].input,
            n: models[i].spec.samples,
            t: models[i].built.steps,
        })
        .collect();
    let out = match target {
        Target::HostC => run_host_batch(&items),
        Target::QemuM4 => run_qemu_batch(&items, Cpu::CortexM4),
        _ => run_qemu_aarch64_batch(&items),
    };
    let mut res: Vec<Option<Result<Vec<u8>, String>>> = models.iter().map(|_| None).collect();
    for (&i, r) in todo.iter().zip(out) {
        res[i] = Some(r.map_err(|e| format!("failed: {e}")));
    }
    times.add(
        match target {
            Target::HostC => "batches: C on the host (wall)",
            Target::QemuM4 => "batches: C on cortex-m4 under QEMU (wall)",
            _ => "batches: aarch64 under QEMU (wall)",
        },
        t0,
    );
    res
}

/// Runs the batched targets, all three at once: host C for all `models`, both QEMUs for the
/// first `qemu` of them.
pub fn run_batches(models: &mut [Box<Model>], qemu: usize, times: &Times) {
    let view: Vec<&Model> = models.iter().map(|m| &**m).collect();
    let q = qemu.min(view.len());
    let (host, (m4, a64)) = rayon::join(
        || batch_results(&view, Target::HostC, times),
        || {
            rayon::join(
                || batch_results(&view[..q], Target::QemuM4, times),
                || batch_results(&view[..q], Target::QemuA64, times),
            )
        },
    );
    for (target, res) in [
        (Target::HostC, host),
        (Target::QemuM4, m4),
        (Target::QemuA64, a64),
    ] {
        for (m, r) in models.iter_mut().zip(res) {
            if let Some(r) = r {
                m.results.insert(target, r);
            }
        }
    }
}

/// One prepared chunk: the seeds' results in seed order.
pub type Chunk = Vec<(u64, Prep)>;

/// Prepares the seeds `from..from + n` in parallel.
pub fn prepare_chunk(from: u64, n: usize, qemu: bool, times: &Times) -> Chunk {
    (from..from + n as u64)
        .into_par_iter()
        .map(|s| (s, prepare(s, qemu, times)))
        .collect()
}

/// The first target (in [`Target::ALL`] order) whose result differs from the reference, with
/// the description; and the count of f32 outputs that are NaN on both sides with other bits.
pub fn verdict(m: &Model) -> (Option<(Target, String)>, usize) {
    let mut nans = 0;
    for (&target, r) in &m.results {
        match r {
            Ok(got) => match run::compare(&m.plan, got, &m.want, m.built.steps) {
                Ok(n) => nans += n,
                Err(d) => return (Some((target, d)), nans),
            },
            Err(e) => return (Some((target, e.clone())), nans),
        }
    }
    (None, nans)
}

/// How many f32 output elements of the reference are NaN, infinite and subnormal.
pub fn special_outputs(m: &Model) -> [usize; 3] {
    let mut n = [0; 3];
    let mut at = 0;
    while at < m.want.len() {
        for p in &m.plan.outputs {
            let v = &m.plan.values[p.value];
            let b = v.bytes();
            if v.dtype == snnc_ir::DType::F32 {
                for c in m.want[at..at + b].chunks(4) {
                    let f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    n[0] += usize::from(f.is_nan());
                    n[1] += usize::from(f.is_infinite());
                    n[2] += usize::from(f.is_subnormal());
                }
            }
            at += b;
        }
        if m.plan.outputs.is_empty() {
            break;
        }
    }
    n
}
