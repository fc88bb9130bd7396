//! Errors of the emulator. An artifact and the input tensors are user input, so every way they
//! can be inconsistent is a typed error naming the PE, router, step or element at fault.

use crate::noc::NocError;
use thiserror::Error;

/// Why the emulator cannot be built or cannot run a sample.
#[derive(Debug, Error)]
pub enum EmuError {
    /// The artifact's manifest, images and routing file disagree, or a value is out of the range
    /// the emulator supports. `what` names the file or PE, `reason` the problem.
    #[error("artifact: {what}: {reason}")]
    Artifact { what: String, reason: String },
    /// A routing table sends a packet through a link the square mesh does not have (a diagonal
    /// link, or off the edge of the board).
    #[error("routing table of router ({x}, {y}) entry {entry}: {reason}")]
    Route {
        x: u32,
        y: u32,
        entry: usize,
        reason: String,
    },
    /// The routing tables hold a loop: a packet crossed more than the hop limit.
    #[error("key {key:#010x} from PE {pe}: crossed more than {limit} links (routing loop)")]
    RoutingLoop { key: u32, pe: u32, limit: u32 },
    /// One step's input vector has the wrong length.
    #[error("input step {step}: {got} values, the model input has {expected}")]
    InputLength {
        step: usize,
        got: usize,
        expected: usize,
    },
    /// An input value cannot be encoded as the manifest's input encoding asks (a spike that is
    /// not 0/1, an integer that is fractional or out of range).
    #[error("input step {step}, element {index}: value {value} {reason}")]
    InputValue {
        step: usize,
        index: usize,
        value: f32,
        reason: &'static str,
    },
    /// The packet-level NoC simulation failed (bad parameters or routing decision).
    #[error("NoC simulation at tick {tick}: {source}")]
    Noc {
        tick: usize,
        #[source]
        source: NocError,
    },
    /// The artifact needs more host memory than the emulator allows itself (see
    /// `docs/spinnaker2.md`, "Emulator"): deliveries per spike times spiking neurons too large.
    #[error("{what} would need more than {bytes} bytes of host memory (limit {limit}): the mapping sends each spike to too many PEs for the emulator")]
    TooLarge {
        what: &'static str,
        bytes: u64,
        limit: u64,
    },
    /// Options out of range (e.g. zero threads).
    #[error("emulator option `{name}`: {reason}")]
    Option { name: &'static str, reason: String },
}

impl EmuError {
    /// Shorthand for [`EmuError::Artifact`].
    pub(crate) fn artifact(what: impl Into<String>, reason: impl Into<String>) -> EmuError {
        EmuError::Artifact {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
