//! `snnc compile --target spinnaker2`: the integer graph the pipeline leaves is lowered to a
//! network of populations and projections, mapped onto the machine (partition, placement,
//! routing, table compression) and written as an artifact directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use snnc_targets::spinnaker2::artifact::digest::file_digest;
use snnc_targets::spinnaker2::compile::{compile as map_network, CompileOptions};
use snnc_targets::spinnaker2::lower::{lower_with, LowerOptions};
use snnc_targets::spinnaker2::machine::Machine;
use snnc_targets::spinnaker2::partition::SynapseStorage;

use super::{compile_report_json, pipeline, CompileArgs};
use crate::error::CliError;
use crate::output;

/// Options of the spinnaker2 target.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct MachineOptions {
    /// Machine description (JSON, docs/spinnaker2.md) replacing the default single SpiNNaker2
    /// chip, e.g. a 48-chip board.
    #[arg(long, value_name = "FILE.json")]
    pub machine: Option<PathBuf>,
    /// Spikes per neuron per step assumed when partitioning under the per-tick cycle budget
    /// (0 < rate <= 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.1)]
    pub max_rate: f64,
    /// Where synaptic matrices live: PE SRAM, the chip's DRAM (fetched per packet by DMA), or
    /// auto (DRAM only for large populations SRAM would cut into small slices).
    #[arg(long, value_enum, default_value_t = Synapses::Auto)]
    pub synapses: Synapses,
}

/// Values of `--synapses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Synapses {
    Sram,
    Dram,
    Auto,
}

impl Synapses {
    fn storage(self) -> SynapseStorage {
        match self {
            Synapses::Sram => SynapseStorage::Sram,
            Synapses::Dram => SynapseStorage::Dram,
            Synapses::Auto => SynapseStorage::Auto,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Synapses::Sram => "sram",
            Synapses::Dram => "dram",
            Synapses::Auto => "auto",
        }
    }
}

/// The machine of `opts`: its file, or the default SpiNNaker2 chip.
pub fn machine(opts: &MachineOptions) -> Result<(Machine, String), CliError> {
    match &opts.machine {
        // The file name, not the path: the manifest must not depend on where the file sits
        // (the machine itself is recorded in full).
        Some(path) => {
            check_machine_file(path)?;
            Machine::load(path)
                .map(|m| {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (m, name)
                })
                .map_err(|e| CliError::Usage(e.to_string()))
        }
        None => Ok((Machine::spinnaker2_default(), "spinnaker2_default".into())),
    }
}

/// Largest machine description read (real ones are a few hundred bytes).
const MAX_MACHINE_BYTES: u64 = 1 << 20;

/// What `Machine::load` does not check: the file is a regular file of sane size holding a JSON
/// object (serde reads a JSON array as a struct's fields in order, so `[]` would silently be
/// the default machine).
fn check_machine_file(path: &Path) -> Result<(), CliError> {
    let bad =
        |reason: String| CliError::Usage(format!("machine file {}: {reason}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(path, e))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.len() > MAX_MACHINE_BYTES {
        return Err(bad(format!(
            "{} bytes; a machine description is a small JSON object",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(other) => Err(bad(format!(
            "expected a JSON object with `chip` (and optionally `board`), found {}",
            json_kind(&other)
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Compile `model` for the spinnaker2 target into the directory `dest`.
pub fn compile(
    model: &Path,
    dest: &Path,
    c: &CompileArgs,
    opts: &MachineOptions,
) -> Result<(), CliError> {
    if !(opts.max_rate > 0.0 && opts.max_rate <= 1.0) {
        return Err(CliError::Usage(format!(
            "--max-rate must be in (0, 1], got {}",
            opts.max_rate
        )));
    }
    if dest == Path::new("-") {
        return Err(CliError::Usage(
            "a spinnaker2 artifact is a directory: give -o DIR, not -".into(),
        ));
    }
    c.check_artifact_outputs(model, dest, opts.machine.as_deref())?;
    let (machine, machine_name) = machine(opts)?;
    let p = pipeline::prepare_with(model, &c.passes, c.dt, c.steps, &c.limits)?;
    p.warn_unused_calib(&c.passes);
    eprint!("{}", pipeline::render_reports(&p.reports));
    let target_err = |source| CliError::Target {
        path: model.to_path_buf(),
        source,
    };
    let lower_opts = LowerOptions { dt: Some(c.dt) };
    let net = lower_with(&p.model.graph, &p.model.info, &lower_opts).map_err(target_err)?;
    let bytes = std::fs::read(model).map_err(|e| CliError::io(model, e))?;
    let mut flags = BTreeMap::new();
    flags.insert("passes".to_string(), p.spec.clone());
    flags.insert("dt".to_string(), format!("{}", c.dt));
    flags.insert("steps".to_string(), c.steps.to_string());
    flags.insert("machine".to_string(), machine_name);
    flags.insert("max_rate".to_string(), format!("{}", opts.max_rate));
    flags.insert("synapses".to_string(), opts.synapses.name().to_string());
    let copts = CompileOptions {
        machine,
        max_rate: opts.max_rate,
        flags,
        model_file: model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_digest: file_digest(&bytes),
        synapses: opts.synapses.storage(),
    };
    let (artifact, mapping) = map_network(&net, &copts).map_err(target_err)?;
    eprint!("{}", mapping.render());
    // The report is staged first: if it cannot be written, the previous artifact stays.
    let report = match &c.report {
        Some(path) => {
            let mapping =
                serde_json::to_value(&mapping).map_err(|e| CliError::Usage(e.to_string()))?;
            let json = compile_report_json(model, c, &p, Some(mapping))?;
            Some(output::stage(&[(path.clone(), json)])?)
        }
        None => None,
    };
    let kernel = snnc_targets::spinnaker2::kernel::artifact_files();
    artifact
        .write(dest, &kernel)
        .map_err(|source| CliError::Artifact {
            path: dest.to_path_buf(),
            source,
        })?;
    match report {
        Some(r) => r.commit(),
        None => Ok(()),
    }
}
