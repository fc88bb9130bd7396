//! Loading any model file: sniff the format, import, verify, and check that running the graph
//! stays within the file's memory budget.

use std::path::Path;

use snnc_ir::{verify, DType, Graph, GraphInfo};

use crate::frontend::limits::{human, tensor_bytes, Limits, MAX_NODES};
use crate::frontend::{nir, onnx, sniff, Format};
use crate::ImportError;

/// A model as imported, with what verification established about it.
#[derive(Debug)]
pub struct Model {
    pub graph: Graph,
    pub info: GraphInfo,
    pub format: Format,
}

/// Read, import and verify a model file of any supported format under the default [`Limits`].
pub fn load(path: &Path) -> Result<Model, ImportError> {
    load_with(path, &Limits::default())
}

/// Read, import and verify a model file of any supported format under `limits`.
pub fn load_with(path: &Path, limits: &Limits) -> Result<Model, ImportError> {
    let (head, file_len) = read_head(path)?;
    // Reading the file is itself an allocation of its size.
    if let Some(max) = limits.max_model_bytes.filter(|m| file_len > *m) {
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "the file is {}, over the {} budget set by --max-model-bytes",
                human(file_len),
                human(max)
            ),
        });
    }
    let format = sniff(&head);
    let graph = match format {
        Format::Nir => {
            let opts = nir::ImportOptions {
                limits: *limits,
                ..nir::ImportOptions::default()
            };
            nir::import_with(path, &opts)?
        }
        Format::Onnx => onnx::import_with(path, limits).map_err(|e| not_nir(path, e))?,
        Format::IrText => {
            let text = std::fs::read_to_string(path).map_err(|e| ImportError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            snnc_ir::text::parse(&text).map_err(|e| ImportError::ir(path, e))?
        }
    };
    check_size(&graph, file_len, limits).map_err(|reason| ImportError::Format {
        path: path.to_path_buf(),
        reason,
    })?;
    let info = verify(&graph).map_err(|e| ImportError::ir(path, e))?;
    Ok(Model {
        graph,
        info,
        format,
    })
}

/// The first bytes of the file (for sniffing) and its length. Only regular files are read: a
/// FIFO or a device such as `/dev/zero` would block or never end.
fn read_head(path: &Path) -> Result<(Vec<u8>, u64), ImportError> {
    use std::io::Read;
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            reason: format!("is {what}, not a model file"),
        });
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::with_capacity(256);
    f.by_ref().take(256).read_to_end(&mut head).map_err(io)?;
    if head.is_empty() {
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok((head, meta.len()))
}

/// A file named as NIR whose content is not HDF5 was tried as ONNX (the format is decided by
/// content): when that fails too, say what the name promised instead of the protobuf error.
fn not_nir(path: &Path, e: ImportError) -> ImportError {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match e {
        ImportError::Format { .. } if matches!(ext.as_str(), "nir" | "h5" | "hdf5") => {
            ImportError::Format {
                path: path.to_path_buf(),
                reason: "is not an HDF5 file (NIR models are HDF5: the file does not start with the HDF5 signature), nor ONNX or snnc IR text".into(),
            }
        }
        other => other,
    }
}

/// Bytes one element of `dtype` takes while the graph runs (floats as f32, integers as i64).
fn held_size(dtype: DType) -> u64 {
    if dtype.is_float() {
        4
    } else {
        8
    }
}

/// The graph must not have more than [`MAX_NODES`] nodes, and the values of one step (every
/// node's output, as the interpreter holds them) must fit the budget of a file of `file_len`
/// bytes. Types come from the file (IR text, ONNX shapes, broadcasting), so a few bytes can
/// declare terabytes; this is checked before anything runs.
fn check_size(g: &Graph, file_len: u64, limits: &Limits) -> Result<(), String> {
    if g.len() > MAX_NODES {
        return Err(format!(
            "the graph has {} nodes; snnc reads at most {MAX_NODES}",
            g.len()
        ));
    }
    let mut budget = limits.budget_for(file_len);
    for id in g.node_ids() {
        let node = g.node(id);
        let Some(ty) = &node.ty else { continue };
        let bytes = tensor_bytes(&ty.shape, held_size(ty.dtype)).ok_or_else(|| {
            format!(
                "node `{}` ({}): type {ty} has more elements than memory can hold",
                node.name,
                node.op.name()
            )
        })?;
        budget.charge(bytes).map_err(|e| {
            format!(
                "node `{}` ({}): its output {ty} ({}) brings the values of one step to {e}",
                node.name,
                node.op.name(),
                human(bytes)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ir_graph(shape: &str) -> Graph {
        let text = format!(
            "graph \"m\" {{\n  n0 = input 0 \"x\" : f32[{shape}]\n  n1 = relu(n0) \"act\" : f32[{shape}]\n  n2 = output 0 (n1) \"y\" : f32[{shape}]\n}}\n"
        );
        snnc_ir::text::parse(&text).unwrap()
    }

    #[test]
    fn declared_tensor_sizes_are_budgeted() {
        let small = ir_graph("1,64");
        assert!(check_size(&small, 100, &Limits::default()).is_ok());
        // 100000 x 100000 f32 is 37 GiB per node.
        let big = ir_graph("100000,100000");
        let e = check_size(&big, 200, &Limits::default()).unwrap_err();
        assert!(
            e.starts_with("node `x` (input): its output f32[100000,100000] (37.3 GiB) brings"),
            "{e}"
        );
        assert!(e.contains("over the 256.0 MiB budget"), "{e}");
        // The three nodes of [1000, 1000] (4 MB each) fit 16 MB, not 10 MB.
        let mid = ir_graph("1000,1000");
        assert!(check_size(&mid, 200, &Limits::fixed(16 << 20)).is_ok());
        let e = check_size(&mid, 200, &Limits::fixed(10 << 20)).unwrap_err();
        assert!(e.starts_with("node `y` (output)"), "{e}");
    }

    #[test]
    fn element_counts_that_overflow_are_an_error_not_a_panic() {
        let g = ir_graph("100000000000,100000000000");
        let e = check_size(&g, 200, &Limits::fixed(u64::MAX)).unwrap_err();
        assert!(e.contains("more elements than memory can hold"), "{e}");
    }

    #[test]
    fn files_larger_than_their_format_or_budget_allows_are_not_read() {
        let dir = std::env::temp_dir().join(format!("snnc-load-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A sparse file: 2 GiB of nothing, on no disk space.
        let big = dir.join("big.onnx");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(2 << 30).unwrap();
        drop(f);
        let e = load(&big).unwrap_err().to_string();
        assert!(e.contains("over protobuf's limit of 2 GiB"), "{e}");
        let small = dir.join("small.ir");
        std::fs::write(&small, "graph \"m\" {\n}\n").unwrap();
        let e = load_with(&small, &Limits::fixed(4))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("small.ir: the file is 14 B, over the 4 B budget set by --max-model-bytes"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_that_promise_another_format() {
        let dir = std::env::temp_dir().join(format!("snnc-load-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let nir = dir.join("model.nir");
        std::fs::write(&nir, b"not hdf5").unwrap();
        let e = load(&nir).unwrap_err().to_string();
        assert!(e.ends_with("model.nir: is not an HDF5 file (NIR models are HDF5: the file does not start with the HDF5 signature), nor ONNX or snnc IR text"), "{e}");
        // The content decides: an ONNX model named .nir still loads.
        let onnx =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/models/ann_mlp/ann_mlp.onnx");
        std::fs::copy(onnx, &nir).unwrap();
        assert!(load(&nir).is_ok());
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.ends_with("is a directory, not a model file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
