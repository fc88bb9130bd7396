//! The spinnaker2 artifact directory (DESIGN.md §6): what `snnc compile --target spinnaker2`
//! writes and `snnc run` loads.
//!
//! ```text
//! OUT/manifest.json          Manifest (pretty JSON, deterministic)
//! OUT/routing.json           RoutingFile: every router's table
//! OUT/pe/pe_NNNNN.bin        one PeImage per used PE (NNNNN = global PeId, 5 digits)
//! OUT/kernel/snnc_pe.{c,h}   the PE kernel source (same for every model)
//! ```
//!
//! The emulator loads only this directory, never the IR, so the artifact is the whole contract
//! between compiler and machine: the loader treats it as untrusted input and validates every
//! byte before anything runs.

pub mod check;
pub mod digest;
pub mod error;
pub mod image;
pub mod load;
pub mod manifest;
pub mod routing_file;
pub mod write;

pub use digest::{file_digest, files_digest, fnv1a32, fnv1a64};
pub use error::{ArtifactError, ImageError};
pub use image::{
    build_synaptic_matrix, synapse_word, MasterEntry, MatrixBlock, NeuronParams, PeImage, PeRole,
    RequantEntry, Synapse,
};
pub use load::LoadedArtifact;
pub use manifest::{
    InputEncoding, InputInfo, KernelInfo, KernelKind, Manifest, ModelRef, OutputInfo, PeInfo,
    PopulationInfo, PopulationKind, ProjectionInfo, Resources, RoutingInfo, SliceInfo,
};
pub use routing_file::{RouteDecodeError, RouterEntry, RouterTable, RoutingFile};
pub use write::RenderedArtifact;

use crate::spinnaker2::machine::PeId;

/// Name of the manifest file inside the artifact directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the routing file inside the artifact directory.
pub const ROUTING_FILE: &str = "routing.json";

/// Path of PE `pe`'s image relative to the artifact directory (`pe/pe_00042.bin`).
pub fn image_path(pe: PeId) -> String {
    format!("pe/pe_{:05}.bin", pe.0)
}

/// A complete artifact in memory, as the mapping stage produces it. The manifest's digests and
/// byte counts are filled in by the writer; `images` holds one image per entry of
/// `manifest.pes` (any order; the writer sorts by PE id).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub manifest: Manifest,
    pub images: Vec<(PeId, PeImage)>,
    pub routing: RoutingFile,
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod load_tests;
