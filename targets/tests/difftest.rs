//! Differential testing of the ARM targets (issue 6): seeded random models (`difftest/gen.rs`:
//! an integer core of dense/binary/conv/pool/requant/int_lif/elementwise/clip/reshape layers;
//! `difftest/ext.rs`: float sections with f32 dense layers, sign-stored ±s rows and BatchNorm
//! between dequantize and quantize, up to 4 inputs and 4 outputs, and `delay`/recurrent models)
//! run on the reference interpreter, the plan executor, the host JIT, the C backend on the host
//! and, for some, the C backend under `qemu-system-arm` (Cortex-M4) and the aarch64 object under
//! `qemu-aarch64`; every output byte must match (f32 outputs that are NaN on both sides may
//! differ in their NaN bits). Models with a `delay` or a recurrent edge must be refused by every
//! ARM target with an error naming the node; they are counted as refused. A mismatch is shrunk
//! (`difftest/shrink.rs`) to a minimal model, printed with its seed and saved as
//! `tests/regressions/<seed>.ir`, which [`regressions_replay_on_every_target`] replays.
//!
//! Speed (`difftest/pipeline.rs`): seeds are prepared a chunk at a time on all cores, and each
//! chunk's models run as one batch per external target (one host program, one Cortex-M4
//! firmware image, one aarch64 program: `snnc_targets::arm::batch`) while the next chunk is
//! prepared. Results are merged in seed order, so the report does not depend on the number of
//! threads (`RAYON_NUM_THREADS`).
//!
//! Long runs: `SNNC_DIFF_COUNT=10000 SNNC_DIFF_SEED=1 [SNNC_DIFF_QEMU=all] cargo test -p
//! snnc-targets --release --test difftest -- --ignored --nocapture long_batch` prints the time
//! taken, a coverage table (kernel kinds and model features) and the time per phase.
//! `SNNC_DIFF_QEMU=all` (or `1`) runs every model under both QEMUs, `SNNC_DIFF_QEMU=N` the
//! first N; `SNNC_DIFF_CHUNK` sets the models per batch (32); `SNNC_DIFF_KEEP=1` keeps the
//! generated artifacts in the temporary directory.
//! QEMU runs need `qemu-system-arm`, `arm-none-eabi-gcc`, `qemu-aarch64` and
//! `aarch64-linux-gnu-gcc` (scripts/install_deps.sh) and fail naming the missing package.

#[path = "difftest/gen.rs"]
mod gen;
#[path = "difftest/pipeline.rs"]
mod pipeline;
#[path = "difftest/run.rs"]
mod run;
#[path = "difftest/shrink.rs"]
mod shrink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pipeline::{Prep, Times};
use run::{Target, Verdict};

/// Counts of one batch.
#[derive(Default)]
struct Stats {
    models: usize,
    qemu_models: usize,
    samples_steps: usize,
    build_failures: BTreeMap<String, usize>,
    unsupported: BTreeMap<String, usize>,
    kernels: BTreeMap<&'static str, usize>,
    features: BTreeMap<String, usize>,
    stateful: usize,
    layers: BTreeMap<usize, usize>,
    mismatches: Vec<String>,
    /// Mismatches by signature (see [`signature`]), including those of known bugs.
    signatures: BTreeMap<String, usize>,
    /// Mismatches whose signature is a known bug's (a regression file with `// known bug:`).
    known: usize,
    /// Models every ARM target refused as it must, by what they contain.
    refused: BTreeMap<String, usize>,
    /// f32 output elements that were NaN on both sides with different bits (accepted).
    nan_payloads: usize,
    /// f32 output elements of the reference that are NaN, ±∞ and subnormal (coverage of the
    /// special values).
    special_outputs: [usize; 3],
    /// Seconds per phase (see [`Times`]).
    times: BTreeMap<&'static str, f64>,
}

fn short(reason: &str) -> String {
    let r = reason.lines().next().unwrap_or("");
    r.chars().take(110).collect()
}

/// What kind of mismatch `detail` is, without the model-specific numbers: the target and the
/// first compiler error line, or the first line of the description.
fn signature(target: Target, detail: &str) -> String {
    let line = detail
        .lines()
        .find_map(|l| l.split_once("error:").map(|(_, e)| e))
        .or_else(|| detail.lines().next())
        .unwrap_or("");
    let line: String = line
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect::<String>()
        .split(['‘', '’', '\''])
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, p)| p)
        .collect();
    let line = if line.starts_with(" sample") || line.starts_with("sample") {
        "output differs".to_string()
    } else {
        line.trim().to_string()
    };
    format!("{}: {line}", target.name())
}

/// The signatures of saved regressions: `(signature, known bug reason)`.
fn saved_signatures() -> Vec<(String, Option<String>)> {
    let Ok(dir) = std::fs::read_dir(regressions_dir()) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| {
            let sig = header_str(&text, "signature")?;
            Some((sig, header_str(&text, "known bug")))
        })
        .collect()
}

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions")
}

/// Shrinks the failing `spec` (failing on `target`), prints it and saves it as a regression.
fn report_mismatch(spec: &gen::Spec, target: Target, detail: &str, sig: &str) -> String {
    let fails = |s: &gen::Spec| match gen::build(s) {
        Ok(b) => matches!(
            run::check(&b.graph, b.steps, s.samples, s.seed, &[target]),
            Verdict::Mismatch { target: t, .. } if t == target
        ),
        Err(_) => false,
    };
    let (min, tried) = shrink::shrink(spec, 400, fails);
    let built = gen::build(&min).expect("the shrunk spec builds");
    let detail_min = match run::check(&built.graph, built.steps, min.samples, min.seed, &[target]) {
        Verdict::Mismatch { detail, .. } => detail,
        other => format!("{other:?}"),
    };
    let text = snnc_ir::text::print(&built.graph, &snnc_ir::text::PrintOptions::default());
    let file = regressions_dir().join(format!("{}.ir", spec.seed));
    let header = format!(
        "// difftest seed {} ({} candidates tried while shrinking)\n// signature: {sig}\n// steps = {}\n// samples = {}\n// target: {}\n{}\n",
        spec.seed,
        tried,
        min.steps,
        min.samples,
        target.name(),
        detail_min
            .lines()
            .map(|l| format!("// {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let _ = std::fs::create_dir_all(regressions_dir());
    let _ = std::fs::write(&file, format!("{header}{text}"));
    let msg = format!(
        "MISMATCH seed {} on {}:\n{detail}\nminimal model ({} steps, {} samples; {}):\n{detail_min}\n{text}",
        spec.seed,
        target.name(),
        min.steps,
        min.samples,
        file.display()
    );
    eprintln!("{msg}");
    msg
}

/// Models per chunk: prepared together in parallel, then run as one batch per target.
fn chunk_size() -> usize {
    env_num("SNNC_DIFF_CHUNK", 32).max(1) as usize
}

/// Runs `count` buildable models from seeds `seed, seed+1, ...`; the first `qemu` of them also
/// under both QEMUs. Seeds are prepared a chunk at a time in parallel and the chunk's models
/// run as batches while the next chunk is prepared (`difftest/pipeline.rs`); results are taken
/// in seed order, so the outcome does not depend on the number of threads.
fn batch(count: usize, seed: u64, qemu: usize) -> Stats {
    let times = Times::default();
    let mut st = Stats::default();
    let seeds_for = |want: usize| chunk_size().min(want + want / 8 + 2);
    let mut next = seed;
    let n = seeds_for(count);
    let mut pending = Some(pipeline::prepare_chunk(next, n, qemu > 0, &times));
    next += n as u64;
    while let Some(chunk) = pending.take() {
        let mut models = Vec::new();
        for (s, prep) in chunk {
            if st.models + models.len() >= count {
                break;
            }
            match prep {
                Prep::BuildFailed(e) => *st.build_failures.entry(short(&e)).or_default() += 1,
                Prep::Unsupported(e) => *st.unsupported.entry(short(&e)).or_default() += 1,
                Prep::Refused { built, result } => match result {
                    Ok(_) => {
                        for f in built.features.iter().filter(|f| f.starts_with("refused")) {
                            *st.refused.entry(f.clone()).or_default() += 1;
                        }
                    }
                    Err(e) => {
                        let sig = format!("refusal: {}", short(&e));
                        *st.signatures.entry(sig.clone()).or_default() += 1;
                        st.mismatches.push(format!("seed {s}: {sig}\n{e}"));
                    }
                },
                Prep::Model(m) => models.push(m),
            }
        }
        let q = qemu.saturating_sub(st.models).min(models.len());
        let left = count.saturating_sub(st.models + models.len());
        let more_qemu = qemu > st.models + models.len();
        let from = next;
        let n = seeds_for(left);
        let (_, prepared) = rayon::join(
            || pipeline::run_batches(&mut models, q, &times),
            || (left > 0).then(|| pipeline::prepare_chunk(from, n, more_qemu, &times)),
        );
        pending = prepared;
        next += n as u64;
        for (i, m) in models.into_iter().enumerate() {
            account(&mut st, &m, i < q);
        }
    }
    st.times = times.snapshot();
    st
}

/// Adds one model's results to `st` (mismatches are confirmed alone, shrunk and saved).
fn account(st: &mut Stats, m: &pipeline::Model, qemu: bool) {
    let (spec, built) = (&m.spec, &m.built);
    let (bad, nans) = pipeline::verdict(m);
    st.nan_payloads += nans;
    for (i, n) in pipeline::special_outputs(m).into_iter().enumerate() {
        st.special_outputs[i] += n;
    }
    if let Some((target, detail)) = bad {
        // A batched target's failure is confirmed on the model alone (the single harness).
        let mut batch_only = false;
        let detail = if matches!(target, Target::HostC | Target::QemuM4 | Target::QemuA64) {
            match run::run_target(target, &m.plan, &m.input, spec.samples, built.steps) {
                Ok(got) => match run::compare(&m.plan, &got, &m.want, built.steps) {
                    Ok(_) => {
                        batch_only = true;
                        format!("differs only in a batch: {detail}")
                    }
                    Err(d) => d,
                },
                Err(e) => format!("failed: {e}"),
            }
        } else {
            detail
        };
        let sig = if batch_only {
            format!("{}: differs only in a batch", target.name())
        } else {
            signature(target, &detail)
        };
        let first = !st.signatures.contains_key(&sig);
        *st.signatures.entry(sig.clone()).or_default() += 1;
        let saved = saved_signatures();
        let known = saved.iter().any(|(s, k)| *s == sig && k.is_some());
        if known {
            st.known += 1;
        } else if batch_only {
            st.mismatches
                .push(format!("seed {}: {sig}\n{detail}", spec.seed));
        } else if first && !saved.iter().any(|(s, _)| *s == sig) {
            st.mismatches
                .push(report_mismatch(spec, target, &detail, &sig));
        } else {
            st.mismatches
                .push(format!("seed {}: {sig} (seen before)", spec.seed));
        }
    }
    st.models += 1;
    st.qemu_models += usize::from(qemu);
    st.samples_steps += spec.samples * built.steps;
    if built.steps > 1 || built.features.contains("stateful") {
        st.stateful += 1;
    }
    *st.layers.entry(spec.layers.len()).or_default() += 1;
    for k in &m.plan.kernels {
        *st.kernels.entry(k.kind()).or_default() += 1;
    }
    for f in &built.features {
        *st.features.entry(f.clone()).or_default() += 1;
    }
}

fn print_stats(st: &Stats, secs: f64) {
    let mut o = String::new();
    o += &format!(
        "{} models ({} stateful, {} also under both QEMUs), {} sample-steps, {:.1} s ({:.1} ms/model); {} mismatches\n",
        st.models,
        st.stateful,
        st.qemu_models,
        st.samples_steps,
        secs,
        1000.0 * secs / st.models.max(1) as f64,
        st.mismatches.len()
    );
    o += "layers per model (spec): ";
    for (l, n) in &st.layers {
        o += &format!("{l}: {n}  ");
    }
    o += "\nkernel kind                  kernels in all plans\n";
    for (k, n) in &st.kernels {
        o += &format!("  {k:<26} {n}\n");
    }
    o += "feature                                   models\n";
    for (f, n) in &st.features {
        o += &format!("  {f:<40} {n}\n");
    }
    o += &format!(
        "mismatches by signature ({} of known bugs, not failures):\n",
        st.known
    );
    for (sig, n) in &st.signatures {
        o += &format!("  {n:>5}  {sig}\n");
    }
    o += "regenerated (did not build or verify):\n";
    for (r, n) in &st.build_failures {
        o += &format!("  {n:>5}  {r}\n");
    }
    o += "skipped (ARM lowering refused a model it was not meant to refuse):\n";
    for (r, n) in &st.unsupported {
        o += &format!("  {n:>5}  {r}\n");
    }
    o += "refused as required by every ARM target (cortex-m4, cortex-m7, aarch64, host), naming the node:\n";
    for (r, n) in &st.refused {
        o += &format!("  {n:>5}  {r}\n");
    }
    o += &format!(
        "f32 output elements of the reference: {} NaN, {} infinite, {} subnormal; NaN on both sides with other bits (accepted): {}\n",
        st.special_outputs[0], st.special_outputs[1], st.special_outputs[2], st.nan_payloads
    );
    o += "time by phase (seconds; per-model phases summed over threads):\n";
    for (p, t) in &st.times {
        o += &format!(
            "  {p:<44} {t:>9.1}  ({:.1} ms/model)\n",
            1000.0 * t / st.models.max(1) as f64
        );
    }
    eprintln!("{o}");
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fixed-seed batch of `cargo test`: 40 models on the plan executor, the JIT and host C,
/// the first 8 also under both QEMUs; it must reach the integer and the float kernels, and
/// models with several inputs and outputs.
#[test]
fn random_models_match_reference_on_every_arm_target() {
    let t0 = Instant::now();
    let st = batch(40, 1, 8);
    print_stats(&st, t0.elapsed().as_secs_f64());
    assert!(st.mismatches.is_empty(), "{}", st.mismatches.join("\n\n"));
    // The batch must reach the kernels it is meant to test.
    for k in [
        "quantize",
        "dense_int",
        "conv2d_int",
        "requant",
        "int_lif",
        "elementwise",
        "dense_f32",
        "scale_shift",
        "dequantize",
    ] {
        assert!(st.kernels.contains_key(k), "no {k} kernel in the batch");
    }
    for f in [
        "inputs: 2",
        "outputs: 2",
        "dense f32: rows ±s (stored as signs)",
    ] {
        assert!(
            st.features.contains_key(f),
            "no model with `{f}` in the batch"
        );
    }
}

/// Long run: `SNNC_DIFF_COUNT` models (default 1000) from `SNNC_DIFF_SEED` (default 1000000);
/// `SNNC_DIFF_QEMU=all` (or `1`) runs every model under both QEMUs, `SNNC_DIFF_QEMU=N` (N > 1)
/// or `SNNC_DIFF_QEMU_N=N` the first N (default none).
#[test]
#[ignore = "long run: set SNNC_DIFF_COUNT / SNNC_DIFF_SEED / SNNC_DIFF_QEMU"]
fn long_batch() {
    let count = env_num("SNNC_DIFF_COUNT", 1000) as usize;
    let seed = env_num("SNNC_DIFF_SEED", 1_000_000);
    let qemu = match std::env::var("SNNC_DIFF_QEMU").as_deref().map(str::trim) {
        Ok("all" | "1") => count,
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| env_num("SNNC_DIFF_QEMU_N", 0) as usize),
        Err(_) => env_num("SNNC_DIFF_QEMU_N", 0) as usize,
    };
    let t0 = Instant::now();
    let st = batch(count, seed, qemu);
    eprintln!("seeds {seed}..; QEMU for the first {qemu}");
    print_stats(&st, t0.elapsed().as_secs_f64());
    assert!(st.mismatches.is_empty(), "{}", st.mismatches.join("\n\n"));
}

/// A `// key = value` header line of a regression file.
fn header(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| {
            let (k, v) = l.trim_start_matches("//").split_once('=')?;
            (k.trim() == key).then(|| v.trim().parse().ok())?
        })
}

/// A `// key: text` header line of a regression file.
fn header_str(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| {
            let (k, v) = l.trim_start_matches("//").split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
}

/// Replays one saved regression (`tests/regressions/<name>`) on every target.
fn replay(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let g = snnc_ir::text::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let steps = header(&text, "steps").unwrap_or(1);
    let samples = header(&text, "samples").unwrap_or(8);
    let seed = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match run::check(&g, steps, samples.max(8), seed, &Target::ALL) {
        Verdict::Pass => Ok(()),
        Verdict::Unsupported(e) => Err(format!("{}: refused: {e}", path.display())),
        Verdict::Mismatch { target, detail } => Err(format!(
            "{}: {} differs: {detail}",
            path.display(),
            target.name()
        )),
    }
}

/// Every saved minimal failing model (`tests/regressions/*.ir`) on every target, except those
/// marked `// known bug:` (each has its own ignored test below until the backend is fixed).
#[test]
fn regressions_replay_on_every_target() {
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
        let text = std::fs::read_to_string(f).unwrap();
        if header_str(&text, "known bug").is_some() {
            known += 1;
            continue;
        }
        if let Err(e) = replay(f) {
            failures.push(e);
        }
    }
    eprintln!(
        "{} regression models replayed, {known} known bugs skipped",
        files.len() - known
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Shrinking reaches a minimal spec: with "the plan has an int_lif kernel" as the failure, a
/// stateful random model shrinks to the LIF alone, one step, one sample.
#[test]
fn shrinking_reaches_a_minimal_spec() {
    let spec = (0..)
        .map(gen::generate)
        .find(|s| s.layers.len() >= 4 && s.steps > 1 && gen::build(s).is_ok() && has_lif(s))
        .unwrap();
    let (min, tried) = shrink::shrink(&spec, 1000, has_lif);
    assert!(tried < 1000, "shrinking did not converge");
    assert_eq!(min.layers.len(), 1, "{min:?}");
    assert!(
        matches!(min.layers[0].kind, gen::Kind::Lif { .. }),
        "{min:?}"
    );
    assert_eq!((min.steps, min.samples), (1, 1));
    assert!(min.input.iter().all(|&d| d == 1), "{:?}", min.input);
}

fn has_lif(s: &gen::Spec) -> bool {
    gen::build(s).is_ok_and(|b| {
        run::plan_of(&b.graph).is_ok_and(|p| p.kernels.iter().any(|k| k.kind() == "int_lif"))
    })
}
