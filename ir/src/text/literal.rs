//! Scalars and strings as the text form spells them.
//!
//! Finite floats use Rust's shortest round-trip formatting (`{:?}`), so parsing with
//! `str::parse` gives back the same bits, `-0.0` and subnormals included. Infinities are `inf` and
//! `-inf`. The canonical quiet NaN is `nan` (its negation `-nan`); any other NaN is written with
//! its exact bits, `nan:0x7fa00001`, so no payload is lost.

use std::fmt::Write;

const NAN_F32: u32 = 0x7fc0_0000;
const NEG_NAN_F32: u32 = 0xffc0_0000;
const NAN_F64: u64 = 0x7ff8_0000_0000_0000;
const NEG_NAN_F64: u64 = 0xfff8_0000_0000_0000;

/// Append `v` so that [`parse_f32`] returns the same bits.
pub(crate) fn write_f32(out: &mut String, v: f32) {
    if v.is_nan() {
        match v.to_bits() {
            NAN_F32 => out.push_str("nan"),
            NEG_NAN_F32 => out.push_str("-nan"),
            b => {
                let _ = write!(out, "nan:0x{b:08x}");
            }
        }
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// Append `v` so that [`parse_f64`] returns the same bits.
pub(crate) fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        match v.to_bits() {
            NAN_F64 => out.push_str("nan"),
            NEG_NAN_F64 => out.push_str("-nan"),
            b => {
                let _ = write!(out, "nan:0x{b:016x}");
            }
        }
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// The special spellings shared by both widths; `None` means "an ordinary decimal".
enum Special<'a> {
    Nan { negative: bool },
    Inf { negative: bool },
    Bits(&'a str),
}

fn special(text: &str) -> Option<Special<'_>> {
    let (negative, bare) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    match bare {
        "nan" => Some(Special::Nan { negative }),
        "inf" => Some(Special::Inf { negative }),
        _ => match bare.strip_prefix("nan:0x") {
            Some(hex) if !negative => Some(Special::Bits(hex)),
            _ => None,
        },
    }
}

/// A decimal the text form accepts: digits, `.`, an exponent. Rust's parser also takes words
/// such as `infinity` and `NaN`; the text form has one spelling for each value.
fn is_decimal(text: &str) -> bool {
    let body = text.trim_start_matches(['-', '+']);
    body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// Parse a float spelled as [`write_f32`] spells it.
pub(crate) fn parse_f32(text: &str) -> Option<f32> {
    match special(text) {
        Some(Special::Nan { negative }) => {
            Some(f32::from_bits(if negative { NEG_NAN_F32 } else { NAN_F32 }))
        }
        Some(Special::Inf { negative }) => Some(if negative {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        }),
        Some(Special::Bits(hex)) => u32::from_str_radix(hex, 16)
            .ok()
            .map(f32::from_bits)
            .filter(|v| v.is_nan()),
        None if is_decimal(text) => text.parse::<f32>().ok(),
        None => None,
    }
}

/// Parse a float spelled as [`write_f64`] spells it.
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    match special(text) {
        Some(Special::Nan { negative }) => {
            Some(f64::from_bits(if negative { NEG_NAN_F64 } else { NAN_F64 }))
        }
        Some(Special::Inf { negative }) => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Some(Special::Bits(hex)) => u64::from_str_radix(hex, 16)
            .ok()
            .map(f64::from_bits)
            .filter(|v| v.is_nan()),
        None if is_decimal(text) => text.parse::<f64>().ok(),
        None => None,
    }
}

/// Append `s` as a double-quoted string. Quotes, backslashes and control characters are escaped;
/// everything else (Unicode included) is written as is.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_round_trip(v: f32) -> String {
        let mut s = String::new();
        write_f32(&mut s, v);
        let back = parse_f32(&s).unwrap_or_else(|| panic!("`{s}` does not parse"));
        assert_eq!(back.to_bits(), v.to_bits(), "{s}");
        s
    }

    #[test]
    fn f32_spellings_round_trip_bit_exactly() {
        assert_eq!(f32_round_trip(0.1), "0.1");
        assert_eq!(f32_round_trip(1.0), "1.0");
        assert_eq!(f32_round_trip(-0.0), "-0.0");
        assert_eq!(f32_round_trip(f32::from_bits(1)), "1e-45");
        assert_eq!(f32_round_trip(f32::INFINITY), "inf");
        assert_eq!(f32_round_trip(f32::NEG_INFINITY), "-inf");
        assert_eq!(f32_round_trip(f32::NAN), "nan");
        assert_eq!(f32_round_trip(-f32::NAN), "-nan");
        assert_eq!(
            f32_round_trip(f32::from_bits(0x7fa0_0001)),
            "nan:0x7fa00001"
        );
        f32_round_trip(f32::MAX);
        f32_round_trip(f32::MIN_POSITIVE);
        f32_round_trip(f32::from_bits(0x007f_ffff));
        for bits in (0..u32::MAX).step_by(104_729) {
            f32_round_trip(f32::from_bits(bits));
        }
    }

    #[test]
    fn f64_spellings_round_trip_bit_exactly() {
        for v in [
            0.1f64,
            -0.0,
            1e300,
            f64::from_bits(1),
            f64::NAN,
            f64::from_bits(0xfff0_0000_0000_0001),
            f64::NEG_INFINITY,
            9_007_199_254_740_993.0,
        ] {
            let mut s = String::new();
            write_f64(&mut s, v);
            assert_eq!(parse_f64(&s).map(f64::to_bits), Some(v.to_bits()), "{s}");
        }
    }

    #[test]
    fn odd_spellings_are_rejected() {
        for s in [
            "NaN",
            "infinity",
            "nan:0x0",
            "nan:0x7fc00000ff",
            "-nan:0x7fc00001",
            "1.0x",
            "",
            "-",
        ] {
            assert_eq!(parse_f32(s).map(f32::to_bits), None, "{s}");
        }
        assert_eq!(parse_f32("3"), Some(3.0));
        assert_eq!(parse_f32("+2.5e1"), Some(25.0));
    }

    #[test]
    fn strings_escape_what_they_must() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{7}é/:");
        assert_eq!(s, r#""a\"b\\c\nd\u{7}é/:""#);
    }
}
