//! Op converters by family, and the table that maps an ONNX (domain, op type) to one.
//!
//! A converter reads its node's attributes and inputs, adds IR nodes through [`Ctx`], and says
//! what the node's first output stands for. Every other output must be unused.

mod constant;
mod conv;
mod elementwise;
mod linear;
mod padding;
mod pool;
mod quant;
mod shape;

use snnc_ir::NodeId;

use super::context::{Ctx, Node};
use super::proto::TensorProto;
use crate::ImportError;

/// What a converted node's first output stands for.
pub(crate) enum Out {
    /// An IR node.
    Node(NodeId),
    /// Another value, unchanged (Identity, Dropout).
    Alias(String),
    /// A constant (the `Constant` op); added to the graph when first used.
    Const(Box<TensorProto>),
    /// The op is known but this use of it cannot be imported; the text, read after the op type,
    /// says which variant ("of two computed tensors"). Reported with the unsupported ops.
    Unsupported(String),
}

/// A converter.
pub(crate) type Convert = fn(&mut Ctx, &mut Node) -> Result<Out, ImportError>;

/// Domains of the QONNX custom ops, current name first, then the names older exporters used.
pub(crate) const QONNX_DOMAINS: [&str; 3] = [
    "qonnx.custom_op.general",
    "finn.custom_op.general",
    "onnx.brevitas",
];

/// True for the default ONNX operator domain.
pub(crate) fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// The converter of an op, or `None` when snnc does not support it.
pub(crate) fn lookup(domain: &str, op_type: &str) -> Option<Convert> {
    if QONNX_DOMAINS.contains(&domain) {
        return match op_type {
            "Quant" | "IntQuant" => Some(quant::quant),
            "BipolarQuant" => Some(quant::bipolar_quant),
            "Trunc" => Some(quant::trunc),
            _ => None,
        };
    }
    if !is_default_domain(domain) {
        return None;
    }
    Some(match op_type {
        "Gemm" => linear::gemm,
        "MatMul" => linear::matmul,
        "Conv" => conv::conv,
        "MaxPool" => pool::max_pool,
        "AveragePool" => pool::average_pool,
        "GlobalAveragePool" => pool::global_average_pool,
        "GlobalMaxPool" => pool::global_max_pool,
        "Flatten" => shape::flatten,
        "Reshape" => shape::reshape,
        "Identity" => shape::identity,
        "Dropout" => shape::dropout,
        "Add" => elementwise::add,
        "Mul" => elementwise::mul,
        "Sub" => elementwise::sub,
        "Div" => elementwise::div,
        "Relu" => elementwise::relu,
        "Sign" => elementwise::sign,
        "Clip" => elementwise::clip,
        "BatchNormalization" => elementwise::batch_norm,
        "QuantizeLinear" => quant::quantize_linear,
        "DequantizeLinear" => quant::dequantize_linear,
        "Constant" => constant::constant,
        _ => return None,
    })
}
