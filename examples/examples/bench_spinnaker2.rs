//! Benchmark of the spinnaker2 target on the peer network of `shared/bench/README.md` (1,000
//! Poisson inputs at 20 Hz → N LIF neurons with ≈100 inputs each, plus N → N recurrent with ≈100
//! each, 1 ms steps), built directly as a target network (`synthetic::bench`), not from a model
//! file.
//!
//! ```text
//! bench_spinnaker2 compile N [--max-rate R]     # map + write the artifact; time per stage, peak RSS
//! bench_spinnaker2 emulate N STEPS [--max-rate R] [--no-noc] [--threads K]   # events per second
//! ```
//!
//! Run each mode in a fresh process (peak RSS is per process). `scripts/bench_peer.sh` alternates
//! the emulator with Brian2 (the peer) in one session and prints the medians.

use std::path::{Path, PathBuf};
use std::time::Instant;

use snnc_runtime::emu::{EmuOptions, Emulator};
use snnc_targets::spinnaker2::artifact::LoadedArtifact;
use snnc_targets::spinnaker2::compile::{compile_timed, CompileOptions};
use snnc_targets::spinnaker2::kernel::artifact_files;
use snnc_targets::spinnaker2::machine::Machine;
use snnc_targets::spinnaker2::synthetic;

/// Peak resident memory of this process in MiB (Linux `VmHWM`).
fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_spinnaker2 compile N [--max-rate R] | emulate N STEPS [--max-rate R] [--no-noc] [--threads K]"
    );
    std::process::exit(2)
}

/// A 48-chip SpiNNaker2 board (7,296 PEs), enough for every size measured.
fn machine() -> Machine {
    Machine::spinnaker2_board48()
}

fn artifact_dir(n: usize) -> PathBuf {
    std::env::temp_dir().join(format!("snnc_bench_s2_{n}_{}", std::process::id()))
}

/// Compile the peer network of `n` neurons into `dir`, printing what it cost.
fn compile(n: usize, max_rate: f64, dir: &Path, quiet: bool) {
    let t0 = Instant::now();
    let net = synthetic::bench(n, 100, 100, 1);
    let synapses: usize = net.projections.iter().map(|p| p.synapses()).sum();
    let generated = t0.elapsed().as_secs_f64();
    let opts = CompileOptions {
        machine: machine(),
        max_rate,
        ..CompileOptions::default()
    };
    let t1 = Instant::now();
    let (artifact, report, times) = match compile_timed(&net, &opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("N={n}: compile error: {e}");
            std::process::exit(1)
        }
    };
    let mapped = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    if let Err(e) = artifact.write(dir, &artifact_files()) {
        eprintln!("N={n}: write error: {e}");
        std::process::exit(1)
    }
    let written = t2.elapsed().as_secs_f64();
    if quiet {
        return;
    }
    println!(
        "RESULT mode=compile N={n} synapses={synapses} generate_s={generated:.2} map_s={mapped:.2} \
         write_s={written:.2} compile_s={:.2} peak_rss_mib={}",
        mapped + written,
        peak_mib()
    );
    for (stage, t) in times {
        println!("  {stage:<22} {:.3} s", t.as_secs_f64());
    }
    print!("{}", report.render());
}

/// Seeded Bernoulli spikes, probability `p` per input per step (20 Hz at 1 ms: 0.02).
fn poisson(steps: usize, inputs: usize, p: f64, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = synthetic::Rng::new(seed);
    (0..steps)
        .map(|_| {
            (0..inputs)
                .map(|_| if rng.unit() < p { 1.0 } else { 0.0 })
                .collect()
        })
        .collect()
}

fn emulate(n: usize, steps: usize, max_rate: f64, noc: bool, threads: Option<usize>) {
    let dir = artifact_dir(n);
    compile(n, max_rate, &dir, true);
    let loaded = match LoadedArtifact::load(&dir) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(1)
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let opts = EmuOptions {
        noc,
        threads,
        ..EmuOptions::default()
    };
    let t0 = Instant::now();
    let emu = match Emulator::new(loaded, opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emulator: {e}");
            std::process::exit(1)
        }
    };
    let build = t0.elapsed().as_secs_f64();
    let (inputs, _) = emu.io_sizes();
    let x = poisson(steps, inputs, 0.02, 7);
    let run = match emu.run_sample(&x) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("run: {e}");
            std::process::exit(1)
        }
    };
    let r = &run.report;
    let events = r.synaptic_events;
    println!(
        "RESULT mode=emulate N={n} steps={steps} noc={noc} events={events} spikes={} \
         rate_lif={:.2}Hz build_s={build:.2} t_run={:.3}s ev_per_s={:.3e} packets={} \
         dropped={} late={} overruns={} cycles_max={} of {} peak_rss_mib={}",
        r.spikes,
        r.spikes as f64 / n as f64 / (steps as f64 / 1000.0),
        r.wall_seconds,
        events as f64 / r.wall_seconds.max(1e-9),
        r.packets.sent,
        r.packets.dropped,
        r.packets.late,
        r.overruns,
        r.cycles_max,
        r.cycles_per_tick,
        peak_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage())
    };
    // Spikes per neuron per tick the partitioner budgets cycles for: the network fires at
    // 33–52 Hz (0.03–0.05 per 1 ms tick), so 0.1 keeps every PE inside its real-time budget.
    let max_rate = args
        .iter()
        .position(|a| a == "--max-rate")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<f64>().unwrap_or_else(|_| usage()))
        .unwrap_or(0.1);
    match args.first().map(String::as_str) {
        Some("compile") => {
            let n = num(1);
            let dir = artifact_dir(n);
            compile(n, max_rate, &dir, false);
            let _ = std::fs::remove_dir_all(&dir);
        }
        Some("emulate") => {
            let noc = !args.iter().any(|a| a == "--no-noc");
            let threads = args
                .iter()
                .position(|a| a == "--threads")
                .map(|i| num(i + 1));
            emulate(num(1), num(2), max_rate, noc, threads)
        }
        _ => usage(),
    }
}
