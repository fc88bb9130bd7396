//! Compile-time benchmark on the peer network (shared/bench/README.md) built directly, not from
//! IR. Ignored by default (release build, minutes at 10^6 neurons):
//!
//! `SNNC_BENCH_N=10000,100000,1000000 cargo test --release -p snnc-targets --test compile_bench -- --ignored --nocapture`
//!
//! Each size is mapped (`compile_timed`, synapse storage `Auto`), then written with the
//! streaming `Artifact::write` to a scratch directory (removed afterwards); peak RSS is the
//! process's high-water mark, so later sizes include earlier ones' peaks only if smaller.

use std::time::Instant;

use snnc_targets::spinnaker2::compile::{compile_timed, CompileOptions};
use snnc_targets::spinnaker2::kernel::artifact_files;
use snnc_targets::spinnaker2::machine::Machine;
use snnc_targets::spinnaker2::synthetic;

/// Peak resident memory of this process in KiB (Linux), 0 elsewhere.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
#[ignore]
fn compile_peer_network() {
    let sizes: Vec<usize> = std::env::var("SNNC_BENCH_N")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in sizes {
        let t0 = Instant::now();
        let net = synthetic::bench(n, 100, 100, 1);
        let synapses: usize = net.projections.iter().map(|p| p.synapses()).sum();
        let gen = t0.elapsed();
        // Enough chips for the network: ~37 PEs per 10^3 neurons, rounded up to a square board.
        let chips = ((n as f64 / 1000.0 * 40.0 / 152.0).ceil() as u32).max(1);
        let side = (f64::from(chips).sqrt().ceil() as u32).max(1);
        let mut machine = Machine::spinnaker2_default();
        machine.board.chips_x = side;
        machine.board.chips_y = side.max(chips.div_ceil(side));
        let opts = CompileOptions {
            machine,
            ..CompileOptions::default()
        };
        let t1 = Instant::now();
        let result = compile_timed(&net, &opts);
        let mapped = t1.elapsed();
        let (artifact, report, times) = match result {
            Ok(x) => x,
            Err(e) => {
                println!("N={n}: {synapses} synapses: compile error: {e}");
                continue;
            }
        };
        let mapped_peak = peak_kib() / 1024;
        let dir = std::env::temp_dir().join(format!("snnc_bench_{}_{n}", std::process::id()));
        let t2 = Instant::now();
        let written = artifact.write(&dir, &artifact_files());
        let write = t2.elapsed();
        let bytes: u64 = written
            .as_ref()
            .map(|m| m.pes.iter().map(|p| p.bytes).sum())
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);
        println!(
            "N={n}: {synapses} synapses, generated in {:.2} s; mapped in {:.2} s (peak RSS \
             {mapped_peak} MiB), written ({bytes} image bytes) in {:.2} s; peak RSS {} MiB",
            gen.as_secs_f64(),
            mapped.as_secs_f64(),
            write.as_secs_f64(),
            peak_kib() / 1024
        );
        for (stage, t) in times {
            println!("  {stage:<22} {:.3} s", t.as_secs_f64());
        }
        println!("{}", report.render());
        assert!(written.is_ok(), "{:?}", written.err());
    }
}
