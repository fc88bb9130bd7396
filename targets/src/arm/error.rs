//! Errors of the ARM targets: one enum for lowering, code generation and the QEMU / host
//! harnesses, so the CLI renders every failure the same way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;

/// Everything that can go wrong compiling for or running an ARM target.
#[derive(Debug, Error)]
pub enum ArmError {
    /// A node whose op (or this form of it) has no kernel on the ARM targets; all such nodes
    /// are collected into one error.
    #[error("{target}: no kernel for {}", list(.nodes))]
    Unsupported {
        target: &'static str,
        nodes: Vec<(String, String, String)>,
    },
    /// The compiled model does not fit the stated memory budget.
    #[error("{target}: the model needs {need} bytes of {what} but the budget is {budget} bytes ({detail})")]
    Budget {
        target: &'static str,
        what: &'static str,
        need: usize,
        budget: usize,
        detail: String,
    },
    /// An external program the harness needs is not installed.
    #[error("`{program}` is not installed (Debian package `{package}`): {purpose}")]
    MissingTool {
        program: String,
        package: String,
        purpose: String,
    },
    /// An external program failed (compiler, QEMU); its output is attached.
    #[error("`{command}` failed: {output}")]
    Tool { command: String, output: String },
    /// Code generation failed inside a backend (a bug, reported rather than panicking).
    #[error("{target}: code generation failed: {reason}")]
    Codegen {
        target: &'static str,
        reason: String,
    },
    /// A file of an artifact could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Input or output data of a run has the wrong size or form.
    #[error("{0}")]
    Data(String),
}

fn list(nodes: &[(String, String, String)]) -> String {
    nodes
        .iter()
        .map(|(node, op, reason)| format!("node `{node}` ({op}): {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `map_err` adapter: an I/O failure on `path` as [`ArmError::Io`].
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArmError + '_ {
    move |source| ArmError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A fresh, empty directory `<temp>/<prefix>-<kind>-<pid>-<n>` for a harness run (unique
/// within the process, so parallel runs never share one).
pub(crate) fn scratch(prefix: &str, kind: &str) -> Result<PathBuf, ArmError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "{prefix}-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    Ok(d)
}
