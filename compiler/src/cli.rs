//! The `snnc` command line: argument definitions and the commands they run. `main.rs` only
//! renders errors; everything a command does is here so tests can call it in-process.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::CliError;
use crate::frontend::limits::Limits;
use crate::load::{self, Model};
use crate::output::Input;
use crate::passes::PassReport;
use crate::sim::{self, BatchInput, Encoding, Reduce, SimOptions};
use crate::{inspect, npy, output};

pub mod arm;
pub mod passes_list;
pub mod pipeline;
pub mod report_cmd;
pub mod run_cmd;
pub mod spinnaker2;
pub mod target;

pub use pipeline::PassOptions;
pub use target::Target;

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
        #[command(flatten)]
        limits: LimitOptions,
    },
    /// Compile a model: run the pass pipeline, then emit the target's artifact (`--target
    /// spinnaker2`: a directory with manifest.json, routing tables, per-PE data images and the PE
    /// kernel in C) or the verified IR in its text form (`--emit ir`). A short report of every
    /// pass, and the mapping report of a hardware target, go to standard error.
    Compile {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        #[command(flatten)]
        passes: PassOptions,
        /// Step length in seconds, for passes that reason about neuron dynamics.
        #[arg(long, value_name = "DT", default_value_t = 1e-4)]
        dt: f32,
        /// Time steps, for passes that simulate (ANN-to-SNN threshold balancing).
        #[arg(long, value_name = "T", default_value_t = 1)]
        steps: usize,
        /// Also write the pass reports and the `snnc report` of the result as JSON.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// What to produce (default: the target's artifact; `ir` for the reference target).
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        #[command(flatten)]
        machine: spinnaker2::MachineOptions,
        #[command(flatten)]
        arm: arm::ArmOptions,
        /// Output: a file for `--emit ir` (`-` for standard output), a directory for a target
        /// artifact (replaced as a whole only when the compile succeeds).
        #[arg(short, long)]
        output: PathBuf,
        /// Print constants with more than N elements as a digest (not parseable back).
        #[arg(long, value_name = "N")]
        elide_consts: Option<usize>,
        #[command(flatten)]
        limits: LimitOptions,
    },
    /// Run the reference interpreter on a batch of inputs and save the outputs.
    ///
    /// The first axis of each input array is the batch; each sample is reshaped to the model's
    /// input shape. Stateful (spiking) models run `--steps` time steps per sample from a zero
    /// state. Outputs: one .npy per model output (`Y.npy`, `Y.1.npy`, ...).
    Sim {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        #[command(flatten)]
        passes: PassOptions,
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
        #[command(flatten)]
        limits: LimitOptions,
    },
    /// Run a compiled artifact on a batch of inputs (spinnaker2: the bundled cycle-level
    /// emulator) and save the outputs, aligned step for step with `snnc sim` of the same model
    /// for the same target: the pipeline latency is run and dropped here.
    Run(run_cmd::RunArgs),
    /// List every pass with its summary and arguments, and each target's default pipeline.
    Passes,
    /// Per layer and in total: parameters, bits, memory, MACs (ACs for spiking layers),
    /// sparsity and ACE (PokeBNN's arithmetic computation effort), after optional passes.
    Report {
        /// The model file (.onnx, .nir or IR text).
        model: PathBuf,
        #[command(flatten)]
        passes: PassOptions,
        /// Step length in seconds (passes, spike-rate measurement).
        #[arg(long, value_name = "DT", default_value_t = 1e-4)]
        dt: f32,
        /// Time steps: measuring spike rates with --calib on a stateful model needs it.
        #[arg(long, value_name = "T")]
        steps: Option<usize>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: LimitOptions,
    },
}

/// The memory limit of commands that read a model.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitOptions {
    /// Memory budget of one model (bytes, or with a K/M/G suffix): what decoding the file,
    /// its weights and the values of one step may take. A hostile or corrupted file cannot
    /// make snnc allocate more. Default: max(256M, 16 × the size of the model's files).
    #[arg(long, value_name = "SIZE", value_parser = arm::parse_size)]
    pub max_model_bytes: Option<usize>,
}

impl LimitOptions {
    /// The frontends' limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_model_bytes: self.max_model_bytes.map(|b| b as u64),
        }
    }
}

/// Artifacts `snnc compile` can emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The verified IR in snnc's text form.
    Ir,
    /// The target's deployable artifact (a directory).
    Artifact,
}

/// Run one parsed command, writing its normal output to `out`.
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect {
            model,
            json,
            limits,
        } => cmd_inspect(&model, json, &limits.limits(), out),
        Command::Compile {
            model,
            passes,
            dt,
            steps,
            report,
            emit,
            machine,
            arm: arm_opts,
            output,
            elide_consts,
            limits,
        } => {
            check_dt(dt)?;
            let target = passes.target;
            let c = CompileArgs {
                passes,
                dt,
                steps,
                report,
                elide: elide_consts,
                limits: limits.limits(),
            };
            match (emit, target) {
                (Some(Emit::Ir), _) | (None, Target::Reference) => {
                    cmd_compile_ir(&model, &output, &c, out)
                }
                (Some(Emit::Artifact), Target::Reference) => Err(CliError::Usage(
                    "--emit artifact needs a hardware target (--target spinnaker2, cortex-m4, cortex-m7, aarch64 or host)".into(),
                )),
                (_, Target::Spinnaker2) => spinnaker2::compile(&model, &output, &c, &machine),
                (_, _) => arm::compile(&model, &output, &c, &arm_opts),
            }
        }
        Command::Run(args) => run_cmd::run(&args, out),
        Command::Sim {
            model,
            passes,
            input,
            output,
            steps,
            dt,
            reduce,
            encoding,
            seed,
            threads,
            limits,
        } => {
            check_dt(dt)?;
            if steps == Some(0) {
                return Err(CliError::Usage("--steps must be at least 1".into()));
            }
            let mut inputs = vec![Input {
                what: "the model",
                path: &model,
            }];
            inputs.extend(input.iter().map(|p| Input {
                what: "an --input",
                path: p,
            }));
            if let Some(c) = &passes.calib {
                inputs.push(Input {
                    what: "the --calib file",
                    path: c,
                });
            }
            output::check_file_output("-o", &output, &inputs)?;
            let p =
                pipeline::prepare_with(&model, &passes, dt, steps.unwrap_or(1), &limits.limits())?;
            p.warn_unused_calib(&passes);
            let m = p.model;
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
            cmd_sim(&model, &m, &input, &output, &opts, &inputs)
        }
        Command::Passes => out
            .write_all(passes_list::render(crate::passes::registry()).as_bytes())
            .map_err(|e| CliError::io(Path::new("<stdout>"), e)),
        Command::Report {
            model,
            passes,
            dt,
            steps,
            json,
            limits,
        } => {
            check_dt(dt)?;
            let ro = report_cmd::ReportOptions {
                dt,
                steps,
                json,
                limits: limits.limits(),
            };
            report_cmd::run(&model, &passes, &ro, out)
        }
    }
}

fn check_dt(dt: f32) -> Result<(), CliError> {
    if dt.is_finite() && dt > 0.0 {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--dt must be a positive number, got {dt}"
        )))
    }
}

fn cmd_inspect(
    model: &Path,
    json: bool,
    limits: &Limits,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let m = load::load_with(model, limits)?;
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

/// What `compile` needs besides the model and the output path.
pub struct CompileArgs {
    pub passes: PassOptions,
    pub dt: f32,
    pub steps: usize,
    pub report: Option<PathBuf>,
    pub elide: Option<usize>,
    /// What the model file may make snnc allocate.
    pub limits: Limits,
}

impl CompileArgs {
    /// The files `compile` reads besides the model: none may be overwritten by an output.
    pub fn inputs<'a>(&'a self, model: &'a Path, extra: Option<&'a Path>) -> Vec<Input<'a>> {
        let mut v = vec![Input {
            what: "the model",
            path: model,
        }];
        if let Some(c) = &self.passes.calib {
            v.push(Input {
                what: "the --calib file",
                path: c,
            });
        }
        if let Some(m) = extra {
            v.push(Input {
                what: "the --machine file",
                path: m,
            });
        }
        v
    }

    /// Check the outputs of a compile to the artifact directory `dest` before any work: the
    /// directory may not hold an input, and the `--report` file may be neither an input nor
    /// inside the directory.
    pub fn check_artifact_outputs(
        &self,
        model: &Path,
        dest: &Path,
        machine: Option<&Path>,
    ) -> Result<(), CliError> {
        let mut inputs = self.inputs(model, machine);
        if let Some(r) = &self.report {
            output::check_file_output("--report", r, &inputs)?;
            inputs.push(Input {
                what: "the --report file",
                path: r,
            });
        }
        output::check_dir_output("-o", dest, &inputs)
    }
}

/// The `--report` file of `compile`: what ran and what the result costs (`mapping`: the
/// hardware target's mapping report).
#[derive(serde::Serialize)]
pub struct CompileReport<'a> {
    pub model: String,
    pub target: &'static str,
    pub passes: &'a str,
    pub pass_reports: &'a [PassReport],
    pub report: crate::report::Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<serde_json::Value>,
}

/// The `--report` JSON of `compile`: the passes that ran, their reports, `snnc report` of the
/// result and, for a hardware target, its mapping report.
pub fn compile_report_json(
    model: &Path,
    c: &CompileArgs,
    p: &pipeline::Prepared,
    mapping: Option<serde_json::Value>,
) -> Result<Vec<u8>, CliError> {
    let m = &p.model;
    let report = CompileReport {
        model: model.display().to_string(),
        target: c.passes.target.name(),
        passes: &p.spec,
        pass_reports: &p.reports,
        report: crate::report::build(&m.graph, &m.info).map_err(|e| CliError::Sim {
            path: model.to_path_buf(),
            source: e,
        })?,
        mapping,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((json + "\n").into_bytes())
}

fn cmd_compile_ir(
    model: &Path,
    dest: &Path,
    c: &CompileArgs,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let inputs = c.inputs(model, None);
    if dest != Path::new("-") {
        output::check_file_output("-o", dest, &inputs)?;
    }
    if let Some(r) = &c.report {
        output::check_file_output("--report", r, &inputs)?;
        output::check_distinct(&[("-o", dest), ("--report", r)])?;
    }
    let p = pipeline::prepare_with(model, &c.passes, c.dt, c.steps, &c.limits)?;
    p.warn_unused_calib(&c.passes);
    let m = &p.model;
    eprint!("{}", pipeline::render_reports(&p.reports));
    let opts = snnc_ir::text::PrintOptions {
        elide_consts_over: c.elide,
    };
    let text = snnc_ir::text::print(&m.graph, &opts);
    let mut files = Vec::new();
    if let Some(path) = &c.report {
        files.push((path.clone(), compile_report_json(model, c, &p, None)?));
    }
    if dest == Path::new("-") {
        output::write_all_atomic(&files)?;
        return out
            .write_all(text.as_bytes())
            .map_err(|e| CliError::io(Path::new("<stdout>"), e));
    }
    files.insert(0, (dest.to_path_buf(), text.into_bytes()));
    output::write_all_atomic(&files)
}

fn cmd_sim(
    model: &Path,
    m: &Model,
    inputs: &[PathBuf],
    dest: &Path,
    opts: &SimOptions,
    read: &[Input<'_>],
) -> Result<(), CliError> {
    // A model with several outputs writes `Y.npy`, `Y.1.npy`, ...: none may be an input.
    let paths = sim::output_paths(dest, m.graph.outputs().len());
    for p in &paths {
        output::check_file_output("-o", p, read)?;
    }
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
    let files: Vec<(PathBuf, Vec<u8>)> = paths
        .into_iter()
        .zip(&results)
        .map(|(p, a)| (p, npy::to_bytes(a)))
        .collect();
    output::write_all_atomic(&files)
}
