//! `snnc report`: the cost report of a model, after an optional pipeline.

use std::path::Path;

use super::pipeline::{prepare_with, PassOptions};
use crate::error::CliError;
use crate::report::{self, activity};

/// Options of `snnc report` besides the model and the passes.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub dt: f32,
    /// Time steps for measuring spike rates (and for the passes).
    pub steps: Option<usize>,
    pub json: bool,
    /// What the model file may make snnc allocate.
    pub limits: crate::frontend::limits::Limits,
}

/// Build the report of `model` after the pipeline of `opts` and write it to `out` as a table
/// or JSON. With `--calib` on a stateful result, spike rates are measured on the calibration
/// samples over `--steps` steps and synaptic ACs reported.
pub fn run(
    model: &Path,
    opts: &PassOptions,
    ro: &ReportOptions,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let p = prepare_with(model, opts, ro.dt, ro.steps.unwrap_or(1), &ro.limits)?;
    let (g, info) = (&p.model.graph, &p.model.info);
    let sim_err = |e| CliError::Sim {
        path: model.to_path_buf(),
        source: e,
    };
    let mut r = report::build(g, info).map_err(sim_err)?;
    if let (true, Some(calib)) = (info.stateful, &opts.calib) {
        let steps = ro.steps.ok_or_else(|| {
            CliError::Usage(format!(
                "{}: measuring spike rates on {} needs the number of time steps: give --steps",
                model.display(),
                calib.display()
            ))
        })?;
        let samples = crate::npy::read(calib)?;
        let rates = activity::spike_rates(g, info, &samples, steps, ro.dt).map_err(sim_err)?;
        let n = samples.shape.first().copied().unwrap_or(0);
        r.set_spike_rates(
            &rates,
            &format!("on {n} samples of {} over {steps} steps", calib.display()),
        );
    }
    let text = if ro.json {
        serde_json::to_string_pretty(&r).map_err(|e| CliError::Usage(e.to_string()))? + "\n"
    } else {
        let mut source = format!("{} ({})", model.display(), p.model.format.name());
        if !p.spec.is_empty() {
            source.push_str(&format!(" after --passes {}", p.spec));
        }
        report::render::render(&r, &source)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::io(Path::new("<stdout>"), e))
}
