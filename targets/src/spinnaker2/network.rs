//! The target-level network model of the spinnaker2 backend.
//!
//! `lower` builds a [`Network`] from the verified integer SNN graph; partitioning, placement,
//! routing, data-image generation and the emulator all read this model instead of the IR, so the
//! backend's view of the computation (populations of integer LIF neurons connected by sparse,
//! requantized projections) is stated once, in the vocabulary of the machine. The step semantics
//! are those of the reference interpreter (ir/src/op/int.rs: `requant_scale`, `IntLifState::step`);
//! `Network::schedule` (in `network/schedule.rs`) maps reference steps onto machine ticks.

use serde::{Deserialize, Serialize};

/// A whole model as the machine sees it: populations and the projections between them.
///
/// Indices in `projections`, `input` and `output` refer to `populations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Model name (the graph's name), carried into the artifact for diagnostics.
    pub name: String,
    /// Every population; the input (source) population is one of them.
    pub populations: Vec<Population>,
    /// Every projection, in graph order (deterministic).
    pub projections: Vec<Projection>,
    /// How the host feeds the model input into the source population each step.
    pub input: InputSpec,
    /// Which population's spikes form the model output.
    pub output: OutputSpec,
}

/// The model input: its tensor name/shape and how values become packets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Name of the graph input, so the runtime can check the given `.npy` against it.
    pub name: String,
    /// Per-step shape of the graph input (as declared by the graph, e.g. `[64]` or `[1, 64]`).
    pub shape: Vec<usize>,
    /// Index of the source population that emits the input.
    pub population: usize,
    /// How input values turn into (payload) packets.
    pub encoding: InputEncoding,
}

/// How the host encodes the model input each step before the source population sends it: one
/// definition shared with the manifest, which records it for the emulator. The encoding fixes
/// whether packets carry a payload and the payload's range, which the compiler needs to prove
/// that synaptic accumulators cannot overflow.
pub use super::artifact::manifest::InputEncoding;

impl InputEncoding {
    /// Whether source packets carry a payload (value) instead of being key-only spikes.
    pub fn payload(&self) -> bool {
        !matches!(self, InputEncoding::Spikes)
    }

    /// Largest magnitude a source packet can contribute per synapse weight (1 for spikes): the
    /// factor of the accumulator overflow bound.
    pub fn max_abs(&self) -> u64 {
        match *self {
            InputEncoding::Spikes => 1,
            InputEncoding::Quantized { lo, hi, .. } | InputEncoding::Integer { lo, hi } => {
                u64::from(lo.unsigned_abs()).max(u64::from(hi.unsigned_abs()))
            }
        }
    }
}

/// The model output: the spikes of one LIF population, shaped like the graph output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Name of the graph output (written into the result `.npy` metadata / report).
    pub name: String,
    /// Per-step shape of the graph output.
    pub shape: Vec<usize>,
    /// Index of the LIF population whose spikes are recorded.
    pub population: usize,
}

/// A group of neurons with one behaviour: the unit that is sliced across PEs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Name of the IR node it comes from (graph input or IntLif node), for reports and errors.
    pub name: String,
    /// Number of neurons (elements of the per-step tensor).
    pub size: usize,
    /// What the neurons do each tick.
    pub kind: PopulationKind,
}

/// What a population's neurons compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PopulationKind {
    /// Emits the host-provided input (no state).
    Source,
    /// Integer leaky integrate-and-fire neurons (the IR's `IntLif`).
    Lif(LifParams),
}

/// Per-neuron parameters of an integer LIF population, broadcast to one value per neuron so the
/// data images never need the IR's broadcasting rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifParams {
    /// Leak multiplier (fixed point with `frac_bits` fractional bits); len = size.
    pub decay: Vec<i32>,
    /// Constant input added every step; len = size.
    pub bias: Vec<i32>,
    /// A neuron spikes when its potential exceeds this (strictly greater); len = size.
    pub threshold: Vec<i32>,
    /// Potential after a spike in [`Reset::ToValue`] mode; len = size.
    pub v_reset: Vec<i32>,
    /// Fractional bits of `decay` (leak is rounded half up after the multiply).
    pub frac_bits: u32,
    /// Width of the saturating membrane potential register.
    pub state_bits: u32,
    /// Reset rule after a spike.
    pub reset: Reset,
}

/// Reset rule after a spike. NIR leaves it open, so it is a compile option (default ToValue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// The potential becomes `v_reset`.
    ToValue,
    /// The threshold is subtracted from the potential (saturating to the state width).
    Subtract,
}

/// Synapses from one population to another with one requantization: one synapse type `k` on the
/// post PEs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Name of the IR node the weights come from (the Gemm), for reports and errors.
    pub name: String,
    /// Index of the pre (sending) population.
    pub pre: usize,
    /// Index of the post (receiving, LIF) population.
    pub post: usize,
    /// True when the reference delivers step t's events at step t+1 (a recurrent graph edge).
    pub recurrent: bool,
    /// Extra steps of delay from Delay ops on the path.
    pub extra_delay: u32,
    /// The nonzero weights, by pre neuron.
    pub rows: SparseRows,
    /// Bits needed to hold every weight as a signed integer (<= 16: weights fit i16).
    pub weight_bits: u32,
    /// Requantization of this projection's accumulator into the neuron input.
    pub requant: RequantParams,
    /// True when the pre population sends values (payload packets), not spikes.
    pub payload: bool,
}

impl Projection {
    /// Number of synapses (nonzero weights).
    pub fn synapses(&self) -> usize {
        self.rows.weight.len()
    }
}

/// Compressed sparse rows by pre neuron: the layout the synapse section of a PE image uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SparseRows {
    /// Row start of each pre neuron in `post`/`weight`; len = pre size + 1.
    pub offsets: Vec<u64>,
    /// Post neuron index of each synapse, ascending within a row.
    pub post: Vec<u32>,
    /// Weight of each synapse (never zero).
    pub weight: Vec<i32>,
}

impl SparseRows {
    /// The `(post, weight)` pairs of pre neuron `pre`, empty when out of range.
    pub fn row(&self, pre: usize) -> impl Iterator<Item = (u32, i32)> + '_ {
        let (lo, hi) = match (self.offsets.get(pre), self.offsets.get(pre + 1)) {
            (Some(&lo), Some(&hi)) if lo <= hi => (lo as usize, hi as usize),
            _ => (0, 0),
        };
        let post = self.post.get(lo..hi).unwrap_or(&[]);
        let weight = self.weight.get(lo..hi).unwrap_or(&[]);
        post.iter().copied().zip(weight.iter().copied())
    }

    /// Number of pre neurons (rows).
    pub fn n_rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// Requantization of a projection's i32 accumulator into a neuron input, per post neuron:
/// `clamp(((x*m + round) >> s) + zero_point, lo, hi)` in i64 (ir/src/op/int.rs `requant_scale`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequantParams {
    /// Multiplier per post neuron, in `[0, 2^31)`.
    pub multiplier: Vec<i32>,
    /// Right shift per post neuron, `0..=62`.
    pub shift: Vec<u32>,
    /// Added after the shift.
    pub zero_point: i32,
    /// Lower clamp bound (of the requant output type).
    pub lo: i32,
    /// Upper clamp bound (of the requant output type).
    pub hi: i32,
}

/// Where each population runs in machine time (see the spec's Time/pipelining section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Depth of each population: reference step s of population P is computed at tick s + depth.
    pub depth: Vec<u32>,
    /// Hardware delay of each projection in ticks (>= 1).
    pub delay: Vec<u32>,
    /// Depth of the output population: output step s appears at tick s + latency.
    pub latency: u32,
}

mod schedule;

pub use schedule::MAX_DELAY_TICKS;
