//! NIR frontend: a NIR graph (HDF5 file, as written by `nir.write`) in, an IR [`Graph`] out.
//!
//! NIR (Neuromorphic Intermediate Representation) describes spiking networks in continuous time:
//! neuron parameters are time constants and resistances, not per-step factors. They are kept
//! that way; `dt` is chosen when the graph is compiled or run.
//!
//! The import is staged, each stage in its own file:
//! 1. `hdf5.rs`: the file's object tree, read once with the pure-Rust `hdf5-reader` crate;
//! 2. `model.rs`: the NIR document (graphs, typed nodes, edges); unknown node types are all
//!    reported together, as one [`ImportError::Unsupported`];
//! 3. `prim.rs` (with `params.rs`): every node's parameters checked and converted (f64 narrowed to
//!    f32, integers to sizes, NaN/inf rejected, defaults of older files filled in);
//! 4. `nesting.rs`: nested `NIRGraph` nodes flattened into one graph with names `outer.inner`;
//! 5. `recurrence.rs`: the edges that close cycles chosen independently of edge order;
//! 6. `build.rs`: IR nodes, explicit `Add`s where NIR sums several edges, type inference.
//!
//! Inputs keep the shape NIR declares (no batch dimension: `f32[64]` for a 64-input MLP).
//! Graph inputs and outputs are numbered in the name order of their NIR nodes.

mod build;
mod hdf5;
mod model;
mod nesting;
mod params;
mod prim;
mod recurrence;

#[cfg(test)]
mod tests;

use std::path::Path;

use snnc_ir::op::ResetMode;
use snnc_ir::{Graph, IrError};

use crate::frontend::limits::Limits;
use crate::ImportError;

/// Choices NIR files do not record, and the limits the file is read under.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ImportOptions {
    /// What LIF, CubaLIF and IF neurons do after a spike. NIR defines `v ← v_reset`
    /// ([`ResetMode::ToValue`], the default); some exporters' source models subtract the
    /// threshold instead, which NIR cannot express.
    pub reset: ResetMode,
    /// The memory budget of the values read from the file.
    pub limits: Limits,
}

/// Import the NIR file at `path` with default options.
pub fn import(path: &Path) -> Result<Graph, ImportError> {
    import_with(path, &ImportOptions::default())
}

/// Import the NIR file at `path`.
pub fn import_with(path: &Path, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    import_bytes(bytes, path, opts)
}

/// Import a NIR file already in memory; `path` names it in errors and gives the graph its name
/// (the file stem).
pub fn import_bytes(
    bytes: Vec<u8>,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Graph, ImportError> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    run(bytes, &name, opts).map_err(|f| f.into_error(path))
}

fn run(bytes: Vec<u8>, name: &str, opts: &ImportOptions) -> Result<Graph, Fail> {
    let tree = hdf5::read_tree(bytes, &opts.limits).map_err(Fail::Format)?;
    let doc = model::read_document(&tree)?;
    let unknown = model::unsupported(&doc, "");
    if !unknown.is_empty() {
        return Err(Fail::Unsupported(unknown));
    }
    let flat = nesting::flatten(&doc, opts)?;
    build::build(name, &flat)
}

/// An import failure before the file's path is attached.
#[derive(Debug)]
enum Fail {
    /// The file is not a well-formed NIR graph.
    Format(String),
    /// One node (qualified name, NIR type) is wrong.
    Node {
        node: String,
        op: String,
        reason: String,
    },
    /// Node types this frontend does not map, as (qualified name, NIR type).
    Unsupported(Vec<(String, String)>),
    /// The IR rejected the graph (shape mismatches found by type inference).
    Ir(IrError),
}

impl Fail {
    fn into_error(self, path: &Path) -> ImportError {
        let path = path.to_path_buf();
        match self {
            Fail::Format(reason) => ImportError::Format { path, reason },
            Fail::Node { node, op, reason } => ImportError::Node {
                path,
                node,
                op,
                reason,
            },
            Fail::Unsupported(ops) => ImportError::Unsupported { path, ops },
            Fail::Ir(e) => ImportError::ir(path, e),
        }
    }
}
