//! Errors of the passes.

use snnc_ir::IrError;
use thiserror::Error;

/// Why a pass (or a pipeline) could not run.
#[derive(Debug, Error)]
pub enum PassError {
    #[error("unknown pass `{name}` (known: {known})")]
    UnknownPass { name: String, known: String },
    /// Impossible or malformed options (`int0`, sparsity 1.5, an unknown key).
    #[error("pass `{pass}`: {reason}")]
    InvalidArgs { pass: String, reason: String },
    /// The pass does not apply to this graph (nothing to binarize, no ReLU to convert, ...).
    #[error("pass `{pass}` does not apply to this model: {reason}")]
    NotApplicable { pass: String, reason: String },
    /// Calibration data is missing or does not fit the model.
    #[error("pass `{pass}`: calibration data: {reason}")]
    Calibration { pass: String, reason: String },
    /// The pass failed on a node (an IR error carries the node's name).
    #[error("pass `{pass}`: {source}")]
    Ir { pass: String, source: IrError },
    /// The pass produced a graph that does not verify: a bug in snnc.
    #[error("internal error: pass `{pass}` left an invalid graph: {source}")]
    Broken { pass: String, source: IrError },
}

impl PassError {
    pub fn invalid(pass: &str, reason: impl Into<String>) -> Self {
        PassError::InvalidArgs {
            pass: pass.to_string(),
            reason: reason.into(),
        }
    }

    pub fn not_applicable(pass: &str, reason: impl Into<String>) -> Self {
        PassError::NotApplicable {
            pass: pass.to_string(),
            reason: reason.into(),
        }
    }

    pub fn ir(pass: &str, source: IrError) -> Self {
        PassError::Ir {
            pass: pass.to_string(),
            source,
        }
    }
}
