//! C spellings: the storage type of each dtype, exact literals, and the narrowest array type of
//! a parameter vector (flash is the scarce resource on a microcontroller).

use snnc_ir::DType;

use super::codegen;
use crate::arm::ArmError;

/// C type of one storage element of `d` (`bin`: one packed 32-bit word).
pub(crate) fn ctype(d: DType) -> &'static str {
    match d {
        DType::F32 => "float",
        DType::I8 => "int8_t",
        DType::U8 | DType::Bool => "uint8_t",
        DType::I16 => "int16_t",
        DType::U16 => "uint16_t",
        DType::I32 => "int32_t",
        DType::U32 | DType::Bin => "uint32_t",
        DType::I64 => "int64_t",
    }
}

/// Bytes of one storage element of `d` (`bin`: a word).
pub(crate) fn csize(d: DType) -> usize {
    match d {
        DType::I8 | DType::U8 | DType::Bool => 1,
        DType::I16 | DType::U16 => 2,
        DType::F32 | DType::I32 | DType::U32 | DType::Bin => 4,
        DType::I64 => 8,
    }
}

/// Inclusive value range of an integer dtype (`bool` 0..1).
pub(crate) fn int_range(d: DType) -> Option<(i64, i64)> {
    Some(match d {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::Bool => (0, 1),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I64 => (i64::MIN, i64::MAX),
        DType::F32 | DType::Bin => return None,
    })
}

/// An integer literal of value `v` that C reads with a type wide enough for it.
pub(crate) fn ilit(v: i64) -> String {
    if v == i64::MIN {
        "INT64_MIN".to_string()
    } else if v > i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
        v.to_string()
    } else if v == i64::from(i32::MIN) {
        "(-2147483647 - 1)".to_string()
    } else {
        format!("INT64_C({v})")
    }
}

/// An f32 literal that C parses back to exactly `v` (shortest round-trip decimal, `f` suffix).
pub(crate) fn flit(v: f32) -> Result<String, ArmError> {
    if !v.is_finite() {
        return Err(codegen(format!("non-finite constant {v} in a kernel")));
    }
    Ok(format!("{v:e}f"))
}

/// The narrowest signed (or unsigned, when all ≥ 0) C type holding every value.
pub(crate) fn narrowest(vals: &[i64]) -> (&'static str, usize) {
    let (lo, hi) = vals
        .iter()
        .fold((0i64, 0i64), |(l, h), &v| (l.min(v), h.max(v)));
    if lo >= 0 {
        if hi <= u8::MAX.into() {
            ("uint8_t", 1)
        } else if hi <= u16::MAX.into() {
            ("uint16_t", 2)
        } else if hi <= u32::MAX.into() {
            ("uint32_t", 4)
        } else {
            ("int64_t", 8)
        }
    } else if lo >= i8::MIN.into() && hi <= i8::MAX.into() {
        ("int8_t", 1)
    } else if lo >= i16::MIN.into() && hi <= i16::MAX.into() {
        ("int16_t", 2)
    } else if lo >= i32::MIN.into() && hi <= i32::MAX.into() {
        ("int32_t", 4)
    } else {
        ("int64_t", 8)
    }
}

/// A comma-separated initializer list, 16 items a line.
pub(crate) fn init_list(items: &[String]) -> String {
    let mut s = String::new();
    for (i, chunk) in items.chunks(16).enumerate() {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str("    ");
        s.push_str(&chunk.join(", "));
    }
    s
}

/// A per-channel (or per-neuron) parameter as kernel code reads it: a literal when all values
/// are equal, else an array in `weights.c`.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Lit(String),
    Array(String),
}

impl Param {
    /// The C expression of the parameter at index expression `idx`.
    pub(crate) fn at(&self, idx: &str) -> String {
        match self {
            Param::Lit(l) => l.clone(),
            Param::Array(name) => format!("{name}[{idx}]"),
        }
    }

    /// Whether every index reads the same literal.
    pub(crate) fn literal(&self) -> Option<&str> {
        match self {
            Param::Lit(l) => Some(l),
            Param::Array(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_exact() {
        assert_eq!(ilit(-2147483648), "(-2147483647 - 1)");
        assert_eq!(ilit(2147483648), "INT64_C(2147483648)");
        assert_eq!(ilit(-5), "-5");
        assert_eq!(flit(0.1).unwrap(), "1e-1f");
        assert_eq!(flit(-0.0).unwrap(), "-0e0f");
        assert_eq!(flit(1.2604949e-2).unwrap(), "1.2604949e-2f");
        assert!(flit(f32::INFINITY).is_err());
    }

    #[test]
    fn narrowest_types() {
        assert_eq!(narrowest(&[0, 255]), ("uint8_t", 1));
        assert_eq!(narrowest(&[-1, 127]), ("int8_t", 1));
        assert_eq!(narrowest(&[-129]), ("int16_t", 2));
        assert_eq!(narrowest(&[70000]), ("uint32_t", 4));
        assert_eq!(narrowest(&[-70000]), ("int32_t", 4));
        assert_eq!(narrowest(&[1 << 40]), ("int64_t", 8));
    }
}
