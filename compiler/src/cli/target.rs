//! Compilation targets and their default pass pipelines. Every target's default pipeline is
//! written here and nowhere else.

use clap::ValueEnum;
use snnc_ir::{Graph, Op};

/// What a model is compiled (or simulated) for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// snnc's reference interpreter: runs any verified graph, so only the passes asked for run.
    Reference,
    /// A SpiNNaker2-style many-core machine (run by the bundled emulator, `snnc run`): the
    /// graph must end up as an integer spiking network, so the default pipeline quantizes it.
    Spinnaker2,
    /// An Arm Cortex-M4F microcontroller: a self-contained C99 library (`model.h`, `model.c`,
    /// `weights.c`, one static arena), run under QEMU (mps2-an386) by `snnc run`.
    CortexM4,
    /// An Arm Cortex-M7: the same C library, built and sized for the M7.
    CortexM7,
    /// 64-bit Arm (Cortex-A): an ELF object compiled by cranelift plus `model.h`, run under
    /// qemu-aarch64 by `snnc run`.
    Aarch64,
    /// This machine, through the same cranelift code generator (JIT-compiled by `snnc run`), so
    /// a compiled model can be timed here.
    Host,
}

/// The ARM targets' default pipeline before the model-dependent passes.
const ARM_DEFAULT: &str = "canonicalize,lower-qdq";

impl Target {
    /// The target's default pipeline as a `--passes` spec. Written in place of the word `default`
    /// inside `--passes`, and run when `--passes` is absent on targets that need a lowered graph.
    pub fn default_pipeline(self) -> &'static str {
        match self {
            Target::Reference => "canonicalize",
            Target::Spinnaker2 => "canonicalize,quantize-snn",
            Target::CortexM4 | Target::CortexM7 | Target::Aarch64 | Target::Host => ARM_DEFAULT,
        }
    }

    /// The default pipeline for the graph `g` as imported: the ARM targets run integer kernels,
    /// so they add `binarize` when the model has QONNX bipolar quantizers and `quantize-snn`
    /// when it has float spiking neurons; a plain float model keeps float kernels (reported).
    pub fn default_pipeline_for(self, g: &Graph) -> String {
        let mut spec = self.default_pipeline().to_string();
        if self.is_arm() {
            let has = |f: fn(&Op) -> bool| g.node_ids().iter().any(|&id| f(&g.node(id).op));
            if has(|op| matches!(op, Op::BipolarQuant)) {
                spec.push_str(",binarize");
            }
            if has(|op| matches!(op, Op::Lif(_) | Op::If(_) | Op::CubaLif(_))) {
                spec.push_str(",quantize-snn");
            }
        }
        spec
    }

    /// Whether this is one of the ARM edge targets (C or cranelift backends).
    pub fn is_arm(self) -> bool {
        matches!(
            self,
            Target::CortexM4 | Target::CortexM7 | Target::Aarch64 | Target::Host
        )
    }

    /// Whether the default pipeline runs when no `--passes` is given. The reference interpreter
    /// runs the imported graph as it is, so it runs only what `--passes` says.
    fn runs_default_without_passes(self) -> bool {
        match self {
            Target::Reference => false,
            Target::Spinnaker2 => true,
            Target::CortexM4 | Target::CortexM7 | Target::Aarch64 | Target::Host => true,
        }
    }

    /// The pipeline to run: `passes` with every item `default` replaced by
    /// [`Target::default_pipeline`], or the default pipeline when the target needs one and
    /// `passes` is absent.
    pub fn pipeline_spec(self, passes: Option<&str>) -> String {
        self.expand(passes, self.default_pipeline())
    }

    /// [`Target::pipeline_spec`] with `default` standing for [`Target::default_pipeline_for`]
    /// `g`.
    pub fn pipeline_spec_for(self, passes: Option<&str>, g: &Graph) -> String {
        self.expand(passes, &self.default_pipeline_for(g))
    }

    fn expand(self, passes: Option<&str>, default: &str) -> String {
        match passes {
            None if self.runs_default_without_passes() => default.to_string(),
            None => String::new(),
            Some(spec) => spec
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| if item == "default" { default } else { item })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Reference => "reference",
            Target::Spinnaker2 => "spinnaker2",
            Target::CortexM4 => "cortex-m4",
            Target::CortexM7 => "cortex-m7",
            Target::Aarch64 => "aarch64",
            Target::Host => "host",
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
