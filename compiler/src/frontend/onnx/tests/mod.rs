//! Tests of the ONNX frontend: the shared models, files written by the `onnx` package, and
//! hand-built models for each rule and error.

mod errors;
mod limits;
mod models;
mod ops;

use std::path::PathBuf;

use snnc_ir::Op;

use super::proto::{ModelProto, NodeProto};
use super::test_models::*;
use crate::ImportError;

pub(super) fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/models")
        .join(rel)
}

pub(super) fn unsupported(e: ImportError) -> Vec<(String, String)> {
    match e {
        ImportError::Unsupported { ops, .. } => ops,
        other => panic!("expected Unsupported, got {other}"),
    }
}

pub(super) fn const_f32<'g>(g: &'g snnc_ir::Graph, name: &str) -> &'g [f32] {
    match op_of(g, name) {
        Op::Const(t) => t.as_f32().expect("float constant"),
        other => panic!("`{name}` is {other:?}"),
    }
}

/// x[batch,4] → Gemm(w[3,4]) → h → (extra nodes) ; output `out`.
pub(super) fn mlp_with(extra: Vec<NodeProto>, out: &str, out_dims: &[i64]) -> ModelProto {
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
    let mut nodes = vec![node(
        "Gemm",
        "fc",
        &["x", "w"],
        &["h"],
        vec![attr_int("transB", 1)],
    )];
    nodes.extend(extra);
    model(
        17,
        nodes,
        vec![f32_tensor("w", &[3, 4], &w)],
        vec![fvalue("x", &[-1, 4])],
        vec![fvalue(out, out_dims)],
    )
}
