//! `manifest.json`: the table of contents of a spinnaker2 artifact (DESIGN.md §6).
//!
//! The manifest is what `snnc run` reads first, so it carries everything the emulator needs
//! besides the data images and routing tables: the machine, the input/output binding, where each
//! population slice lives, and a digest of every other file so a corrupted or mixed-up artifact
//! is rejected before anything runs. Every struct denies unknown fields: a manifest written by a
//! different format version must fail loudly rather than be half-understood.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spinnaker2::machine::{Machine, PeCoord, PeId};

/// Value of [`Manifest::format`]: identifies the artifact kind.
pub const FORMAT: &str = "snnc-spinnaker2";
/// Value of [`Manifest::format_version`] this code writes and accepts.
pub const FORMAT_VERSION: u32 = 1;

/// The whole `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The snnc version that wrote the artifact (informational).
    pub snnc_version: String,
    /// The model the artifact was compiled from.
    pub model: ModelRef,
    /// Compile options that change the result (passes, dt, reset, machine file, ...), sorted.
    pub flags: BTreeMap<String, String>,
    /// The machine the artifact was placed on; the emulator simulates exactly this one.
    pub machine: Machine,
    /// Pipeline latency in ticks: output step `s` is produced at tick `s + latency`.
    pub latency: u32,
    /// Human-readable note on how steps map to ticks (for someone reading the JSON).
    pub steps_note: String,
    /// Where the model input enters the machine and how it is encoded into packets.
    pub input: InputInfo,
    /// Which population's spikes are the model output.
    pub output: OutputInfo,
    /// Every population in network order (indices are used by projections, input, output, pes).
    pub populations: Vec<PopulationInfo>,
    /// Every projection in network order.
    pub projections: Vec<ProjectionInfo>,
    /// Every used PE, sorted by PE id.
    pub pes: Vec<PeInfo>,
    /// The routing-table file and its statistics.
    pub routing: RoutingInfo,
    /// The mapping report's resource figures.
    pub resources: Resources,
    /// The PE kernel sources shipped with the artifact.
    pub kernel: KernelInfo,
}

/// The source model: file name as given on the command line and the digest of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub file: String,
    /// `fnv1a64:<16 hex>` of the model file.
    pub digest: String,
}

/// How the host turns the user's input tensor into source packets each step (also the lowered
/// network's input encoding, `network::InputEncoding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputEncoding {
    /// The input already holds 0/1 spikes: a 1 sends a key-only packet.
    Spikes,
    /// The host applies ONNX QuantizeLinear each step,
    /// `q = clamp(round_half_even(x / scale) + zero_point, lo, hi)`, and sends `q` as payload.
    Quantized {
        scale: f32,
        zero_point: i32,
        lo: i32,
        hi: i32,
    },
    /// The input holds integers in `lo..=hi`, sent directly as payload.
    Integer { lo: i32, hi: i32 },
}

/// The model input binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputInfo {
    /// Graph input name.
    pub name: String,
    /// Shape of one step of input (row-major; flattened onto the source population).
    pub shape: Vec<usize>,
    /// Index of the source population in [`Manifest::populations`].
    pub population: usize,
    pub encoding: InputEncoding,
}

/// The model output binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputInfo {
    /// Graph output name.
    pub name: String,
    /// Shape of one step of output (row-major; the population's neurons in order).
    pub shape: Vec<usize>,
    /// Index of the recorded population in [`Manifest::populations`].
    pub population: usize,
}

/// Whether a population is fed by the host or made of LIF neurons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopulationKind {
    Source,
    Lif,
}

/// One population and the PE slices it was partitioned into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationInfo {
    pub name: String,
    pub kind: PopulationKind,
    /// Number of neurons (elements) of the population.
    pub neurons: usize,
    /// Pipeline depth: reference step `s` of this population runs at tick `s + depth`.
    pub depth: u32,
    /// Slices in neuron order; together they cover `0..neurons` exactly once.
    pub slices: Vec<SliceInfo>,
}

/// One PE-sized piece of a population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceInfo {
    /// The PE running this slice.
    pub pe: PeId,
    /// Index of the slice's first neuron in the population.
    pub first: u32,
    /// Neurons in the slice.
    pub count: u32,
    /// Routing key of the slice's neuron 0 (neuron `i` sends `key + i`).
    pub key: u32,
    /// Mask covering the slice's key block.
    pub mask: u32,
}

/// Which PE code path processes a projection's packets (the cost model differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelKind {
    /// Event-driven synapse processing, one synapse word at a time.
    Event,
    /// The PE's MAC array (payload projections with weights of at most 8 bits).
    Mac,
}

/// One projection between populations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionInfo {
    pub name: String,
    /// Index of the pre-synaptic population.
    pub pre: usize,
    /// Index of the post-synaptic population.
    pub post: usize,
    /// Number of (non-zero) synapses.
    pub synapses: u64,
    /// Hardware delay in ticks (>= 1).
    pub delay: u32,
    /// Bits of the quantized weights.
    pub weight_bits: u32,
    pub kernel: KernelKind,
}

/// One used PE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeInfo {
    pub pe: PeId,
    pub coord: PeCoord,
    /// Index of the population in [`Manifest::populations`].
    pub population: usize,
    /// Index of the slice in that population's `slices`.
    pub slice: usize,
    /// Path of the data image relative to the artifact directory (`pe/pe_NNNNN.bin`).
    pub image: String,
    /// Size of the image file in bytes (filled in by the writer).
    pub bytes: u64,
    /// `fnv1a64:<16 hex>` of the image file (filled in by the writer).
    pub digest: String,
    /// SRAM the PE needs at run time: image (without a DRAM synapse section) plus runtime
    /// state.
    pub sram_bytes: u64,
    /// Bytes of the chip's DRAM the PE's synapse section takes (image flag SYNAPSES_DRAM);
    /// omitted when 0, so SRAM-only manifests read as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dram_bytes: u64,
    /// Cost-model estimate of cycles per tick.
    pub est_cycles_per_tick: u64,
}

/// The routing-table file and its statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingInfo {
    /// Path relative to the artifact directory (`routing.json`).
    pub file: String,
    /// `fnv1a64:<16 hex>` of the file (filled in by the writer).
    pub digest: String,
    /// Number of routers with at least one entry.
    pub routers: usize,
    /// Entries over all routers before compression.
    pub entries_before: u64,
    /// Entries over all routers after compression.
    pub entries_after: u64,
    /// Largest table after compression.
    pub max_entries: u32,
}

/// Resource figures of the mapping report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub pes_used: u64,
    /// Lower bound on PEs for this model on this machine.
    pub pes_lower_bound: u64,
    pub chips_used: u64,
    pub sram_max_per_pe: u64,
    pub sram_total: u64,
    /// Largest DRAM use of one chip by synapse sections, bytes (0: all synapses in SRAM).
    #[serde(default)]
    pub dram_max_per_chip: u64,
    /// DRAM used by synapse sections over all chips, bytes.
    #[serde(default)]
    pub dram_total: u64,
    /// Expected packets per step (an estimate: depends on firing rates).
    pub expected_packets_per_step: f64,
    /// Longest source-to-sink packet path in cycles.
    pub longest_path_cycles: u64,
}

/// Serde helper: omit zero counts.
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The kernel sources in the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelInfo {
    /// Paths relative to the artifact directory, sorted (`kernel/snnc_pe.c`, `kernel/snnc_pe.h`).
    pub files: Vec<String>,
    /// `fnv1a64:<16 hex>` over the listed files (see [`super::digest::files_digest`]; filled
    /// in by the writer).
    pub digest: String,
}
