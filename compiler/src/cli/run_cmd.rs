//! `snnc run OUT --input X.npy`: execute a compiled artifact on a batch of inputs. spinnaker2
//! artifacts run on the bundled cycle-level emulator, which loads only the artifact directory;
//! the outputs are aligned step for step with `snnc sim` of the same model and target, so the two
//! `.npy` files compare equal element for element.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use snnc_runtime::emu::{EmuOptions, Emulator, RunReport};
use snnc_targets::spinnaker2::artifact::LoadedArtifact;

use crate::encode::StepInput;
use crate::error::CliError;
use crate::npy::{self, Array};
use crate::output;
use crate::sim::{self, Encoding, Reduce, SimOptions};

/// Arguments of `snnc run`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// The artifact directory `snnc compile --target spinnaker2|cortex-m4|cortex-m7|aarch64|host
    /// -o DIR` wrote.
    pub artifact: PathBuf,
    /// Input array (.npy) `[N, ...]` (`[N, T, ...]` for `--encoding spikes`).
    #[arg(short, long, value_name = "X.npy")]
    pub input: PathBuf,
    /// Output array (.npy), the same layout `snnc sim` writes.
    #[arg(short, long, value_name = "Y.npy")]
    pub output: PathBuf,
    /// Time steps per sample (the pipeline latency is run on top and dropped). Required for
    /// stateful (spiking) models; 1 otherwise.
    #[arg(long, value_name = "T")]
    pub steps: Option<usize>,
    /// How outputs of the steps are combined (as `snnc sim`).
    #[arg(long, value_enum, default_value_t = Reduce::Sum)]
    pub reduce: Reduce,
    /// How input values enter each step (as `snnc sim`).
    #[arg(long, value_enum, default_value_t = Encoding::Direct)]
    pub encoding: Encoding,
    /// Seed of the rate encoder (as `snnc sim`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the run report (cycles, packets, SRAM, energy estimate) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Also write the spike raster of every population as .npy rows (sample, tick, population,
    /// neuron).
    #[arg(long, value_name = "RASTER.npy")]
    pub trace: Option<PathBuf>,
    /// Deliver packets instantly instead of timing them on the packet-level NoC model (faster;
    /// outputs are identical unless the NoC model drops packets).
    #[arg(long)]
    pub no_noc: bool,
    /// Run an ARM artifact's model natively on this machine (cranelift JIT of its `model.ir`)
    /// instead of under QEMU.
    #[arg(long)]
    pub native: bool,
    /// Where to run an ARM artifact: `host` JIT-compiles its model for this machine (the same
    /// as `--native`); by default it runs where it was compiled for (QEMU for cortex-m4/m7 and
    /// aarch64).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: Option<RunTarget>,
}

/// Values of `snnc run --target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RunTarget {
    /// This machine, through the cranelift JIT.
    Host,
}

/// Samples run per emulator call, so the progress line moves on long runs.
const CHUNK: usize = 32;

/// Run the artifact of `args` and write its outputs (and report and raster when asked).
pub fn run(args: &RunArgs, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    check_args(args)?;
    if let Some(manifest) = super::arm::read_manifest(&args.artifact) {
        return super::arm::run(args, &manifest?, out);
    }
    let steps = match args.steps {
        Some(0) => return Err(CliError::Usage("--steps must be at least 1".into())),
        Some(t) => t,
        None => {
            return Err(CliError::Usage(
                "a spinnaker2 artifact runs a spiking network: give the number of time steps with --steps".into(),
            ))
        }
    };
    let dir = &args.artifact;
    let loaded = LoadedArtifact::load(dir).map_err(|source| CliError::Artifact {
        path: dir.clone(),
        source,
    })?;
    let emu_err = |source| CliError::Emulator {
        path: dir.clone(),
        source,
    };
    let opts = EmuOptions {
        noc: !args.no_noc,
        trace: args.trace.is_some(),
        threads: args.threads,
        ..EmuOptions::default()
    };
    let emu = Emulator::new(loaded, opts).map_err(emu_err)?;
    let manifest = emu.manifest().clone();
    let (in_len, out_len) = emu.io_sizes();
    let sim_opts = SimOptions {
        steps,
        dt: 1.0,
        reduce: args.reduce,
        encoding: args.encoding,
        seed: args.seed,
        threads: 1,
    };
    let array = npy::read(&args.input)?;
    let ty = format!("{:?}", manifest.input.shape);
    let input = StepInput::new(
        &array,
        &args.input,
        &manifest.input.name,
        &ty,
        in_len,
        0,
        &sim_opts,
    )?;
    let n = input.batch();
    let progress = std::io::stderr().is_terminal() && n > CHUNK;
    let start = Instant::now();
    let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(n);
    let mut reports: Vec<RunReport> = Vec::new();
    let mut raster: Vec<f32> = Vec::new();
    for first in (0..n).step_by(CHUNK) {
        let last = (first + CHUNK).min(n);
        let samples: Vec<Vec<Vec<f32>>> = (first..last)
            .map(|i| (0..steps).map(|t| input.step(i, t)).collect())
            .collect();
        let batch = emu.run_batch(&samples).map_err(emu_err)?;
        for per_step in batch.outputs {
            let mut acc = Vec::new();
            for step in per_step {
                let v = step.iter().map(|&s| f32::from(s)).collect();
                sim::accumulate(&mut acc, v, args.reduce, steps);
            }
            outputs.push(acc);
        }
        if let Some(rasters) = batch.rasters {
            for (k, events) in rasters.iter().enumerate() {
                for e in events {
                    raster.extend([
                        (first + k) as f32,
                        e.tick as f32,
                        e.population as f32,
                        e.neuron as f32,
                    ]);
                }
            }
        }
        reports.push(batch.report);
        if progress {
            eprint!(
                "\rsnnc run: {last}/{n} samples, {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
    }
    if progress {
        eprintln!();
    }
    let y = sim::assemble(
        outputs.iter().map(Vec::as_slice),
        n,
        &sim::sample_shape(&manifest.output.shape),
        steps,
        args.reduce,
    );
    if y.data.len()
        != n * out_len
            * if args.reduce == Reduce::None && steps > 1 {
                steps
            } else {
                1
            }
    {
        return Err(CliError::Usage(format!(
            "{}: output `{}` of shape {:?} does not hold the emulator's {out_len} values per step",
            dir.display(),
            manifest.output.name,
            manifest.output.shape
        )));
    }
    let summary = Summary::of(&reports);
    let mut files = vec![(args.output.clone(), npy::to_bytes(&y))];
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&summary.json(&reports))
            .map_err(|e| CliError::Usage(e.to_string()))?
            + "\n";
        files.push((path.clone(), json.into_bytes()));
    }
    if let Some(path) = &args.trace {
        let rows = raster.len() / 4;
        let a = Array {
            shape: vec![rows, 4],
            data: raster,
        };
        files.push((path.clone(), npy::to_bytes(&a)));
    }
    output::write_all_atomic(&files)?;
    out.write_all(summary.render(dir, n, steps).as_bytes())
        .map_err(|e| CliError::io(Path::new("<stdout>"), e))
}

/// What can be checked before the artifact is loaded: `--steps`, the artifact directory, and the
/// outputs (their directories exist; none is the input, another output or inside the artifact).
fn check_args(args: &RunArgs) -> Result<(), CliError> {
    if args.steps == Some(0) {
        return Err(CliError::Usage("--steps must be at least 1".into()));
    }
    let dir = &args.artifact;
    let shown = dir.display();
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(CliError::Usage(format!(
            "{shown}: {what} (expected an artifact directory written by `snnc compile --target ...`)"
        )));
    }
    if !dir.join("manifest.json").is_file() {
        return Err(CliError::Usage(format!(
            "{shown}: holds no manifest.json: not an artifact written by `snnc compile --target ...`"
        )));
    }
    check_regular_files(dir, dir, 0)?;
    let inputs = [output::Input {
        what: "the --input file",
        path: &args.input,
    }];
    let mut outputs: Vec<(&str, &Path)> = vec![("-o", &args.output)];
    if let Some(r) = &args.report {
        outputs.push(("--report", r));
    }
    if let Some(t) = &args.trace {
        outputs.push(("--trace", t));
    }
    for (flag, path) in &outputs {
        output::check_file_output(flag, path, &inputs)?;
        output::check_not_inside(flag, path, "the artifact", dir)?;
    }
    output::check_distinct(&outputs)
}

/// Deepest directory level of an artifact (`pe/`, `kernel/` are one level down).
const MAX_ARTIFACT_DEPTH: usize = 4;

/// Every file of the artifact must be a regular file (symbolic links followed): the loaders
/// read files whole, and a FIFO would block them forever, `/dev/zero` fill memory.
fn check_regular_files(root: &Path, dir: &Path, depth: usize) -> Result<(), CliError> {
    let bad = |p: &Path, what: &str| {
        let rel = p.strip_prefix(root).unwrap_or(p);
        CliError::Usage(format!("{}: {} {what}", root.display(), rel.display()))
    };
    if depth > MAX_ARTIFACT_DEPTH {
        return Err(bad(dir, "is nested too deep for an artifact"));
    }
    for entry in std::fs::read_dir(dir).map_err(|e| CliError::io(dir, e))? {
        let path = entry.map_err(|e| CliError::io(dir, e))?.path();
        let meta = std::fs::metadata(&path).map_err(|e| CliError::io(&path, e))?;
        if meta.is_dir() {
            check_regular_files(root, &path, depth + 1)?;
        } else if !meta.is_file() {
            return Err(bad(&path, "is not a regular file"));
        }
    }
    Ok(())
}

/// The figures of all chunks' reports that `snnc run` prints.
struct Summary {
    latency: u64,
    ticks: u64,
    cycles_per_tick: u64,
    cycles_max: u64,
    overruns: u64,
    packets_sent: u64,
    dropped: u64,
    late: u64,
    events: u64,
    sram_max: u64,
    energy_j: f64,
    wall: f64,
}

impl Summary {
    fn of(reports: &[RunReport]) -> Summary {
        let first = reports.first();
        Summary {
            latency: first.map_or(0, |r| r.latency),
            ticks: reports.iter().map(|r| r.ticks).sum(),
            cycles_per_tick: first.map_or(0, |r| r.cycles_per_tick),
            cycles_max: reports.iter().map(|r| r.cycles_max).max().unwrap_or(0),
            overruns: reports.iter().map(|r| r.overruns).sum(),
            packets_sent: reports.iter().map(|r| r.packets.sent).sum(),
            dropped: reports.iter().map(|r| r.packets.dropped).sum(),
            late: reports.iter().map(|r| r.packets.late).sum(),
            events: reports.iter().map(|r| r.synaptic_events).sum(),
            sram_max: reports.iter().map(|r| r.sram_max).max().unwrap_or(0),
            energy_j: reports.iter().map(|r| r.energy.total_nj * 1e-9).sum(),
            wall: reports.iter().map(|r| r.wall_seconds).sum(),
        }
    }

    fn json(&self, reports: &[RunReport]) -> serde_json::Value {
        serde_json::json!({
            "latency": self.latency,
            "ticks": self.ticks,
            "cycles_per_tick": self.cycles_per_tick,
            "cycles_max": self.cycles_max,
            "overruns": self.overruns,
            "packets_sent": self.packets_sent,
            "packets_dropped": self.dropped,
            "packets_late": self.late,
            "synaptic_events": self.events,
            "sram_max_bytes": self.sram_max,
            "energy_joules": self.energy_j,
            "chunks": reports,
        })
    }

    fn render(&self, dir: &Path, n: usize, steps: usize) -> String {
        let load = if self.cycles_per_tick > 0 {
            100.0 * self.cycles_max as f64 / self.cycles_per_tick as f64
        } else {
            0.0
        };
        format!(
            "{}: {n} sample(s) x {steps} step(s), pipeline latency {} tick(s) run and dropped\n\
             ticks {}  busiest PE {} of {} cycles per tick ({load:.1} %)  overruns {}\n\
             packets sent {}  dropped {}  late {}  synaptic events {}\n\
             SRAM max per PE {} B  energy estimate {:.3e} J  host time {:.2} s\n",
            dir.display(),
            self.latency,
            self.ticks,
            self.cycles_max,
            self.cycles_per_tick,
            self.overruns,
            self.packets_sent,
            self.dropped,
            self.late,
            self.events,
            self.sram_max,
            self.energy_j,
            self.wall,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_files_must_be_regular() {
        let dir = std::env::temp_dir().join(format!("snnc-run-regular-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pe")).unwrap();
        std::fs::write(dir.join("manifest.json"), b"{}").unwrap();
        std::fs::write(dir.join("pe/pe_00000.bin"), b"x").unwrap();
        assert!(check_regular_files(&dir, &dir, 0).is_ok());
        std::os::unix::fs::symlink("/dev/zero", dir.join("pe/pe_00001.bin")).unwrap();
        let e = check_regular_files(&dir, &dir, 0).unwrap_err().to_string();
        assert!(e.ends_with("pe/pe_00001.bin is not a regular file"), "{e}");
        std::fs::remove_file(dir.join("pe/pe_00001.bin")).unwrap();
        let deep = dir.join("a/b/c/d/e");
        std::fs::create_dir_all(&deep).unwrap();
        let e = check_regular_files(&dir, &dir, 0).unwrap_err().to_string();
        assert!(
            e.ends_with("a/b/c/d/e is nested too deep for an artifact"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
