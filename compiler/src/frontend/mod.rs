//! Frontends: model files in, [`snnc_ir::Graph`] out.

pub mod nir;
pub mod onnx;
