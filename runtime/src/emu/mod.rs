//! The cycle-level emulator of the spinnaker2 target (issue 4): executes a compiled artifact —
//! never the IR — PE by PE and tick by tick with the integer semantics of the reference, times
//! the packets on the packet-level NoC model ([`crate::noc`]), counts cycles with the target's
//! cost model, and reports overruns, drops, late packets, SRAM and an energy estimate.
//!
//! Build an [`Emulator`] from a [`LoadedArtifact`] (or from its parts), then
//! [`Emulator::run_sample`] or [`Emulator::run_batch`]. Outputs are aligned with the reference
//! interpreter's run: the emulator runs the `latency` extra ticks itself and drops them.
//! `docs/spinnaker2.md` ("Emulator") describes what is modelled and what is not.

mod engine;
mod error;
mod fanout;
mod input;
mod options;
mod pe;
mod program;
mod report;
mod ring;
mod router;

#[cfg(test)]
mod bench_tests;
#[cfg(test)]
mod tests;

pub use engine::{noc_params, BatchRun, Emulator, Progress, RasterEvent, SampleRun};
pub use error::EmuError;
pub use input::quantize_linear;
pub use options::EmuOptions;
pub use report::{Energy, EnergyFigures, Packets, PeCycles, PeSram, RunReport};

use snnc_targets::spinnaker2::artifact::LoadedArtifact;

impl Emulator {
    /// Builds the emulator for a loaded (digest-checked, decoded) artifact.
    pub fn new(artifact: LoadedArtifact, opts: EmuOptions) -> Result<Emulator, EmuError> {
        Emulator::from_parts(artifact.manifest, artifact.images, &artifact.routing, opts)
    }
}
