//! Builders for small hand-made ONNX models used by the frontend's tests.

use std::path::Path;

use bytes::Bytes;
use prost::Message;
use snnc_ir::{Graph, Op};

use super::proto::attribute_proto::AttributeType;
use super::proto::tensor_proto::DataType;
use super::proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use crate::ImportError;

pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

pub fn attr_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

/// A default-domain node.
pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A node of another domain.
pub fn domain_node(
    domain: &str,
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> NodeProto {
    NodeProto {
        domain: domain.into(),
        ..node(op, name, inputs, outputs, vec![])
    }
}

/// A float tensor stored as little-endian `raw_data`.
pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: raw.into(),
        ..Default::default()
    }
}

/// An int64 tensor in `int64_data`.
pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

/// An int8/uint8/... tensor in `int32_data`.
pub fn int_tensor(name: &str, dt: DataType, dims: &[i64], data: &[i32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dt as i32,
        int32_data: data.to_vec(),
        ..Default::default()
    }
}

/// A float tensor whose data lives in `location` at `offset`.
pub fn external_tensor(
    name: &str,
    dims: &[i64],
    location: &str,
    offset: u64,
    length: u64,
) -> TensorProto {
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        data_location: super::proto::tensor_proto::DataLocation::External as i32,
        external_data: vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        ..Default::default()
    }
}

/// A tensor value; a negative dim becomes the symbolic dimension `batch`.
pub fn value(name: &str, dt: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(if d < 0 {
                tensor_shape_proto::dimension::Value::DimParam("batch".into())
            } else {
                tensor_shape_proto::dimension::Value::DimValue(d)
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: dt as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A float tensor value.
pub fn fvalue(name: &str, dims: &[i64]) -> ValueInfoProto {
    value(name, DataType::Float, dims)
}

/// A model of the default domain at `opset` (plus the QONNX domain).
pub fn model(
    opset: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            },
            OperatorSetIdProto {
                domain: "qonnx.custom_op.general".into(),
                version: 1,
            },
        ],
        graph: Some(GraphProto {
            name: "test".into(),
            node: nodes,
            initializer: inits,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn encode(m: &ModelProto) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

/// Import a model as if read from `dir/test.onnx`.
pub fn import_in(m: &ModelProto, dir: &Path) -> Result<Graph, ImportError> {
    super::import_bytes(encode(m), &dir.join("test.onnx"))
}

pub fn import(m: &ModelProto) -> Result<Graph, ImportError> {
    import_in(m, Path::new("."))
}

/// `name op [shape]` per node in id order: the op sequence and shapes a test asserts.
pub fn summary(g: &Graph) -> Vec<String> {
    g.node_ids()
        .into_iter()
        .map(|id| {
            let n = g.node(id);
            let ty = n.ty.as_ref().map(|t| t.to_string()).unwrap_or_default();
            format!("{} {} {ty}", n.name, n.op.name())
        })
        .collect()
}

/// The op of the node named `name`.
pub fn op_of<'g>(g: &'g Graph, name: &str) -> &'g Op {
    let id = g
        .node_ids()
        .into_iter()
        .find(|id| g.node(*id).name == name)
        .unwrap_or_else(|| panic!("no node `{name}` in {:?}", summary(g)));
    &g.node(id).op
}

/// A fresh, empty scratch directory for one test.
pub fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("snnc-onnx-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
