//! The ONNX protobuf messages, generated at build time from `compiler/proto/onnx.proto` (see
//! `compiler/build.rs`). Bytes fields are `bytes::Bytes`, sharing the model file's buffer.

#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
