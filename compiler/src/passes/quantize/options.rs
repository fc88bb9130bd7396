//! The arguments of the `quantize` pass:
//! `quantize=[intN]:[per-channel|per-tensor]:[sym|asym]:[calib=minmax|percentile]:[pct=P]:[act-bits=B]`.
//!
//! - `intN`: weight bits, 2 ≤ N ≤ 8 (default `int8`; `int4` stores values in `[−7, 7]` in i8).
//! - `per-channel` (default) or `per-tensor` weight scales.
//! - `sym` (default) or `asym` activations; weights are always symmetric (see [`super::scale`]).
//! - `calib=minmax` (default) or `calib=percentile` with `pct` in (50, 100] (default 99.99).
//! - `act-bits=B`, 2 ≤ B ≤ 16 (default 8).

use super::calibration::Method;
use super::scale::ActScheme;
use crate::passes::{PassArgs, PassError};

/// Parsed `quantize` options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantizeOptions {
    pub weight_bits: u8,
    pub per_channel: bool,
    pub act: ActScheme,
    pub method: Method,
    pub act_bits: u8,
}

/// The usage line of `snnc passes`.
pub const USAGE: &str = "quantize[=int8|int4|intN:per-channel|per-tensor:sym|asym:calib=minmax|percentile:pct=99.99:act-bits=8]   N in 2..8, act-bits in 2..16 (needs --calib FILE.npy)";

const WORDS: [&str; 4] = ["per-channel", "per-tensor", "sym", "asym"];
const KEYS: [&str; 3] = ["calib", "pct", "act-bits"];

/// Parse and check the arguments; every impossible combination is an `InvalidArgs` error.
pub fn parse(args: &PassArgs) -> Result<QuantizeOptions, PassError> {
    let pass = args.pass();
    let bad = |reason: String| PassError::invalid(pass, reason);
    let int_words: Vec<&String> = args
        .words
        .iter()
        .filter(|w| w.starts_with("int") && !WORDS.contains(&w.as_str()))
        .collect();
    let weight_bits = match int_words.as_slice() {
        [] => 8,
        [w] => {
            let bits: u32 = w[3..]
                .parse()
                .map_err(|_| bad(format!("`{w}` is not a weight width (use int8, int4, ...)")))?;
            if !(2..=8).contains(&bits) {
                return Err(bad(format!(
                    "`{w}`: weights can have 2 to 8 bits (int2 .. int8)"
                )));
            }
            bits as u8
        }
        more => {
            let list: Vec<&str> = more.iter().map(|s| s.as_str()).collect();
            return Err(bad(format!(
                "give one weight width, not {}",
                list.join(" and ")
            )));
        }
    };
    let mut allowed: Vec<&str> = WORDS.to_vec();
    allowed.extend(int_words.iter().map(|s| s.as_str()));
    args.check(&allowed, &KEYS)?;
    let exclusive = |a: &str, b: &str| {
        if args.has(a) && args.has(b) {
            Err(bad(format!("`{a}` and `{b}` exclude each other")))
        } else {
            Ok(())
        }
    };
    exclusive("per-channel", "per-tensor")?;
    exclusive("sym", "asym")?;
    let method = match args.values.get("calib").map(String::as_str) {
        None | Some("minmax") => {
            if args.values.contains_key("pct") {
                return Err(bad("`pct` needs calib=percentile".into()));
            }
            Method::MinMax
        }
        Some("percentile") => {
            let p: f64 = args.get("pct", 99.99)?;
            if !(p > 50.0 && p <= 100.0) {
                return Err(bad(format!("pct={p} must lie in (50, 100]")));
            }
            Method::Percentile(p)
        }
        Some(other) => {
            return Err(bad(format!(
                "calib={other}: expected calib=minmax or calib=percentile"
            )))
        }
    };
    let act_bits: u32 = args.get("act-bits", 8)?;
    if !(2..=16).contains(&act_bits) {
        return Err(bad(format!(
            "act-bits={act_bits}: activations can have 2 to 16 bits"
        )));
    }
    Ok(QuantizeOptions {
        weight_bits,
        per_channel: !args.has("per-tensor"),
        act: if args.has("asym") {
            ActScheme::Asym
        } else {
            ActScheme::Sym
        },
        method,
        act_bits: act_bits as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<QuantizeOptions, PassError> {
        parse(&PassArgs::parse("quantize", text).unwrap())
    }

    #[test]
    fn defaults_and_choices() {
        let o = p("").unwrap();
        assert_eq!(
            o,
            QuantizeOptions {
                weight_bits: 8,
                per_channel: true,
                act: ActScheme::Sym,
                method: Method::MinMax,
                act_bits: 8
            }
        );
        let o = p("int4:per-tensor:asym:calib=percentile:pct=99.9:act-bits=16").unwrap();
        assert_eq!(o.weight_bits, 4);
        assert!(!o.per_channel);
        assert_eq!(o.act, ActScheme::Asym);
        assert_eq!(o.method, Method::Percentile(99.9));
        assert_eq!(o.act_bits, 16);
        assert_eq!(
            p("calib=percentile").unwrap().method,
            Method::Percentile(99.99)
        );
    }

    #[test]
    fn impossible_options_are_errors() {
        for (text, want) in [
            ("int0", "`int0`: weights can have 2 to 8 bits"),
            ("int1", "`int1`: weights can have 2 to 8 bits"),
            ("int9", "`int9`: weights can have 2 to 8 bits"),
            ("int33", "`int33`: weights can have 2 to 8 bits"),
            ("intx", "`intx` is not a weight width"),
            ("int8:int4", "give one weight width, not int8 and int4"),
            ("per-channel:per-tensor", "exclude each other"),
            ("sym:asym", "exclude each other"),
            ("calib=median", "calib=median: expected"),
            ("pct=99", "`pct` needs calib=percentile"),
            ("calib=percentile:pct=120", "pct=120 must lie in (50, 100]"),
            ("calib=percentile:pct=abc", "`pct=abc` is not valid"),
            ("act-bits=1", "act-bits=1"),
            ("act-bits=32", "act-bits=32"),
            ("int8:fast", "unknown argument `fast`"),
            ("bits=8", "unknown option `bits`"),
        ] {
            let e = p(text).unwrap_err();
            assert!(matches!(e, PassError::InvalidArgs { .. }), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }
}
