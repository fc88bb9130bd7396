//! Frontends: model files in, verified [`snnc_ir::Graph`] out.
//!
//! The format is decided by the file's content, not its name: HDF5's signature means NIR, text
//! that starts with `graph` is snnc's own IR text, anything else is tried as ONNX protobuf.

pub mod limits;
pub mod nir;
pub mod onnx;
pub mod qdq_bias;

/// The model formats snnc reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Onnx,
    Nir,
    IrText,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "ONNX",
            Format::Nir => "NIR (HDF5)",
            Format::IrText => "snnc IR text",
        }
    }
}

const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// Guess the format from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Format {
    if head.starts_with(HDF5_SIGNATURE) {
        return Format::Nir;
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(256)]);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'));
    if first.is_some_and(|l| l.starts_with("graph ") || l.starts_with("graph\"")) {
        return Format::IrText;
    }
    Format::Onnx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(b"\x89HDF\r\n\x1a\n\0\0"), Format::Nir);
        assert_eq!(sniff(b"graph \"m\" {\n"), Format::IrText);
        assert_eq!(sniff(b"\n\n  graph \"m\" {\n"), Format::IrText);
        assert_eq!(sniff(b"\x08\x07\x12\x07pytorch"), Format::Onnx);
    }
}
