//! The `snnc` command line: argument definitions and the commands they run. `main.rs` only
//! renders errors; everything a command does is here so tests can call it in-process.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::CliError;
use crate::load::{self, Model};
use crate::sim::{self, BatchInput, Encoding, Reduce, SimOptions};
use crate::{inspect, npy, output};

/// snnc: compile spiking, binary and quantized neural networks for neuromorphic and ARM targets.
///
/// Models are read from ONNX (including QONNX and QDQ), NIR (HDF5) or snnc's IR text; the format
/// is recognised from the file's content. On error snnc prints one line naming the file, the node
/// and the reason, exits with code 1 and leaves no output behind.
#[derive(Parser, Debug)]
#[command(name = "snnc", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show a model's inputs, outputs, ops, shapes and parameter counts.
    Inspect {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        /// Print the summary as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compile a model; today `--emit ir` writes the verified IR in its text form.
    Compile {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        /// What to produce.
        #[arg(long, value_enum, default_value_t = Emit::Ir)]
        emit: Emit,
        /// Output file (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// Print constants with more than N elements as a digest (not parseable back).
        #[arg(long, value_name = "N")]
        elide_consts: Option<usize>,
    },
    /// Run the reference interpreter on a batch of inputs and save the outputs.
    ///
    /// The first axis of each input array is the batch; each sample is reshaped to the model's
    /// input shape. Stateful (spiking) models run `--steps` time steps per sample from a zero
    /// state. Outputs: one .npy per model output (`Y.npy`, `Y.1.npy`, ...).
    Sim {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        /// Input array(s) (.npy), one per model input, in the model's input order.
        #[arg(short, long, required = true, value_name = "X.npy")]
        input: Vec<PathBuf>,
        /// Output array (.npy).
        #[arg(short, long, value_name = "Y.npy")]
        output: PathBuf,
        /// Time steps per sample (default: 1 for stateless models; required for stateful ones).
        #[arg(long, value_name = "T")]
        steps: Option<usize>,
        /// Step length in seconds for neuron dynamics (NIR files carry none; snnTorch's exporter
        /// assumes 1e-4).
        #[arg(long, value_name = "DT", default_value_t = 1e-4)]
        dt: f32,
        /// How outputs of a multi-step run are combined.
        #[arg(long, value_enum, default_value_t = Reduce::Sum)]
        reduce: Reduce,
        /// How input values enter each step.
        #[arg(long, value_enum, default_value_t = Encoding::Direct)]
        encoding: Encoding,
        /// Seed of the rate encoder.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
}

/// Artifacts `snnc compile` can emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The verified IR in snnc's text form.
    Ir,
}

/// Run one parsed command, writing its normal output to `out`.
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect { model, json } => cmd_inspect(&model, json, out),
        Command::Compile {
            model,
            emit: Emit::Ir,
            output,
            elide_consts,
        } => cmd_compile_ir(&model, &output, elide_consts, out),
        Command::Sim {
            model,
            input,
            output,
            steps,
            dt,
            reduce,
            encoding,
            seed,
            threads,
        } => {
            let m = load::load(&model)?;
            let stateful = m.info.stateful;
            let steps = match steps {
                Some(t) => t,
                None if stateful => {
                    return Err(CliError::Usage(format!(
                        "{}: the model is stateful (spiking); give the number of time steps with --steps",
                        model.display()
                    )))
                }
                None => 1,
            };
            if !(dt.is_finite() && dt > 0.0) {
                return Err(CliError::Usage(format!(
                    "--dt must be a positive number, got {dt}"
                )));
            }
            if stateful {
                for id in &m.info.order {
                    let node = m.graph.node(*id);
                    for w in snnc_ir::op::neuron::dt_warnings(&node.op, dt) {
                        eprintln!("warning: {}: node `{}`: {w}", model.display(), node.name);
                    }
                }
            }
            let opts = SimOptions {
                steps,
                dt,
                reduce,
                encoding,
                seed,
                threads: threads.unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                }),
            };
            cmd_sim(&model, &m, &input, &output, &opts)
        }
    }
}

fn cmd_inspect(model: &Path, json: bool, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    let m = load::load(model)?;
    let s = inspect::summarize(&m.graph, &m.info);
    let text = if json {
        serde_json::to_string_pretty(&s).map_err(|e| CliError::Usage(e.to_string()))? + "\n"
    } else {
        let source = format!("{} ({})", model.display(), m.format.name());
        inspect::render(&s, &source)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::io(Path::new("<stdout>"), e))
}

fn cmd_compile_ir(
    model: &Path,
    dest: &Path,
    elide: Option<usize>,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let m = load::load(model)?;
    let opts = snnc_ir::text::PrintOptions {
        elide_consts_over: elide,
    };
    let text = snnc_ir::text::print(&m.graph, &opts);
    if dest == Path::new("-") {
        return out
            .write_all(text.as_bytes())
            .map_err(|e| CliError::io(Path::new("<stdout>"), e));
    }
    output::write_atomic(dest, text.as_bytes())
}

fn cmd_sim(
    model: &Path,
    m: &Model,
    inputs: &[PathBuf],
    dest: &Path,
    opts: &SimOptions,
) -> Result<(), CliError> {
    let arrays = inputs
        .iter()
        .map(|p| npy::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let batch: Vec<BatchInput<'_>> = arrays
        .iter()
        .zip(inputs)
        .map(|(array, path)| BatchInput { array, path })
        .collect();
    let results = sim::simulate(model, &m.graph, &m.info, &batch, opts)?;
    let files: Vec<(PathBuf, Vec<u8>)> = sim::output_paths(dest, results.len())
        .into_iter()
        .zip(&results)
        .map(|(p, a)| (p, npy::to_bytes(a)))
        .collect();
    output::write_all_atomic(&files)
}
