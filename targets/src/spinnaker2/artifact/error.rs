//! Errors of the artifact module. Images, manifests and routing files are user input for the
//! loader (`snnc run` takes any directory), so every way they can be wrong is a typed error that
//! names the file and the reason; nothing here panics.

use thiserror::Error;

/// Why a PE data image cannot be encoded or decoded. Decoding reports the first problem found,
/// in header-to-payload order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    /// The byte length is not a whole number of 32-bit words or shorter than the header.
    #[error("image is {bytes} bytes: {reason}")]
    Size { bytes: usize, reason: String },
    /// Word 0 is not the magic "SNN2".
    #[error("bad magic 0x{found:08x} (expected 0x{expected:08x}, \"SNN2\")")]
    Magic { found: u32, expected: u32 },
    /// Word 1 is not a version this code understands.
    #[error("unsupported image version {found} (this snnc reads version {expected})")]
    Version { found: u32, expected: u32 },
    /// The total-words field disagrees with the file length.
    #[error("header says {header} words but the image has {actual}")]
    Length { header: u32, actual: usize },
    /// The checksum word does not match the content.
    #[error("checksum mismatch: header 0x{stored:08x}, content 0x{computed:08x}")]
    Checksum { stored: u32, computed: u32 },
    /// A header field is out of its range or inconsistent with another.
    #[error("header field `{field}`: {reason}")]
    Header { field: &'static str, reason: String },
    /// A section offset or size does not match the layout.
    #[error("section `{section}`: {reason}")]
    Section {
        section: &'static str,
        reason: String,
    },
    /// A master-table entry is invalid.
    #[error("master entry {index}: {reason}")]
    Master { index: usize, reason: String },
    /// A row pointer or row extends outside the synapse section.
    #[error("master entry {entry}, row {row}: {reason}")]
    Row {
        entry: usize,
        row: u32,
        reason: String,
    },
    /// A synapse word is invalid.
    #[error("master entry {entry}, row {row}, synapse {index}: {reason}")]
    Synapse {
        entry: usize,
        row: u32,
        index: u32,
        reason: String,
    },
    /// A neuron or requant parameter is out of range.
    #[error("parameter `{field}` of neuron {neuron}: {reason}")]
    Param {
        field: &'static str,
        neuron: u32,
        reason: String,
    },
}

/// Why an artifact cannot be written or loaded. Every variant names the file (relative to the
/// artifact directory when the file is inside it).
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file does not parse into its type (serde names the field and position).
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A data image is invalid.
    #[error("{path}: {source}")]
    Image {
        path: String,
        #[source]
        source: ImageError,
    },
    /// A file's digest does not match the manifest's.
    #[error("{path}: digest {actual} does not match the manifest's {expected} (file corrupted or replaced)")]
    Digest {
        path: String,
        expected: String,
        actual: String,
    },
    /// The artifact's content is inconsistent (manifest vs. images, bad paths, wrong format).
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl ArtifactError {
    /// Shorthand for [`ArtifactError::Invalid`].
    pub fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ArtifactError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
