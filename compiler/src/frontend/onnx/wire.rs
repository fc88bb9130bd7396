//! A look at an ONNX file's protobuf wire format *before* it is decoded: how deep its messages
//! nest, how many nodes it has and how much memory decoding it would take.
//!
//! Decoding allocates per field, not per byte: a two-byte empty `initializer` entry becomes a
//! `TensorProto` of hundreds of bytes, a packed varint of one byte an 8-byte integer. A hostile
//! file of a few megabytes could make the decoder allocate gigabytes, so the estimate of this
//! pass is charged to the file's [`Budget`] first. The estimate never falls short of what the
//! decoder holds: messages the schema table below does not follow are charged as if every byte
//! of them started a new struct of the largest kind. Fields the schema does not have cost
//! nothing (the decoder skips them).
//!
//! Malformed wire data ends the scan of the message it is in; the decoder then reports it.

use std::mem::size_of;

use super::proto;
use crate::frontend::limits::{human, Budget, MAX_NODES, MAX_ONNX_DEPTH};

/// The messages whose fields are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    Dim,
    OpsetId,
    Entry,
}

impl Msg {
    /// Bytes of the decoded struct.
    fn size(self) -> u64 {
        (match self {
            Msg::Model => size_of::<proto::ModelProto>(),
            Msg::Graph => size_of::<proto::GraphProto>(),
            Msg::Node => size_of::<proto::NodeProto>(),
            Msg::Attribute => size_of::<proto::AttributeProto>(),
            Msg::Tensor => size_of::<proto::TensorProto>(),
            Msg::ValueInfo => size_of::<proto::ValueInfoProto>(),
            Msg::Type => size_of::<proto::TypeProto>(),
            Msg::TypeTensor => size_of::<proto::type_proto::Tensor>(),
            Msg::Shape => size_of::<proto::TensorShapeProto>(),
            Msg::Dim => size_of::<proto::tensor_shape_proto::Dimension>(),
            Msg::OpsetId => size_of::<proto::OperatorSetIdProto>(),
            Msg::Entry => size_of::<proto::StringStringEntryProto>(),
        }) as u64
    }
}

/// What one field of a message decodes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A message this pass follows.
    Sub(Msg),
    /// A message of a kind it does not follow (training info, functions, sparse tensors, ...).
    Opaque,
    Str,
    /// `bytes`: a slice of the file buffer, not a copy.
    Bytes,
    /// Repeated integers, packed as varints (one byte can be one 8-byte value).
    Varints,
    /// Repeated floats or doubles, packed (no larger decoded than encoded).
    Fixed,
    /// A singular number, stored inside its message.
    Scalar,
    /// Not in the schema: the decoder skips it.
    Skipped,
}

/// The schema of the fields snnc's decoder knows (`compiler/proto/onnx.proto`).
fn kind(m: Msg, field: u64) -> Kind {
    use Kind::*;
    match (m, field) {
        (Msg::Model, 7) => Sub(Msg::Graph),
        (Msg::Model, 8) => Sub(Msg::OpsetId),
        (Msg::Model, 14) => Sub(Msg::Entry),
        (Msg::Model, 2 | 3 | 4 | 6) => Str,
        (Msg::Model, 1 | 5) => Scalar,
        (Msg::Model, 20 | 25 | 26) => Opaque,

        (Msg::Graph, 1) => Sub(Msg::Node),
        (Msg::Graph, 5) => Sub(Msg::Tensor),
        (Msg::Graph, 11..=13) => Sub(Msg::ValueInfo),
        (Msg::Graph, 16) => Sub(Msg::Entry),
        (Msg::Graph, 2 | 10) => Str,
        (Msg::Graph, 14 | 15) => Opaque,

        (Msg::Node, 5) => Sub(Msg::Attribute),
        (Msg::Node, 9) => Sub(Msg::Entry),
        (Msg::Node, 1..=4 | 6..=8) => Str,
        (Msg::Node, 10) => Opaque,

        (Msg::Attribute, 5 | 10) => Sub(Msg::Tensor),
        (Msg::Attribute, 6 | 11) => Sub(Msg::Graph),
        (Msg::Attribute, 14 | 15) => Sub(Msg::Type),
        (Msg::Attribute, 1 | 13 | 21) => Str,
        (Msg::Attribute, 4 | 9) => Bytes,
        (Msg::Attribute, 7) => Fixed,
        (Msg::Attribute, 8) => Varints,
        (Msg::Attribute, 2 | 3 | 20) => Scalar,
        (Msg::Attribute, 22 | 23) => Opaque,

        (Msg::Tensor, 13 | 16) => Sub(Msg::Entry),
        (Msg::Tensor, 8 | 12) => Str,
        (Msg::Tensor, 6 | 9) => Bytes,
        (Msg::Tensor, 1 | 5 | 7 | 11) => Varints,
        (Msg::Tensor, 4 | 10) => Fixed,
        (Msg::Tensor, 2 | 14) => Scalar,
        (Msg::Tensor, 3) => Opaque,

        (Msg::ValueInfo, 2) => Sub(Msg::Type),
        (Msg::ValueInfo, 4) => Sub(Msg::Entry),
        (Msg::ValueInfo, 1 | 3) => Str,

        (Msg::Type, 1) => Sub(Msg::TypeTensor),
        (Msg::Type, 6) => Str,
        (Msg::Type, 4 | 5 | 7 | 8 | 9) => Opaque,

        (Msg::TypeTensor, 2) => Sub(Msg::Shape),
        (Msg::TypeTensor, 1) => Scalar,

        (Msg::Shape, 1) => Sub(Msg::Dim),

        (Msg::Dim, 2 | 3) => Str,
        (Msg::Dim, 1) => Scalar,

        (Msg::OpsetId, 1) => Str,
        (Msg::OpsetId, 2) => Scalar,

        (Msg::Entry, 1 | 2) => Str,

        _ => Skipped,
    }
}

/// Decoded bytes charged per encoded byte of a message this pass does not follow: every two
/// bytes can be an empty entry of a repeated field of the largest message type, in a `Vec` that
/// may have doubled.
fn opaque_per_byte() -> u64 {
    [
        size_of::<proto::ModelProto>(),
        size_of::<proto::GraphProto>(),
        size_of::<proto::NodeProto>(),
        size_of::<proto::AttributeProto>(),
        size_of::<proto::TensorProto>(),
        size_of::<proto::SparseTensorProto>(),
        size_of::<proto::TrainingInfoProto>(),
        size_of::<proto::FunctionProto>(),
        size_of::<proto::TypeProto>(),
        size_of::<proto::ValueInfoProto>(),
        size_of::<proto::TensorAnnotation>(),
        size_of::<proto::DeviceConfigurationProto>(),
        size_of::<proto::NodeDeviceConfigurationProto>(),
        size_of::<proto::ShardingSpecProto>(),
        size_of::<proto::ShardedDimProto>(),
        size_of::<proto::SimpleShardedDimProto>(),
        size_of::<proto::IntIntListEntryProto>(),
        size_of::<proto::tensor_proto::Segment>(),
    ]
    .into_iter()
    .max()
    .unwrap_or(1024) as u64
}

/// What the scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Estimated bytes the decoded model takes (never less than the decoder's allocations).
    pub bytes: u64,
    /// Nodes at all nesting levels (subgraphs included).
    pub nodes: usize,
}

/// Scan a whole `ModelProto`, check depth and node count, and charge the decode estimate to
/// `budget`. Errors are one-line reasons.
pub(crate) fn check(buf: &[u8], budget: &mut Budget) -> Result<Scan, String> {
    let mut scan = Scan {
        bytes: Msg::Model.size(),
        nodes: 0,
    };
    walk(buf, Msg::Model, 1, &mut scan)?;
    budget.charge(scan.bytes).map_err(|e| {
        format!(
            "decoding the protobuf would take about {}, {e}",
            human(scan.bytes)
        )
    })?;
    Ok(scan)
}

/// Reads a varint at `*pos`, advancing it; `None` at the end or on a malformed varint.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn walk(buf: &[u8], m: Msg, depth: usize, scan: &mut Scan) -> Result<(), String> {
    if depth > MAX_ONNX_DEPTH {
        return Err(format!(
            "protobuf messages nest deeper than {MAX_ONNX_DEPTH} levels"
        ));
    }
    let add = |scan: &mut Scan, n: u64| scan.bytes = scan.bytes.saturating_add(n);
    let mut pos = 0;
    while pos < buf.len() {
        let Some(tag) = varint(buf, &mut pos) else {
            return Ok(());
        };
        let (field, wire) = (tag >> 3, tag & 7);
        let k = kind(m, field);
        match wire {
            0 => {
                if varint(buf, &mut pos).is_none() {
                    return Ok(());
                }
                if matches!(k, Kind::Varints) {
                    add(scan, 16);
                }
            }
            1 | 5 => {
                pos = pos.saturating_add(if wire == 1 { 8 } else { 4 });
                if matches!(k, Kind::Fixed | Kind::Varints) {
                    add(scan, 16);
                }
            }
            2 => {
                let Some(len) = varint(buf, &mut pos) else {
                    return Ok(());
                };
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|e| *e <= buf.len());
                let Some(end) = end else {
                    return Ok(());
                };
                let payload = &buf[pos..end];
                pos = end;
                match k {
                    Kind::Sub(sub) => {
                        if sub == Msg::Node {
                            scan.nodes += 1;
                            if scan.nodes > MAX_NODES {
                                return Err(format!("the model has more than {MAX_NODES} nodes"));
                            }
                        }
                        add(scan, 2 * sub.size());
                        walk(payload, sub, depth + 1, scan)?;
                    }
                    Kind::Opaque => add(scan, len.saturating_mul(opaque_per_byte()).max(64)),
                    Kind::Str => add(scan, len.saturating_add(48)),
                    Kind::Bytes => add(scan, 64),
                    Kind::Varints => add(scan, len.saturating_mul(16)),
                    Kind::Fixed => add(scan, len.saturating_mul(2)),
                    Kind::Scalar | Kind::Skipped => {}
                }
            }
            // Groups (3, 4) are not ONNX, and 6, 7 are not wire types: the decoder rejects what
            // it cannot skip.
            _ => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::limits::Limits;
    use prost::Message;

    fn budget() -> Budget {
        Limits::default().budget_for(0)
    }

    fn push_varint(v: &mut Vec<u8>, mut n: u64) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                v.push(b);
                return;
            }
            v.push(b | 0x80);
        }
    }

    /// Field `field` with wire type LEN holding `payload`.
    fn len_field(field: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        push_varint(&mut v, (field << 3) | 2);
        push_varint(&mut v, payload.len() as u64);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn a_real_model_is_estimated_above_what_it_decodes_to() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/models/qcnn_int8/qcnn_int8.qcdq.onnx"
        );
        let bytes = std::fs::read(path).unwrap();
        let scan = check(&bytes, &mut budget()).unwrap();
        let m = proto::ModelProto::decode(bytes.as_slice()).unwrap();
        let g = m.graph.unwrap();
        assert_eq!(scan.nodes, g.node.len());
        let lower = (g.node.len() * size_of::<proto::NodeProto>()
            + g.initializer.len() * size_of::<proto::TensorProto>()) as u64;
        assert!(scan.bytes > lower, "{} <= {lower}", scan.bytes);
        // Raw weights are shared with the file buffer, not counted.
        assert!(
            scan.bytes < 4 * bytes.len() as u64 + (1 << 20),
            "{}",
            scan.bytes
        );
    }

    #[test]
    fn empty_entries_are_charged_per_struct_before_decoding() {
        // A graph of a million empty initializers: 2 MB on disk, hundreds of MB decoded.
        let graph: Vec<u8> = [(5u8 << 3) | 2, 0].repeat(1_000_000);
        let model = len_field(7, &graph);
        let e = check(&model, &mut budget()).unwrap_err();
        assert!(
            e.starts_with("decoding the protobuf would take about "),
            "{e}"
        );
        assert!(e.contains("over the 256.0 MiB budget"), "{e}");
        // The same file under a budget it fits.
        let mut big = Limits::fixed(8 << 30).budget_for(0);
        let scan = check(&model, &mut big).unwrap();
        assert!(scan.bytes >= 1_000_000 * size_of::<proto::TensorProto>() as u64);
    }

    #[test]
    fn nodes_are_counted_at_every_level() {
        let node = len_field(1, &[]);
        let graph = node.repeat(MAX_NODES + 1);
        let model = len_field(7, &graph);
        let mut b = Limits::fixed(u64::MAX).budget_for(0);
        let e = check(&model, &mut b).unwrap_err();
        assert_eq!(e, format!("the model has more than {MAX_NODES} nodes"));
    }

    #[test]
    fn nesting_is_limited() {
        // graph { node { attribute { g { node { attribute { g ... } } } } } }
        let mut inner = Vec::new();
        for _ in 0..20 {
            let attr = len_field(6, &inner);
            let node = len_field(5, &attr);
            inner = len_field(1, &node);
        }
        let model = len_field(7, &inner);
        let e = check(&model, &mut budget()).unwrap_err();
        assert_eq!(
            e,
            format!("protobuf messages nest deeper than {MAX_ONNX_DEPTH} levels")
        );
        // The decoder itself would have stopped at 100 levels with a less helpful message.
        assert!(proto::ModelProto::decode(model.as_slice()).is_ok());
    }

    #[test]
    fn opaque_messages_are_charged_as_the_worst_case() {
        // training_info (20) of 1 MB.
        let payload = vec![0u8; 1 << 20];
        let model = len_field(20, &payload);
        assert!(check(&model, &mut budget()).is_err());
        // Unknown field numbers are skipped by the decoder and cost nothing.
        let model = len_field(15, &payload);
        let scan = check(&model, &mut budget()).unwrap();
        assert_eq!(scan.bytes, Msg::Model.size());
    }

    #[test]
    fn malformed_data_stops_the_scan_without_error() {
        for bad in [&[0x3a, 0xff][..], &[0x3a, 0x05, 0x01], &[0xff; 12], &[0x0b]] {
            assert!(check(bad, &mut budget()).is_ok(), "{bad:?}");
        }
    }
}
