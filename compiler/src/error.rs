//! Errors of the compiler library. Each renders as one line that names the file, and the node
//! where there is one; the CLI prints it and exits with code 1.

use std::path::PathBuf;

use snnc_ir::IrError;
use thiserror::Error;

/// Why a model could not be imported.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a (well-formed) model of the format it claims or was sniffed as.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    /// One node of the model is wrong (bad attribute, shape mismatch, NaN weight, ...).
    #[error("{}: node `{node}` ({op}): {reason}", path.display())]
    Node {
        path: PathBuf,
        node: String,
        op: String,
        reason: String,
    },
    /// Ops snnc cannot import: every one of them, as (node name, op type).
    #[error("{}: {} unsupported op(s): {}", path.display(), ops.len(), list_ops(ops))]
    Unsupported {
        path: PathBuf,
        ops: Vec<(String, String)>,
    },
    /// The graph the frontend built does not verify.
    #[error("{}: {source}", path.display())]
    Ir { path: PathBuf, source: IrError },
}

fn list_ops(ops: &[(String, String)]) -> String {
    ops.iter()
        .map(|(node, op)| format!("`{node}` ({op})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ImportError {
    /// Wrap an IR error raised while building the graph from `path`.
    pub fn ir(path: impl Into<PathBuf>, source: IrError) -> Self {
        let path = path.into();
        match source {
            IrError::Node { node, op, reason } => ImportError::Node {
                path,
                node,
                op: op.to_string(),
                reason,
            },
            other => ImportError::Ir {
                path,
                source: other,
            },
        }
    }
}

/// Any failure of a `snnc` command: what the CLI renders as its one-line diagnostic.
#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input or output array is malformed or does not fit the model.
    #[error("{}: {reason}", path.display())]
    Npy { path: PathBuf, reason: String },
    /// The reference interpreter failed on a node of the model at `path`.
    #[error("{}: {source}", path.display())]
    Sim { path: PathBuf, source: IrError },
    /// A pass could not run on the model (or its calibration file) at `path`.
    #[error("{}: {source}", path.display())]
    Pass {
        path: PathBuf,
        source: crate::passes::PassError,
    },
    /// A hardware target cannot take the model at `path` (unsupported op, too big, ...).
    #[error("{}: {source}", path.display())]
    Target {
        path: PathBuf,
        source: snnc_targets::spinnaker2::error::Spinnaker2Error,
    },
    /// An ARM target cannot take the model at `path`, or running its artifact failed (missing
    /// cross compiler or QEMU, over budget, no kernel for a node, ...).
    #[error("{}: {source}", path.display())]
    Arm {
        path: PathBuf,
        source: snnc_targets::arm::ArmError,
    },
    /// A target artifact (directory at `path`) could not be written or read.
    #[error("{}: {source}", path.display())]
    Artifact {
        path: PathBuf,
        source: snnc_targets::spinnaker2::artifact::ArtifactError,
    },
    /// The emulator failed while running the artifact at `path`.
    #[error("{}: {source}", path.display())]
    Emulator {
        path: PathBuf,
        source: snnc_runtime::emu::EmuError,
    },
    /// Options that contradict each other or the model.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
