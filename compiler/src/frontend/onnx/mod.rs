//! ONNX frontend: a `.onnx` file (standard ops of opsets 13–21, plus the QONNX custom ops) in,
//! an IR [`Graph`] out.
//!
//! The import runs in stages:
//! 0. scan the protobuf's wire format (`wire.rs`): nesting depth, node count and the memory the
//!    decoded model would take are checked against the file's [`Limits`] before decoding;
//! 1. decode the protobuf straight from one buffer holding the file (`raw_data` fields are
//!    slices of it, not copies) and check the default-domain opset;
//! 2. list every op without a converter; if there is any, report them all in one
//!    [`ImportError::Unsupported`];
//! 3. register initializers as pending constants and the remaining graph inputs as IR inputs
//!    (an initializer also listed as a graph input is a constant, as ONNX defines it);
//! 4. convert the nodes in file order, each through the converter of its op (`ops/`); IR type
//!    inference runs as each node is added and reports shape mismatches with the node's name;
//! 5. add the graph outputs.
//!
//! Symbolic dimensions (`dim_param`, or a 0/missing `dim_value`) are fixed to 1: snnc compiles
//! for one sample at a time. Double tensors and inputs are narrowed to f32 (the IR's only float
//! type); a finite double beyond f32's range is an error rather than an infinity. Node names are the ONNX node names (the first output's name for an
//! unnamed node), made unique; constants are named after their initializer.

mod attrs;
mod context;
mod ops;
pub mod proto;
mod tensor;
#[cfg(test)]
mod test_models;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

use std::collections::BTreeSet;
use std::path::Path;

use bytes::Bytes;
use prost::Message;
use snnc_ir::{Graph, TensorType};

use context::{Ctx, Node, Pending, Value};
use ops::{is_default_domain, lookup, Out};
use proto::type_proto;
use proto::{GraphProto, ModelProto, NodeProto, ValueInfoProto};

use crate::frontend::limits::{Budget, Limits};
use crate::ImportError;

/// The default-domain opsets snnc reads.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

/// Import the ONNX model at `path` under the default [`Limits`]. External data files are looked
/// up next to it.
pub fn import(path: &Path) -> Result<Graph, ImportError> {
    import_with(path, &Limits::default())
}

/// The largest protobuf message there is (2 GiB): larger ONNX models keep their weights in
/// external data files.
pub const MAX_PROTOBUF_BYTES: u64 = (2 << 30) - 1;

/// Import the ONNX model at `path` under `limits`. The file's size is checked before it is read:
/// no valid ONNX file is larger than [`MAX_PROTOBUF_BYTES`].
pub fn import_with(path: &Path, limits: &Limits) -> Result<Graph, ImportError> {
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_PROTOBUF_BYTES {
        return Err(ImportError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "the file is {} bytes, over protobuf's limit of 2 GiB: an ONNX file this large is not valid (large models keep their weights in external data)",
                len
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    import_bytes_with(Bytes::from(bytes), path, limits)
}

/// Import a model already in memory under the default [`Limits`]. `path` is used in messages
/// and as the base for external data locations (its parent directory). The buffer is shared,
/// not copied, by the decoded tensors, and released once the last of them has been converted.
pub fn import_bytes(bytes: Bytes, path: &Path) -> Result<Graph, ImportError> {
    import_bytes_with(bytes, path, &Limits::default())
}

/// [`import_bytes`] under `limits`: the decoded protobuf, every tensor and the external data
/// read are charged to one budget for the file before they are allocated.
pub fn import_bytes_with(bytes: Bytes, path: &Path, limits: &Limits) -> Result<Graph, ImportError> {
    let format = |reason: String| ImportError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut budget = limits.budget_for(bytes.len() as u64);
    wire::check(&bytes, &mut budget).map_err(&format)?;
    let model =
        ModelProto::decode(bytes).map_err(|e| format(format!("not a valid ONNX model: {e}")))?;
    let ModelProto {
        graph,
        opset_import,
        ..
    } = model;
    let graph = graph.ok_or_else(|| format("not a valid ONNX model: it has no graph".into()))?;
    check_opsets(&opset_import, &graph).map_err(format)?;
    let mut g = convert_graph(graph, path, budget)?;
    // QDQ semantics: the bias of an integer Conv/Gemm lives in the int32 accumulator.
    crate::frontend::qdq_bias::quantize_qdq_biases(&mut g).map_err(|e| ImportError::ir(path, e))?;
    Ok(g)
}

/// The default-domain opset must be one of [`OPSETS`].
fn check_opsets(imports: &[proto::OperatorSetIdProto], graph: &GraphProto) -> Result<(), String> {
    let default = imports.iter().find(|o| is_default_domain(&o.domain));
    match default.map(|o| o.version) {
        Some(v) if OPSETS.contains(&v) => Ok(()),
        Some(v) => Err(format!(
            "opset {v} of the default ONNX domain is not supported: snnc reads opsets {} to {} (convert the model with onnx.version_converter)",
            OPSETS.start(),
            OPSETS.end()
        )),
        None if graph
            .node
            .iter()
            .any(|n| is_default_domain(&n.domain)) =>
        {
            Err("the model uses standard ONNX ops but imports no opset of the default domain".into())
        }
        None => Ok(()),
    }
}

/// The name a node is reported under: its own, else its first output's, else `<op>_<index>`.
fn node_name(n: &NodeProto, index: usize) -> String {
    if !n.name.is_empty() {
        return n.name.clone();
    }
    if let Some(out) = n.output.iter().find(|s| !s.is_empty()) {
        return out.clone();
    }
    format!("{}_{index}", n.op_type)
}

/// How an op is shown in the unsupported-op report: `Hardmax`, or `com.example.Fancy` outside
/// the default domain.
fn op_label(n: &NodeProto) -> String {
    if is_default_domain(&n.domain) {
        n.op_type.clone()
    } else {
        format!("{}.{}", n.domain, n.op_type)
    }
}

fn convert_graph(mut g: GraphProto, path: &Path, budget: Budget) -> Result<Graph, ImportError> {
    let format = |reason: String| ImportError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let nodes = std::mem::take(&mut g.node);
    let unknown: Vec<(String, String)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| lookup(&n.domain, &n.op_type).is_none())
        .map(|(i, n)| (node_name(n, i), op_label(n)))
        .collect();
    if !unknown.is_empty() {
        return Err(ImportError::Unsupported {
            path: path.to_path_buf(),
            ops: unknown,
        });
    }
    if !g.sparse_initializer.is_empty() {
        return Err(format("sparse initializers are not supported".into()));
    }

    let name = match g.name.as_str() {
        "" => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into()),
        n => n.to_string(),
    };
    let mut cx = Ctx::new(path, name, budget);

    let mut constants = BTreeSet::new();
    for t in std::mem::take(&mut g.initializer) {
        let name = t.name.clone();
        if name.is_empty() {
            return Err(format("an initializer has no name".into()));
        }
        constants.insert(name.clone());
        let v = Value::Const {
            name: name.clone(),
            data: Pending::Proto(Box::new(t)),
        };
        cx.define(&name, v)
            .map_err(|r| format(format!("initializer: {r}")))?;
    }
    for vi in &g.input {
        let name = vi.name.as_str();
        if constants.contains(name) {
            continue;
        }
        let ty = input_type(vi).map_err(|r| format(format!("graph input `{name}`: {r}")))?;
        cx.add_input(name, ty)
            .map_err(|r| format(format!("graph input: {r}")))?;
    }

    let consumed: BTreeSet<String> = nodes
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(g.output.iter().map(|o| &o.name))
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();

    let mut unsupported = Vec::new();
    for (i, proto) in nodes.into_iter().enumerate() {
        let mut n = Node {
            name: node_name(&proto, i),
            op_type: proto.op_type.clone(),
            path: path.to_path_buf(),
            proto,
        };
        let poisoned = n
            .proto
            .input
            .iter()
            .any(|v| !v.is_empty() && cx.is_poisoned(v));
        let out = if poisoned {
            None
        } else {
            let convert =
                lookup(&n.proto.domain, &n.op_type).ok_or_else(|| n.err("no converter"))?;
            Some(convert(&mut cx, &mut n)?)
        };
        define_outputs(&mut cx, &n, out, &consumed, &mut unsupported)?;
    }

    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported {
            path: path.to_path_buf(),
            ops: unsupported,
        });
    }
    // Without unsupported nodes nothing is poisoned: every output is defined or an error.
    for vi in &g.output {
        cx.add_output(&vi.name)?;
    }
    Ok(cx.graph)
}

/// Bind the node's outputs: the first to what the converter produced (or to poison), the others
/// must be unused.
fn define_outputs(
    cx: &mut Ctx,
    n: &Node,
    out: Option<Out>,
    consumed: &BTreeSet<String>,
    unsupported: &mut Vec<(String, String)>,
) -> Result<(), ImportError> {
    let outputs = &n.proto.output;
    let first = outputs.first().filter(|s| !s.is_empty());
    let value = match out {
        None => Value::Poisoned,
        Some(Out::Node(id)) => Value::Node(id),
        Some(Out::Alias(src)) => {
            // Aliases point at what their source finally stands for, so chains of Identity
            // nodes resolve in one step.
            let Some(target) = cx.canonical(&src) else {
                return Err(n.err(format!(
                    "input `{src}` is not produced by any earlier node, initializer or graph input"
                )));
            };
            Value::Alias(target)
        }
        Some(Out::Const(p)) => Value::Const {
            name: n.name.clone(),
            data: Pending::Proto(p),
        },
        Some(Out::Unsupported(what)) => {
            unsupported.push((n.name.clone(), format!("{} {what}", n.op_type)));
            Value::Poisoned
        }
    };
    let poisoned = matches!(value, Value::Poisoned);
    if let Some(first) = first {
        cx.define(first, value).map_err(|r| n.err(r))?;
    }
    for (i, o) in outputs.iter().enumerate().skip(1) {
        if o.is_empty() {
            continue;
        }
        if poisoned {
            cx.define(o, Value::Poisoned).map_err(|r| n.err(r))?;
        } else if consumed.contains(o) {
            return Err(n.err(format!(
                "output {i} (`{o}`) is used, but snnc imports only the first output of {}",
                n.op_type
            )));
        }
    }
    Ok(())
}

/// The IR type of a graph input: element type and shape, symbolic dims fixed to 1.
fn input_type(vi: &ValueInfoProto) -> Result<TensorType, String> {
    let t = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        Some(_) => return Err("only tensor inputs are supported".into()),
        None => return Err("has no type".into()),
    };
    let elem = tensor::elem_type(t.elem_type)?;
    let shape = t
        .shape
        .as_ref()
        .ok_or("has no shape (snnc needs at least its rank)")?;
    // 0 and -1 are what exporters write for a dimension they do not know; other negative
    // values are corrupt.
    let dims: Vec<usize> = shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match d.value {
            Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => {
                Ok(usize::try_from(v).unwrap_or(usize::MAX))
            }
            Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if v < -1 => {
                Err(format!(
                    "dimension {i} is {v}; a dimension is a size (or -1 / a name when unknown)"
                ))
            }
            _ => Ok(1),
        })
        .collect::<Result<_, String>>()?;
    if dims
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .is_none()
    {
        return Err(format!("shape {dims:?} overflows the element count"));
    }
    Ok(TensorType::new(elem.dtype(), dims))
}
