//! Loading a model and running the pass pipeline the command line asks for: what `compile`,
//! `sim` and `report` share.

use std::path::{Path, PathBuf};

use snnc_ir::{verify, Graph};

use super::target::Target;
use crate::error::CliError;
use crate::frontend::limits::Limits;
use crate::load::{self, Model};
use crate::npy::{self, Array};
use crate::passes::{self, PassContext, PassError, PassReport};
use crate::ImportError;

/// The pass options every command that transforms a model takes.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct PassOptions {
    /// Passes to run, in order: `name[=arg:arg:key=value],...` (list them with `snnc passes`;
    /// the item `default` stands for the target's default pipeline).
    #[arg(long, value_name = "SPEC")]
    pub passes: Option<String>,
    /// Calibration samples `[N, ...]` (.npy, each sample shaped like the model's input) for
    /// passes that need data.
    #[arg(long, value_name = "FILE.npy")]
    pub calib: Option<PathBuf>,
    /// The target the model is prepared for.
    #[arg(long, value_enum, default_value_t = Target::Reference)]
    pub target: Target,
    /// Reset semantics of every spiking neuron, which NIR leaves open: to `v_reset` (NIR's
    /// reading, what an imported graph has) or by subtracting the threshold. Runs the pass
    /// `reset-mode` first, so the reference and every target run the same mode.
    #[arg(long, value_enum)]
    pub reset: Option<ResetArg>,
}

/// Values of `--reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResetArg {
    ToValue,
    Subtract,
}

impl PassOptions {
    /// The pipeline spec to run: the target's (see [`Target::pipeline_spec`]), preceded by
    /// `reset-mode=...` when `--reset` is given.
    pub fn spec(&self) -> String {
        self.with_reset(self.target.pipeline_spec(self.passes.as_deref()))
    }

    /// [`PassOptions::spec`] for the imported graph `g` (targets whose default depends on the
    /// model, see [`Target::default_pipeline_for`]).
    pub fn spec_for(&self, g: &Graph) -> String {
        self.with_reset(self.target.pipeline_spec_for(self.passes.as_deref(), g))
    }

    fn with_reset(&self, spec: String) -> String {
        let reset = match self.reset {
            None => return spec,
            Some(ResetArg::ToValue) => "reset-mode=to-value",
            Some(ResetArg::Subtract) => "reset-mode=subtract",
        };
        if spec.is_empty() {
            reset.to_string()
        } else {
            format!("{reset},{spec}")
        }
    }
}

/// A loaded model after its pipeline ran.
#[derive(Debug)]
pub struct Prepared {
    pub model: Model,
    /// One report per pass, in pipeline order.
    pub reports: Vec<PassReport>,
    /// The pipeline that ran (after `default` was expanded).
    pub spec: String,
}

/// Load `path`, then run the pipeline of `opts` with `dt` and `steps` in the pass context. The
/// graph is verified after every pass; errors name the model (or the calibration file) and the
/// pass.
pub fn prepare(
    path: &Path,
    opts: &PassOptions,
    dt: f32,
    steps: usize,
) -> Result<Prepared, CliError> {
    prepare_with(path, opts, dt, steps, &Limits::default())
}

/// [`prepare`] with the model loaded under `limits`.
pub fn prepare_with(
    path: &Path,
    opts: &PassOptions,
    dt: f32,
    steps: usize,
    limits: &Limits,
) -> Result<Prepared, CliError> {
    // Parse what the user wrote before loading, so a bad `--passes` fails fast.
    passes::parse_pipeline(&opts.spec()).map_err(|e| pass_error(path, opts.calib.as_deref(), e))?;
    let mut model = load::load_with(path, limits)?;
    let spec = opts.spec_for(&model.graph);
    let pipeline =
        passes::parse_pipeline(&spec).map_err(|e| pass_error(path, opts.calib.as_deref(), e))?;
    let calib = match &opts.calib {
        Some(p) => Some(read_calib(p, &model.graph, &spec)?),
        None => None,
    };
    let ctx = PassContext {
        calib: calib.as_ref(),
        dt,
        steps,
    };
    let reports = passes::run_pipeline(&mut model.graph, &pipeline, &ctx)
        .map_err(|e| pass_error(path, opts.calib.as_deref(), e))?;
    if !pipeline.is_empty() {
        model.info = verify(&model.graph).map_err(|e| ImportError::ir(path, e))?;
    }
    Ok(Prepared {
        model,
        reports,
        spec,
    })
}

impl Prepared {
    /// Warn when `--calib` was given to a command that only uses it for passes, but none ran.
    pub fn warn_unused_calib(&self, opts: &PassOptions) {
        if let (Some(c), true) = (&opts.calib, self.reports.is_empty()) {
            eprintln!(
                "warning: {}: --calib is not used: no passes run",
                c.display()
            );
        }
    }
}

/// A pass failure as one line: calibration problems name the calibration file, everything else
/// the model.
fn pass_error(model: &Path, calib: Option<&Path>, e: PassError) -> CliError {
    let file = match (&e, calib) {
        (PassError::Calibration { .. }, Some(c)) => c,
        _ => model,
    };
    CliError::Pass {
        path: file.to_path_buf(),
        source: e,
    }
}

/// Read the calibration array and check that its samples fit the model's (single) input.
fn read_calib(path: &Path, g: &Graph, spec: &str) -> Result<Array, CliError> {
    let a = npy::read(path)?;
    let bad = |reason: String| CliError::Npy {
        path: path.to_path_buf(),
        reason: format!("calibration data for `--passes {spec}`: {reason}"),
    };
    let n = a.shape.first().copied().unwrap_or(0);
    if a.shape.len() < 2 || n == 0 {
        return Err(bad(format!(
            "expected samples [N, ...] with N >= 1, got shape {:?}",
            a.shape
        )));
    }
    if let [input] = g.inputs() {
        let ty = g.ty(*input);
        let per = a.data.len() / n;
        if per != ty.numel() {
            return Err(bad(format!(
                "each sample has {per} values but input `{}` is {ty} ({} values)",
                g.node(*input).name,
                ty.numel()
            )));
        }
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("element {i} is not finite")));
    }
    Ok(a)
}

/// The per-pass summary `compile` prints to standard error: one line per pass, one indented
/// line per note.
pub fn render_reports(reports: &[PassReport]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!("pass {}: {} changed\n", r.pass, r.changed));
        for n in &r.notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/models")
            .join(rel)
    }

    fn opts(passes: Option<&str>, calib: Option<PathBuf>) -> PassOptions {
        PassOptions {
            passes: passes.map(str::to_string),
            calib,
            target: Target::Reference,
            reset: None,
        }
    }

    #[test]
    fn reset_runs_first() {
        let mut o = opts(Some("canonicalize"), None);
        assert_eq!(o.spec(), "canonicalize");
        o.reset = Some(ResetArg::Subtract);
        assert_eq!(o.spec(), "reset-mode=subtract,canonicalize");
        o.target = Target::Spinnaker2;
        o.passes = None;
        o.reset = Some(ResetArg::ToValue);
        assert_eq!(o.spec(), "reset-mode=to-value,canonicalize,quantize-snn");
    }

    #[test]
    fn runs_the_pipeline_and_reverifies() {
        let p = prepare(
            &model("qcnn_int8/qcnn_int8.qcdq.onnx"),
            &opts(Some("default"), None),
            1e-4,
            1,
        )
        .unwrap();
        assert_eq!(p.spec, "canonicalize");
        assert_eq!(p.reports.len(), 1);
        assert!(p.reports[0].changed > 0);
        assert_eq!(p.model.info.order.len(), p.model.graph.len());
        let text = render_reports(&p.reports);
        assert!(text.starts_with("pass canonicalize: "), "{text}");
    }

    #[test]
    fn errors_name_file_and_pass() {
        let m = model("ann_mlp/ann_mlp.onnx");
        let e = prepare(&m, &opts(Some("nope"), None), 1e-4, 1).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("ann_mlp.onnx") && s.contains("`nope`"), "{s}");
        let e = prepare(&m, &opts(Some("dce=fast"), None), 1e-4, 1).unwrap_err();
        assert!(e.to_string().contains("pass `dce`"), "{e}");
        let wrong = model("ann_mlp/ref_logits.npy"); // [360, 10]: 10 values per sample
        let e = prepare(&m, &opts(Some("dce"), Some(wrong)), 1e-4, 1).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("ref_logits.npy") && s.contains("--passes dce"),
            "{s}"
        );
        assert!(s.contains("10 values"), "{s}");
    }

    #[test]
    fn calibration_errors_name_the_calibration_file() {
        let e = PassError::Calibration {
            pass: "quantize".into(),
            reason: "too few samples".into(),
        };
        let s = pass_error(Path::new("m.onnx"), Some(Path::new("c.npy")), e).to_string();
        assert_eq!(
            s,
            "c.npy: pass `quantize`: calibration data: too few samples"
        );
    }
}
