//! Loading any model file: sniff the format, import, verify.

use std::path::Path;

use snnc_ir::{verify, Graph, GraphInfo};

use crate::frontend::{nir, onnx, sniff, Format};
use crate::ImportError;

/// A model as imported, with what verification established about it.
#[derive(Debug)]
pub struct Model {
    pub graph: Graph,
    pub info: GraphInfo,
    pub format: Format,
}

/// Read, import and verify a model file of any supported format.
pub fn load(path: &Path) -> Result<Model, ImportError> {
    let head = read_head(path)?;
    let format = sniff(&head);
    let graph = match format {
        Format::Nir => nir::import(path)?,
        Format::Onnx => onnx::import(path)?,
        Format::IrText => {
            let text = std::fs::read_to_string(path).map_err(|e| ImportError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            snnc_ir::text::parse(&text).map_err(|e| ImportError::ir(path, e))?
        }
    };
    let info = verify(&graph).map_err(|e| ImportError::ir(path, e))?;
    Ok(Model {
        graph,
        info,
        format,
    })
}

fn read_head(path: &Path) -> Result<Vec<u8>, ImportError> {
    use std::io::Read;
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::with_capacity(256);
    f.by_ref().take(256).read_to_end(&mut head).map_err(io)?;
    if head.is_empty() {
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok(head)
}
