//! Passes: named functions over the IR, selectable from the CLI as a pipeline
//! (`--passes fold-bn,quantize=int8:per-channel,prune=0.5,binarize`).
//!
//! Every pass takes a verified graph and leaves a verified graph (the pipeline re-verifies after
//! each pass in tests and debug builds, and always before a graph is used), and says what it did
//! in a [`PassReport`].

pub mod args;
pub mod binarize;
pub mod canonical;
pub mod error;
pub mod prune;
pub mod quantize;
pub mod snn;

pub use args::PassArgs;
pub use error::PassError;

use snnc_ir::{verify, Graph};

use crate::npy::Array;

/// What a pass may need besides the graph.
#[derive(Clone, Copy, Debug)]
pub struct PassContext<'a> {
    /// Calibration samples `[N, ...]` (`--calib FILE.npy`), each shaped like the model's input.
    pub calib: Option<&'a Array>,
    /// Step length for passes that reason about neuron dynamics (ANN→SNN, SNN quantization).
    pub dt: f32,
    /// Time steps for passes that simulate (ANN→SNN threshold balancing).
    pub steps: usize,
}

impl Default for PassContext<'_> {
    fn default() -> Self {
        PassContext {
            calib: None,
            dt: 1e-4,
            steps: 1,
        }
    }
}

/// What one pass did, for `snnc compile`'s report and for tests.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PassReport {
    pub pass: String,
    /// Nodes rewritten, folded, removed or added (pass-specific, stated in `notes`).
    pub changed: usize,
    /// One line per notable decision (a scale chosen, a layer kept in float, ...).
    pub notes: Vec<String>,
}

impl PassReport {
    pub fn new(pass: &str) -> Self {
        PassReport {
            pass: pass.to_string(),
            ..Default::default()
        }
    }
}

/// A pass's entry point.
pub type PassFn = fn(&mut Graph, &PassArgs, &PassContext<'_>) -> Result<PassReport, PassError>;

/// A registered pass.
pub struct PassInfo {
    pub name: &'static str,
    /// One line for `snnc passes`.
    pub summary: &'static str,
    /// The arguments it accepts, for `snnc passes` and error messages.
    pub usage: &'static str,
    pub run: PassFn,
}

/// Every pass snnc has, in the order `snnc passes` lists them.
pub fn registry() -> &'static [PassInfo] {
    &[
        // (registry entries: one line per pass, added by the module that defines it)
        canonical::canonicalize::INFO,
        canonical::const_fold::INFO,
        canonical::fold_bn::INFO,
        canonical::dce::INFO,
        canonical::reshape_cleanup::INFO,
        binarize::INFO,
        prune::INFO,
        quantize::LOWER_QDQ_INFO,
        quantize::QUANTIZE_INFO,
        snn::quantize::INFO,
        snn::ann::INFO,
        snn::reset::INFO,
    ]
}

/// Find a pass by name.
pub fn lookup(name: &str) -> Option<&'static PassInfo> {
    registry().iter().find(|p| p.name == name)
}

/// One step of a pipeline: the pass and its parsed arguments.
pub struct Step {
    pub info: &'static PassInfo,
    pub args: PassArgs,
}

/// Parse `name[=args],name[=args],...` into steps; unknown passes and malformed arguments are
/// errors naming the pass.
pub fn parse_pipeline(spec: &str) -> Result<Vec<Step>, PassError> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, rest) = match item.split_once('=') {
                Some((n, r)) => (n.trim(), Some(r)),
                None => (item, None),
            };
            let info = lookup(name).ok_or_else(|| PassError::UnknownPass {
                name: name.to_string(),
                known: registry()
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            let args = PassArgs::parse(name, rest.unwrap_or(""))?;
            Ok(Step { info, args })
        })
        .collect()
}

/// Run the steps in order. The graph is verified after every pass; a pass that leaves an invalid
/// graph is a bug in snnc and is reported as such, naming the pass.
pub fn run_pipeline(
    g: &mut Graph,
    steps: &[Step],
    ctx: &PassContext<'_>,
) -> Result<Vec<PassReport>, PassError> {
    let mut reports = Vec::with_capacity(steps.len());
    for step in steps {
        let report = (step.info.run)(g, &step.args, ctx)?;
        verify(g).map_err(|e| PassError::Broken {
            pass: step.info.name.to_string(),
            source: e,
        })?;
        reports.push(report);
    }
    Ok(reports)
}
