//! Element types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The element type of a tensor.
///
/// Floats are single precision only: NIR files that store f64 are narrowed on import, since no
/// target of snnc computes in double precision. Integer types are stored widened to `i64` in
/// [`crate::Tensor`]; the dtype states the range every value is guaranteed to lie in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum DType {
    F32,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    Bool,
    /// Binary ±1 values (stored as −1/+1 by the interpreter). Targets pack them LSB-first along
    /// the reduction axis into 32-bit words, bit 1 meaning −1 (DESIGN.md §4).
    Bin,
}

impl DType {
    /// Every dtype, in the order used by the text form.
    pub const ALL: [DType; 10] = [
        DType::F32,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::Bool,
        DType::Bin,
    ];

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32)
    }

    pub fn is_int(self) -> bool {
        !self.is_float()
    }

    /// Inclusive value range of an integer dtype (`None` for floats).
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::F32 => return None,
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            DType::U16 => (0, u16::MAX as i64),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::U32 => (0, u32::MAX as i64),
            DType::I64 => (i64::MIN, i64::MAX),
            DType::Bool => (0, 1),
            DType::Bin => (-1, 1),
        })
    }

    /// Size of one element in bytes as stored by a target (not by the interpreter).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::Bin => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::I64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::Bool => "bool",
            DType::Bin => "bin",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown element type `{s}`"))
    }
}
