//! Generates the ONNX protobuf types (`onnx.rs` in `OUT_DIR`) from `proto/onnx.proto` with
//! prost-build. protox compiles the schema in pure Rust, so building snnc needs no `protoc`.
//!
//! The schema is compiled in its proto3 form, which ONNX itself publishes as `onnx.proto3` and
//! derives the same way (syntax line changed, `optional` labels dropped): the wire format is the
//! same, and the generated structs get plain fields (`name: String`, `data_type: i32`) instead of
//! `Option`s, which is what code building models by hand (tests, the import benchmark) expects.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let schema = std::fs::read_to_string("proto/onnx.proto")?;
    std::fs::write(out.join("onnx.proto"), to_proto3(&schema))?;
    let fds = protox::compile([out.join("onnx.proto")], [&out])?;
    let mut config = prost_build::Config::new();
    // `bytes` fields (TensorProto.raw_data above all) become `bytes::Bytes`: decoding from a
    // `Bytes` buffer then slices the file buffer instead of copying every weight.
    config.bytes(["."]);
    config.compile_fds(fds)?;
    Ok(())
}

/// The proto3 form of the proto2 ONNX schema.
fn to_proto3(schema: &str) -> String {
    let mut out = String::with_capacity(schema.len());
    for line in schema.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("syntax = \"proto2\"") {
            out.push_str("syntax = \"proto3\";");
        } else if let Some(rest) = trimmed.strip_prefix("optional ") {
            out.push_str(indent);
            out.push_str(rest);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
