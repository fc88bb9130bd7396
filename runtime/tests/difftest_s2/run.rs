//! One differential check of a graph on the spinnaker2 target: random input samples, the
//! reference interpreter's spikes, and the same samples through the whole target pipeline —
//! `lower_with` → `compile` → artifact written and loaded from disk (as `snnc compile` /
//! `snnc run` do) → emulator with the NoC model on — compared step for step, bit for bit.
//!
//! The emulator runs `T + latency` ticks and drops the first `latency` output ticks itself, so
//! its `[T][outputs]` spikes are compared directly with the interpreter's `T` steps (the
//! alignment of `snnc run` with `snnc sim --target spinnaker2`); the run report's latency must
//! be the manifest's.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, Graph, NodeId, Op, Tensor};
use snnc_runtime::emu::{EmuError, EmuOptions, Emulator, RasterEvent, RunReport};
use snnc_targets::spinnaker2::artifact::{KernelKind, LoadedArtifact, Manifest};
use snnc_targets::spinnaker2::compile::{compile, CompileOptions};
use snnc_targets::spinnaker2::error::Spinnaker2Error;
use snnc_targets::spinnaker2::lower::{lower_with, LowerOptions};

use super::gen::{samples, RunOpts, Sample, DT};

/// What one check found.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The emulator's spikes equal the reference's.
    Pass,
    /// The lowering or the mapping refused the model with an error: `key` groups reasons
    /// (names and numbers left out), `full` is the message.
    Refused { key: String, full: String },
    /// The NoC dropped packets at a full FIFO (results may then differ, as on hardware); the
    /// same run with the NoC off matched the reference.
    Dropped,
    /// The target differs from the reference, or failed where it must not.
    Mismatch { sig: String, detail: String },
    /// The model itself is unusable (it does not verify or the reference fails on it).
    Invalid(String),
}

/// Counts of one check, for the coverage table.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub neuron_steps: u64,
    pub spikes: u64,
    pub packets: u64,
    pub dropped: u64,
    pub late: u64,
    pub overruns: u64,
    pub unmatched: u64,
    pub pes: u64,
}

/// The verdict, the target-side features reached (slicing, chips, kernels, ...) and counts.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub features: BTreeSet<String>,
    pub counts: Counts,
}

/// Spikes (or non-zero elements), `[sample][step][element]`.
pub type Spikes = Vec<Vec<Vec<u8>>>;

/// What the reference computes: the graph output, and per traced node (every `int_lif`, and the
/// value the source population sends) which elements are non-zero.
pub struct Reference {
    pub output: Spikes,
    /// `(population name, spikes)`, names as the lowering gives populations.
    pub populations: Vec<(String, Spikes)>,
}

/// The nodes whose values populations send: `(population name, node)` for the graph input
/// (its quantizer's value when it has one) and every `int_lif`.
fn traced(g: &Graph) -> Vec<(String, NodeId)> {
    let mut out = Vec::new();
    if let Some(&x) = g.inputs().first() {
        let q = g
            .node_ids()
            .into_iter()
            .find(|&id| matches!(g.node(id).op, Op::QuantizeLinear(_)));
        out.push((g.node(x).name.clone(), q.unwrap_or(x)));
    }
    for id in g.node_ids() {
        if matches!(g.node(id).op, Op::IntLif(_)) {
            out.push((g.node(id).name.clone(), id));
        }
    }
    out
}

fn nonzero(t: &Tensor) -> Result<Vec<u8>, String> {
    let v = t.to_i64_vec().map_err(|e| e.to_string())?;
    Ok(v.iter().map(|&b| u8::from(b != 0)).collect())
}

/// The reference run of `xs`.
pub fn reference(g: &Graph, xs: &[Sample]) -> Result<Reference, String> {
    let info = verify(g).map_err(|e| e.to_string())?;
    let mut it = Interpreter::new(g, &info, DT).map_err(|e| e.to_string())?;
    let nodes = traced(g);
    let mut output = Vec::new();
    let mut pops: Vec<Spikes> = vec![Vec::new(); nodes.len()];
    for x in xs {
        it.reset();
        let mut steps = Vec::new();
        let mut per: Vec<Vec<Vec<u8>>> = vec![Vec::new(); nodes.len()];
        for (t, _) in x {
            let ys = it
                .step(std::slice::from_ref(t))
                .map_err(|e| format!("reference: {e}"))?;
            let y = ys.first().ok_or("reference: no output")?;
            steps.push(nonzero(y)?);
            for (k, (_, id)) in nodes.iter().enumerate() {
                let v = it.value(*id).ok_or("reference: no value")?;
                per[k].push(nonzero(v)?);
            }
        }
        output.push(steps);
        for (k, p) in per.into_iter().enumerate() {
            pops[k].push(p);
        }
    }
    Ok(Reference {
        output,
        populations: nodes.into_iter().map(|(n, _)| n).zip(pops).collect(),
    })
}

/// The raster of every population as `[sample][step][neuron]` per manifest population, steps
/// aligned with the reference (tick − the population's depth), ticks past the last step
/// dropped. A spike before the population's start tick is an error.
fn raster_spikes(
    m: &Manifest,
    rasters: &[Vec<RasterEvent>],
    steps: usize,
) -> Result<Vec<Spikes>, String> {
    let mut out: Vec<Spikes> = m
        .populations
        .iter()
        .map(|p| vec![vec![vec![0u8; p.neurons]; steps]; rasters.len()])
        .collect();
    for (s, events) in rasters.iter().enumerate() {
        for e in events {
            let p = m
                .populations
                .get(e.population as usize)
                .ok_or("raster: population out of range")?;
            let d = u64::from(p.depth);
            if e.tick < d {
                return Err(format!(
                    "sample {s}: population `{}` (depth {d}) spiked at tick {}, before its start",
                    p.name, e.tick
                ));
            }
            let step = (e.tick - d) as usize;
            if step >= steps {
                continue;
            }
            let slot = out
                .get_mut(e.population as usize)
                .and_then(|x| x.get_mut(s))
                .and_then(|x| x.get_mut(step))
                .and_then(|x| x.get_mut(e.neuron as usize))
                .ok_or("raster: neuron out of range")?;
            *slot = 1;
        }
    }
    Ok(out)
}

/// A reason without names, numbers or quoted values, to group refusals and mismatches.
pub fn key_of(text: &str) -> String {
    let mut out = String::new();
    let mut in_tick = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_tick = !in_tick;
                if in_tick {
                    out.push('_');
                }
            }
            _ if in_tick => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            c => out.push(c),
        }
    }
    // Mesh directions vary with the placement, not with the kind of problem.
    for d in ["North", "South", "East", "West"] {
        out = out.replace(d, "<dir>");
    }
    out.chars().take(120).collect()
}

/// The group of a target error.
fn refusal_key(e: &Spinnaker2Error) -> String {
    match e {
        Spinnaker2Error::UnsupportedOp { op, reason, .. } => {
            format!("unsupported {op}: {}", key_of(reason))
        }
        Spinnaker2Error::UnsupportedOps(list) => match list.first() {
            Some(u) => format!("unsupported {} (and more): {}", u.op, key_of(&u.reason)),
            None => "unsupported".into(),
        },
        Spinnaker2Error::Unschedulable { reason, .. } => {
            format!("cannot schedule: {}", key_of(reason))
        }
        Spinnaker2Error::Overflow { what, .. } => format!("overflow: {}", key_of(what)),
        Spinnaker2Error::Invalid { what, reason } => {
            format!("invalid {}: {}", key_of(what), key_of(reason))
        }
        Spinnaker2Error::Machine(_) => "machine".into(),
        Spinnaker2Error::TooBig { reason } => format!(
            "model too big for the machine: {}",
            key_of(reason.split('(').next().unwrap_or(""))
        ),
        Spinnaker2Error::RoutingTable { .. } => "routing table does not fit".into(),
        Spinnaker2Error::Mapping { what, reason } => {
            format!("mapping {}: {}", key_of(what), key_of(reason))
        }
    }
}

/// Target-side features of a compiled artifact.
fn artifact_features(m: &Manifest) -> BTreeSet<String> {
    let mut f = BTreeSet::new();
    let per_qpe = m.machine.chip.pes_per_qpe;
    for p in &m.populations {
        let source = p.kind == snnc_targets::spinnaker2::artifact::PopulationKind::Source;
        let what = if source { "source" } else { "LIF" };
        if p.slices.len() > 1 {
            f.insert(format!("{what} population on several PEs"));
        }
        let qpes: BTreeSet<(u32, u32, u32, u32)> = p
            .slices
            .iter()
            .filter_map(|s| m.machine.pe_coord(s.pe))
            .map(|c| (c.chip_x, c.chip_y, c.qpe_x, c.qpe_y))
            .collect();
        let chips: BTreeSet<(u32, u32)> = qpes.iter().map(|q| (q.0, q.1)).collect();
        if qpes.len() > 1 {
            f.insert(format!("{what} population over several QPEs"));
        }
        if chips.len() > 1 {
            f.insert(format!("{what} population over several chips"));
        }
    }
    let _ = per_qpe;
    if m.resources.chips_used > 1 {
        f.insert("model on several chips".into());
    }
    if m.pes.iter().any(|p| p.dram_bytes > 0) {
        f.insert("synapses in DRAM".into());
    }
    if m.pes
        .iter()
        .any(|p| p.dram_bytes == 0 && p.population != m.input.population)
    {
        f.insert("synapses in SRAM".into());
    }
    for p in &m.projections {
        f.insert(match p.kernel {
            KernelKind::Mac => "MAC kernel projection".into(),
            KernelKind::Event => "event kernel projection".into(),
        });
        if p.delay > 1 {
            f.insert("hardware delay > 1 tick".into());
        }
        if p.delay > 4 {
            f.insert("hardware delay > 4 ticks".into());
        }
    }
    f.insert(format!(
        "pipeline latency {}",
        match m.latency {
            0..=2 => m.latency.to_string(),
            3..=5 => "3..5".into(),
            _ => "> 5".into(),
        }
    ));
    if m.routing.entries_before > m.routing.entries_after {
        f.insert("routing tables merged/compressed".into());
    }
    f
}

/// Where `got` first differs from `want`.
fn describe(got: &[Vec<Vec<u8>>], want: &[Vec<Vec<u8>>]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!(
            "{} samples, reference has {}",
            got.len(),
            want.len()
        ));
    }
    for (s, (gs, ws)) in got.iter().zip(want).enumerate() {
        if gs.len() != ws.len() {
            return Some(format!(
                "sample {s}: {} steps, reference has {}",
                gs.len(),
                ws.len()
            ));
        }
        for (t, (g, w)) in gs.iter().zip(ws).enumerate() {
            if g != w {
                let bad: Vec<usize> = (0..g.len().max(w.len()))
                    .filter(|&i| g.get(i) != w.get(i))
                    .collect();
                let show = |v: &[u8]| {
                    let s: String = v.iter().take(96).map(|b| char::from(b'0' + b)).collect();
                    if v.len() > 96 {
                        format!("{s}...")
                    } else {
                        s
                    }
                };
                return Some(format!(
                    "sample {s} step {t}: {} of {} outputs differ (first: {:?})\n  got  {}\n  want {}",
                    bad.len(),
                    w.len(),
                    &bad[..bad.len().min(8)],
                    show(g),
                    show(w)
                ));
            }
        }
    }
    None
}

fn mismatch(sig: &str, detail: impl Into<String>) -> Verdict {
    Verdict::Mismatch {
        sig: sig.to_string(),
        detail: detail.into(),
    }
}

/// What one emulator run gave: outputs, spike rasters per sample, the summed report.
struct Emulated {
    outputs: Spikes,
    rasters: Vec<Vec<RasterEvent>>,
    report: RunReport,
}

/// Runs the emulator on `xs` with a spike raster.
fn emulate(loaded: LoadedArtifact, noc: bool, xs: &[Sample]) -> Result<Emulated, Verdict> {
    let opts = EmuOptions {
        noc,
        trace: true,
        ..EmuOptions::default()
    };
    let emu = match Emulator::new(loaded, opts) {
        Ok(e) => e,
        Err(EmuError::TooLarge { .. }) => {
            return Err(Verdict::Refused {
                key: "emulator: delivery plan too large".into(),
                full: String::new(),
            })
        }
        Err(e) => {
            return Err(mismatch(
                &format!("emulator rejects the artifact: {}", key_of(&e.to_string())),
                e.to_string(),
            ))
        }
    };
    let data: Vec<Vec<Vec<f32>>> = xs
        .iter()
        .map(|s| s.iter().map(|(_, v)| v.clone()).collect())
        .collect();
    let run = emu.run_batch(&data).map_err(|e| {
        mismatch(
            &format!("emulator run fails: {}", key_of(&e.to_string())),
            e.to_string(),
        )
    })?;
    Ok(Emulated {
        outputs: run.outputs,
        rasters: run.rasters.unwrap_or_default(),
        report: run.report,
    })
}

/// The first population whose emulated spikes differ from the reference's.
fn compare_populations(
    m: &Manifest,
    e: &Emulated,
    want: &Reference,
    steps: usize,
) -> Option<String> {
    let got = match raster_spikes(m, &e.rasters, steps) {
        Ok(g) => g,
        Err(err) => return Some(err),
    };
    for (name, spikes) in &want.populations {
        let Some(k) = m.populations.iter().position(|p| &p.name == name) else {
            return Some(format!("population `{name}` is not in the manifest"));
        };
        // The emulator runs `T + latency` ticks: a population deeper than the output one has
        // computed only its first `T + latency − depth` steps.
        let pop = &m.populations[k];
        let done = (steps + m.latency as usize).saturating_sub(pop.depth as usize);
        let cut = |x: &Spikes| -> Spikes {
            x.iter()
                .map(|s| s.iter().take(done).cloned().collect())
                .collect()
        };
        if let Some(d) = describe(&cut(&got[k]), &cut(spikes)) {
            return Some(format!(
                "population `{name}` (depth {}): {d}",
                m.populations[k].depth
            ));
        }
    }
    None
}

/// Checks `g` on the spinnaker2 target against the reference (panics inside are mismatches).
pub fn check(g: &Graph, o: &RunOpts) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| check_inner(g, o))) {
        Ok(out) => out,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome {
                verdict: mismatch(&format!("panic: {}", key_of(&msg)), msg),
                features: BTreeSet::new(),
                counts: Counts::default(),
            }
        }
    }
}

fn check_inner(g: &Graph, o: &RunOpts) -> Outcome {
    let mut features = BTreeSet::new();
    let mut counts = Counts::default();
    let verdict = run_checks(g, o, &mut features, &mut counts);
    Outcome {
        verdict,
        features,
        counts,
    }
}

fn run_checks(
    g: &Graph,
    o: &RunOpts,
    features: &mut BTreeSet<String>,
    counts: &mut Counts,
) -> Verdict {
    let info = match verify(g) {
        Ok(i) => i,
        Err(e) => return Verdict::Invalid(format!("verify: {e}")),
    };
    let xs = match samples(g, o.samples, o.steps, o.input_seed) {
        Ok(x) => x,
        Err(e) => return Verdict::Invalid(e),
    };
    let want = match reference(g, &xs) {
        Ok(w) => w,
        Err(e) => return Verdict::Invalid(e),
    };
    let (ones, total) = want
        .output
        .iter()
        .flatten()
        .fold((0usize, 0usize), |(o, t), v| {
            (o + v.iter().filter(|&&b| b != 0).count(), t + v.len())
        });
    let pct = 100.0 * ones as f64 / total.max(1) as f64;
    features.insert(format!(
        "reference output spike rate {}",
        match pct {
            0.0 => "0 (silent)",
            p if p < 1.0 => "< 1 %",
            p if p < 5.0 => "1..5 %",
            p if p < 20.0 => "5..20 %",
            _ => ">= 20 %",
        }
    ));
    let net = match lower_with(g, &info, &LowerOptions { dt: Some(DT) }) {
        Ok(n) => n,
        Err(e) => {
            return Verdict::Refused {
                key: format!("lower: {}", refusal_key(&e)),
                full: e.to_string(),
            }
        }
    };
    let copts = CompileOptions {
        machine: o.machine.clone(),
        max_rate: o.max_rate,
        synapses: o.synapses,
        ..CompileOptions::default()
    };
    let (artifact, _report) = match compile(&net, &copts) {
        Ok(a) => a,
        Err(e) => {
            return Verdict::Refused {
                key: format!("compile: {}", refusal_key(&e)),
                full: e.to_string(),
            }
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return mismatch("host: no temporary directory", e.to_string()),
    };
    let out = dir.path().join("art");
    let kernel = snnc_targets::spinnaker2::kernel::artifact_files();
    if let Err(e) = artifact.write(&out, &kernel) {
        return mismatch(
            &format!("artifact write fails: {}", key_of(&e.to_string())),
            e.to_string(),
        );
    }
    let load = || LoadedArtifact::load(&out);
    let loaded = match load() {
        Ok(l) => l,
        Err(e) => {
            return mismatch(
                &format!("artifact load fails: {}", key_of(&e.to_string())),
                e.to_string(),
            )
        }
    };
    let manifest = loaded.manifest.clone();
    features.extend(artifact_features(&manifest));
    counts.pes = manifest.pes.len() as u64;
    let emulated = match emulate(loaded, true, &xs) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let report = &emulated.report;
    counts.neuron_steps = report.neuron_updates;
    counts.spikes = report.spikes;
    counts.packets = report.packets.sent;
    counts.dropped = report.packets.dropped;
    counts.late = report.packets.late;
    counts.overruns = report.overruns;
    counts.unmatched = report.packets.unmatched;
    if report.latency != u64::from(manifest.latency) {
        return mismatch(
            "report latency differs from the manifest's",
            format!(
                "report latency {}, manifest {}",
                report.latency, manifest.latency
            ),
        );
    }
    let p = &report.packets;
    if p.dropped_unrouted > 0 || p.dropped_idle_pe > 0 {
        return mismatch(
            "packets lost by routing (table miss or idle PE)",
            format!(
                "{} copies unrouted, {} sent to idle PEs",
                p.dropped_unrouted, p.dropped_idle_pe
            ),
        );
    }
    if p.dropped_congestion > 0 {
        // Results may differ, as on hardware: check the same run without the NoC model.
        let loaded = match load() {
            Ok(l) => l,
            Err(e) => return mismatch("artifact load fails the second time", e.to_string()),
        };
        let off = match emulate(loaded, false, &xs) {
            Ok(r) => r,
            Err(v) => return v,
        };
        if let Some(d) = describe(&off.outputs, &want.output) {
            return mismatch("output differs (NoC off)", d);
        }
        if let Some(d) = compare_populations(&manifest, &off, &want, o.steps) {
            return mismatch("population spikes differ (NoC off)", d);
        }
        return Verdict::Dropped;
    }
    if let Some(d) = describe(&emulated.outputs, &want.output) {
        return mismatch("output differs", d);
    }
    if let Some(d) = compare_populations(&manifest, &emulated, &want, o.steps) {
        return mismatch("population spikes differ", d);
    }
    Verdict::Pass
}
