//! Compilation targets and their default pass pipelines. Every target's default pipeline is
//! written here and nowhere else.

use clap::ValueEnum;

/// What a model is compiled (or simulated) for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// snnc's reference interpreter: runs any verified graph, so only the passes asked for run.
    Reference,
    /// A SpiNNaker2-style many-core machine (run by the bundled emulator, `snnc run`): the
    /// graph must end up as an integer spiking network, so the default pipeline quantizes it.
    Spinnaker2,
}

impl Target {
    /// The target's default pipeline as a `--passes` spec. Written in place of the word `default`
    /// inside `--passes`, and run when `--passes` is absent on targets that need a lowered graph.
    pub fn default_pipeline(self) -> &'static str {
        match self {
            Target::Reference => "canonicalize",
            Target::Spinnaker2 => "canonicalize,quantize-snn",
        }
    }

    /// Whether the default pipeline runs when no `--passes` is given. The reference interpreter
    /// runs the imported graph as it is, so it runs only what `--passes` says.
    fn runs_default_without_passes(self) -> bool {
        match self {
            Target::Reference => false,
            Target::Spinnaker2 => true,
        }
    }

    /// The pipeline to run: `passes` with every item `default` replaced by
    /// [`Target::default_pipeline`], or the default pipeline when the target needs one and
    /// `passes` is absent.
    pub fn pipeline_spec(self, passes: Option<&str>) -> String {
        match passes {
            None if self.runs_default_without_passes() => self.default_pipeline().to_string(),
            None => String::new(),
            Some(spec) => spec
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| {
                    if item == "default" {
                        self.default_pipeline()
                    } else {
                        item
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Reference => "reference",
            Target::Spinnaker2 => "spinnaker2",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_runs_only_what_is_asked() {
        let t = Target::Reference;
        assert_eq!(t.pipeline_spec(None), "");
        assert_eq!(t.pipeline_spec(Some("dce")), "dce");
        assert_eq!(
            t.pipeline_spec(Some("default, prune=0.5")),
            "canonicalize,prune=0.5"
        );
        assert!(crate::passes::parse_pipeline(t.default_pipeline()).is_ok());
    }

    #[test]
    fn spinnaker2_runs_its_default_unless_told_otherwise() {
        let t = Target::Spinnaker2;
        assert_eq!(t.pipeline_spec(None), "canonicalize,quantize-snn");
        assert_eq!(
            t.pipeline_spec(Some("reset-mode=subtract,default")),
            "reset-mode=subtract,canonicalize,quantize-snn"
        );
        assert!(crate::passes::parse_pipeline(t.default_pipeline()).is_ok());
    }
}
