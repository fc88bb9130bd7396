//! Differential testing of the spinnaker2 target (issue 6): seeded random integer spiking models
//! (`difftest_s2/gen.rs`) go through the whole target pipeline — lowering, mapping onto a
//! machine (single chips, small multi-chip boards, chips with empty mesh slots, SRAM and DRAM
//! synapses), the artifact written and loaded from disk, the emulator with its packet-level NoC
//! model — and must match the reference interpreter bit for bit (`difftest_s2/run.rs`): the
//! output spikes step for step (aligned by the pipeline latency as `snnc run` aligns with `snnc
//! sim --target spinnaker2`), and every population's spikes from the emulator's raster. A
//! mismatch is shrunk (`difftest_s2/shrink.rs`) to a minimal model, printed with its seed and
//! saved as `tests/regressions_s2/<seed>.ir` (IR text with a header of compile and run
//! options), which [`regressions_replay`] replays; a file marked `// known bug: <reason>` is
//! expected to keep failing with its signature until the bug is fixed.
//!
//! Models the target refuses with an error are counted by reason (not failures); runs where the
//! NoC model dropped packets at a full FIFO are counted apart and checked again with the NoC off.
//!
//! Long runs: `SNNC_DIFF_COUNT=2000 SNNC_DIFF_SEED=1 cargo test -p snnc-runtime --release --test
//! difftest_s2 -- --ignored --nocapture long_batch` runs the models in parallel on all cores
//! (results do not depend on the thread count) and prints the time taken and a coverage table.
//! `SNNC_DIFF_SEED=N ... --ignored --nocapture inspect_one` shows one model and its verdict.

#[path = "difftest_s2/gen.rs"]
mod gen;
#[path = "difftest_s2/run.rs"]
mod run;
#[path = "difftest_s2/shrink.rs"]
mod shrink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use snnc_targets::spinnaker2::machine::Machine;
use snnc_targets::spinnaker2::partition::SynapseStorage;

use gen::RunOpts;
use run::{Counts, Outcome, Verdict};

/// Counts of one batch.
#[derive(Default)]
struct Stats {
    models: usize,
    passed: usize,
    /// Specs that did not build (regenerated; the generator's own misses).
    build_failures: BTreeMap<String, usize>,
    /// Refusals by reason: count and the first full message.
    refused: BTreeMap<String, (usize, String)>,
    dropped: usize,
    dropped_seeds: Vec<u64>,
    invalid: BTreeMap<String, usize>,
    features: BTreeMap<String, usize>,
    sample_steps: usize,
    counts: Counts,
    /// Mismatch reports (shrunk, or "seen before").
    mismatches: Vec<String>,
    /// Mismatches by signature, including those of known bugs.
    signatures: BTreeMap<String, usize>,
    /// Mismatches whose signature is a known bug's (a regression file with `// known bug:`).
    known: usize,
}

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions_s2")
}

/// A `// key: value` or `// key = value` header line of a regression file.
fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| {
            let l = l.trim_start_matches("//").trim();
            let at = l.find([':', '='])?;
            let (k, v) = l.split_at(at);
            (k.trim() == key).then(|| v[1..].trim().to_string())
        })
}

fn storage_name(s: SynapseStorage) -> &'static str {
    match s {
        SynapseStorage::Sram => "sram",
        SynapseStorage::Dram => "dram",
        SynapseStorage::Auto => "auto",
    }
}

/// The run options of a regression file's header.
fn header_opts(text: &str, seed: u64) -> Result<RunOpts, String> {
    let machine = match header(text, "machine") {
        Some(json) => {
            Machine::from_json(&json, Path::new("regression header")).map_err(|e| e.to_string())?
        }
        None => Machine::spinnaker2_default(),
    };
    let num =
        |k: &str, d: u64| -> u64 { header(text, k).and_then(|v| v.parse().ok()).unwrap_or(d) };
    Ok(RunOpts {
        machine,
        synapses: match header(text, "synapses").as_deref() {
            Some("dram") => SynapseStorage::Dram,
            Some("auto") => SynapseStorage::Auto,
            _ => SynapseStorage::Sram,
        },
        max_rate: header(text, "max rate")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.1),
        steps: num("steps", 1) as usize,
        samples: num("samples", 1) as usize,
        input_seed: num("input seed", seed),
    })
}

/// The signatures of saved regressions: `(signature, known bug reason)`.
fn saved_signatures() -> Vec<(String, Option<String>)> {
    let Ok(dir) = std::fs::read_dir(regressions_dir()) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| Some((header(&text, "signature")?, header(&text, "known bug"))))
        .collect()
}

/// Whether `spec` builds and fails with signature `sig`.
fn fails_with(spec: &gen::Spec, sig: &str) -> bool {
    match gen::build(spec) {
        Ok(b) => matches!(
            run::check(&b.graph, &b.opts).verdict,
            Verdict::Mismatch { sig: s, .. } if s == sig
        ),
        Err(_) => false,
    }
}

/// Shrinks the failing `spec`, prints it and saves it as a regression; the report.
fn report_mismatch(spec: &gen::Spec, sig: &str, detail: &str) -> String {
    let (min, tried) = shrink::shrink(spec, 3000, |s| fails_with(s, sig));
    let Ok(built) = gen::build(&min) else {
        return format!("seed {}: {sig}: the shrunk spec does not build", spec.seed);
    };
    let detail_min = match run::check(&built.graph, &built.opts).verdict {
        Verdict::Mismatch { detail, .. } => detail,
        other => format!("{other:?}"),
    };
    let text = snnc_ir::text::print(&built.graph, &snnc_ir::text::PrintOptions::default());
    let o = &built.opts;
    let machine = serde_json::to_string(&o.machine).unwrap_or_default();
    let header = format!(
        "// difftest_s2 seed {} ({tried} candidates tried while shrinking)\n// signature: {sig}\n\
         // steps = {}\n// samples = {}\n// input seed = {}\n// synapses = {}\n// max rate = {}\n\
         // machine: {machine}\n{}\n",
        spec.seed,
        o.steps,
        o.samples,
        o.input_seed,
        storage_name(o.synapses),
        o.max_rate,
        detail_min
            .lines()
            .map(|l| format!("// {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let file = regressions_dir().join(format!("{}.ir", spec.seed));
    let _ = std::fs::create_dir_all(regressions_dir());
    let _ = std::fs::write(&file, format!("{header}{text}"));
    let msg = format!(
        "MISMATCH seed {}: {sig}\n{detail}\nminimal model ({} steps, {} samples, saved as {}):\n\
         {header}{text}",
        spec.seed,
        o.steps,
        o.samples,
        file.display()
    );
    eprintln!("{msg}");
    msg
}

/// The first `count` specs from seed `seed` on that build (others are counted and skipped).
fn specs(count: usize, seed: u64, st: &mut Stats) -> Vec<(gen::Spec, gen::Built)> {
    let mut out = Vec::new();
    let mut s = seed;
    while out.len() < count {
        let spec = gen::generate(s);
        s += 1;
        match gen::build(&spec) {
            Ok(b) => out.push((spec, b)),
            Err(e) => *st.build_failures.entry(run::key_of(&e)).or_default() += 1,
        }
    }
    out
}

/// Checks every model, in parallel on the current rayon pool; outcomes in model order.
fn check_all(models: &[(gen::Spec, gen::Built)]) -> Vec<Outcome> {
    models
        .par_iter()
        .map(|(_, b)| run::check(&b.graph, &b.opts))
        .collect()
}

/// Runs `count` buildable models from seeds `seed, seed + 1, ...` in parallel and collects the
/// results in seed order.
fn batch(count: usize, seed: u64) -> Stats {
    let mut st = Stats::default();
    let models = specs(count, seed, &mut st);
    let outcomes = check_all(&models);
    let saved = saved_signatures();
    for ((spec, built), out) in models.iter().zip(outcomes) {
        st.models += 1;
        st.sample_steps += built.opts.samples * built.opts.steps;
        for f in built.features.iter().chain(&out.features) {
            *st.features.entry(f.clone()).or_default() += 1;
        }
        let c = &out.counts;
        st.counts.neuron_steps += c.neuron_steps;
        st.counts.spikes += c.spikes;
        st.counts.packets += c.packets;
        st.counts.dropped += c.dropped;
        st.counts.late += c.late;
        st.counts.overruns += c.overruns;
        st.counts.unmatched += c.unmatched;
        st.counts.pes += c.pes;
        match out.verdict {
            Verdict::Pass => st.passed += 1,
            Verdict::Dropped => {
                st.dropped += 1;
                st.dropped_seeds.push(spec.seed);
            }
            Verdict::Refused { key, full } => {
                let example = format!("(seed {}) {full}", spec.seed);
                st.refused.entry(key).or_insert((0, example)).0 += 1;
            }
            Verdict::Invalid(e) => *st.invalid.entry(run::key_of(&e)).or_default() += 1,
            Verdict::Mismatch { sig, detail } => {
                let first = !st.signatures.contains_key(&sig);
                *st.signatures.entry(sig.clone()).or_default() += 1;
                let known = saved.iter().any(|(s, k)| *s == sig && k.is_some());
                if known {
                    st.known += 1;
                } else if first && !saved.iter().any(|(s, _)| *s == sig) {
                    st.mismatches.push(report_mismatch(spec, &sig, &detail));
                } else {
                    st.mismatches
                        .push(format!("seed {}: {sig} (seen before)\n{detail}", spec.seed));
                }
            }
        }
    }
    st
}

fn print_stats(st: &Stats, secs: f64) {
    let refused: usize = st.refused.values().map(|r| r.0).sum();
    let mut o = String::new();
    o += &format!(
        "{} models in {secs:.1} s ({:.1} ms/model, {} threads), {} sample-steps: {} passed, \
         {} refused ({:.1} %), {} with NoC drops (matched with the NoC off), {} invalid, \
         {} mismatches ({} of known bugs)\n",
        st.models,
        1000.0 * secs / st.models.max(1) as f64,
        rayon::current_num_threads(),
        st.sample_steps,
        st.passed,
        refused,
        100.0 * refused as f64 / st.models.max(1) as f64,
        st.dropped,
        st.invalid.values().sum::<usize>(),
        st.mismatches.len() + st.known,
        st.known
    );
    let c = &st.counts;
    o += &format!(
        "emulated: {} PEs in all, {} neuron updates, {} spikes ({:.3} per neuron update), {} \
         packets sent, {} copies dropped, {} late, {} PE overruns, {} unmatched\n",
        c.pes,
        c.neuron_steps,
        c.spikes,
        c.spikes as f64 / c.neuron_steps.max(1) as f64,
        c.packets,
        c.dropped,
        c.late,
        c.overruns,
        c.unmatched
    );
    if !st.dropped_seeds.is_empty() {
        let seeds: Vec<String> = st
            .dropped_seeds
            .iter()
            .take(20)
            .map(u64::to_string)
            .collect();
        o += &format!("seeds with NoC drops: {}\n", seeds.join(", "));
    }
    o += "feature                                                     models\n";
    for (f, n) in &st.features {
        o += &format!("  {f:<58} {n:>6}\n");
    }
    o += "refused by reason (with the first message):\n";
    for (r, (n, full)) in &st.refused {
        let full: String = full.chars().take(240).collect();
        o += &format!("  {n:>6}  {r}\n          e.g. {full}\n");
    }
    if !st.invalid.is_empty() {
        o += "invalid models (reference failed):\n";
        for (r, n) in &st.invalid {
            o += &format!("  {n:>6}  {r}\n");
        }
    }
    o += "specs that did not build (regenerated):\n";
    for (r, n) in &st.build_failures {
        o += &format!("  {n:>6}  {r}\n");
    }
    o += &format!(
        "mismatches by signature ({} of known bugs, not failures):\n",
        st.known
    );
    for (sig, n) in &st.signatures {
        o += &format!("  {n:>6}  {sig}\n");
    }
    eprintln!("{o}");
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fixed-seed batch of `cargo test`: 60 models.
#[test]
fn random_models_match_reference_on_spinnaker2() {
    let t0 = Instant::now();
    let st = batch(60, 1);
    print_stats(&st, t0.elapsed().as_secs_f64());
    assert!(st.mismatches.is_empty(), "{}", st.mismatches.join("\n\n"));
    assert!(st.invalid.is_empty(), "{:?}", st.invalid);
    let refused: usize = st.refused.values().map(|r| r.0).sum();
    assert!(
        refused * 4 <= st.models,
        "{refused} of {} models refused",
        st.models
    );
    // The batch must reach what it is meant to test.
    for f in [
        "LIF population on several PEs",
        "model on several chips",
        "synapses in DRAM",
        "recurrent: self",
        "reset: subtract",
        "reset: to value",
        "add-merge of 2 projections",
    ] {
        assert!(st.features.contains_key(f), "no model with `{f}`");
    }
}

/// Verdicts and counts of a batch do not depend on the number of threads (the long batch runs
/// models in parallel; each model's emulator runs its samples in parallel too).
#[test]
fn batch_results_do_not_depend_on_threads() {
    let mut st = Stats::default();
    let models = specs(12, 100, &mut st);
    let on = |n: usize| -> Vec<String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("a thread pool");
        pool.install(|| check_all(&models))
            .into_iter()
            .map(|o| format!("{:?} {:?} {:?}", o.verdict, o.counts, o.features))
            .collect()
    };
    let one = on(1);
    assert_eq!(one, on(3));
    assert!(one.iter().any(|v| v.starts_with("Pass")), "{one:?}");
}

/// Long run: `SNNC_DIFF_COUNT` models (default 1000) from `SNNC_DIFF_SEED` (default 1000000).
#[test]
#[ignore = "long run: set SNNC_DIFF_COUNT / SNNC_DIFF_SEED"]
fn long_batch() {
    let count = env_num("SNNC_DIFF_COUNT", 1000) as usize;
    let seed = env_num("SNNC_DIFF_SEED", 1_000_000);
    let t0 = Instant::now();
    let st = batch(count, seed);
    eprintln!("seeds from {seed}");
    print_stats(&st, t0.elapsed().as_secs_f64());
    assert!(st.mismatches.is_empty(), "{}", st.mismatches.join("\n\n"));
}

/// Replays one saved regression: `Ok` when the target matches the reference, else the
/// mismatch signature (empty for other verdicts) and a description.
fn replay(path: &Path) -> Result<(), (String, String)> {
    replay_inner(path).map_err(|e| (String::new(), e))?
}

fn replay_inner(path: &Path) -> Result<Result<(), (String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let g = snnc_ir::text::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let opts = header_opts(&text, seed)?;
    Ok(match run::check(&g, &opts).verdict {
        Verdict::Pass => Ok(()),
        Verdict::Mismatch { sig, detail } => {
            Err((sig.clone(), format!("{}: {sig}\n{detail}", path.display())))
        }
        v => Err((String::new(), format!("{}: {v:?}", path.display()))),
    })
}

/// Every saved minimal failing model (`tests/regressions_s2/*.ir`). Those marked
/// `// known bug: <reason>` must still fail with their signature (the bug is documented until
/// it is fixed; then the marker goes); all others must pass.
#[test]
fn regressions_replay() {
    let Ok(dir) = std::fs::read_dir(regressions_dir()) else {
        return;
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ir"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut known = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let result = replay(f);
        match (header(&text, "known bug"), result) {
            (None, Ok(())) => {}
            (None, Err((_, e))) => failures.push(e),
            (Some(_), Err((sig, e))) => {
                if header(&text, "signature") != Some(sig) {
                    failures.push(format!("known bug fails differently now: {e}"));
                }
                known += 1;
            }
            (Some(reason), Ok(())) => failures.push(format!(
                "{}: the known bug ({reason}) no longer reproduces: remove its `// known bug:` line",
                f.display()
            )),
        }
    }
    eprintln!(
        "{} regression models replayed ({known} known bugs, still failing as documented)",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Shrinking reaches a minimal spec: with "some layer has a self-recurrent projection" as the
/// failure, a multi-layer model shrinks to one layer of one neuron fed only by itself, on the
/// default machine, one step, one sample.
#[test]
fn shrinking_reaches_a_minimal_spec() {
    let self_rec =
        |s: &gen::Spec| gen::build(s).is_ok_and(|b| b.features.contains("recurrent: self"));
    let spec = (0..)
        .map(gen::generate)
        .find(|s| s.layers.len() >= 3 && s.steps > 1 && s.samples > 1 && self_rec(s))
        .unwrap();
    let (min, tried) = shrink::shrink(&spec, 5000, self_rec);
    assert!(tried < 5000, "shrinking did not converge");
    assert_eq!(min.layers.len(), 1, "{min:?}");
    assert_eq!(min.layers[0].proj.len(), 1, "{min:?}");
    assert_eq!(min.layers[0].proj[0].from, 1, "{min:?}");
    assert_eq!(min.layers[0].n, 1);
    assert_eq!((min.steps, min.samples, min.n_in), (1, 1, 1));
    assert_eq!(min.machine, gen::MachineKind::Default);
}

/// Inspects one model: `SNNC_DIFF_SEED=N cargo test -p snnc-runtime --test difftest_s2 --
/// --ignored --nocapture inspect_one` prints its spec, its graph (large constants elided) and
/// the verdict.
#[test]
#[ignore = "inspection aid: set SNNC_DIFF_SEED"]
fn inspect_one() {
    let seed = env_num("SNNC_DIFF_SEED", 1);
    let spec = gen::generate(seed);
    eprintln!("{spec:#?}");
    match gen::build(&spec) {
        Ok(b) => {
            let opts = snnc_ir::text::PrintOptions {
                elide_consts_over: Some(24),
            };
            eprintln!("{}", snnc_ir::text::print(&b.graph, &opts));
            let out = run::check(&b.graph, &b.opts);
            eprintln!(
                "{:?}
{:?}
{:?}",
                out.verdict, out.counts, out.features
            );
        }
        Err(e) => eprintln!("does not build: {e}"),
    }
}
