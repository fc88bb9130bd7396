//! The arguments of `quantize-snn`.

use crate::passes::{PassArgs, PassError};

/// What `quantize-snn=...` asked for, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Weight bits of layers fed by spikes (`w=`, 2..=16, default 8).
    pub w: u32,
    /// Weight bits of layers fed by a graph input (analog values; `first=`, 2..=16, default
    /// `max(w, 12)`): every weight of such a layer enters each neuron's current every step, so
    /// 8-bit rounding there moves many spike counts (docs/semantics.md §10.1), like the
    /// first-layer policy of binarized networks.
    pub first: u32,
    /// Width of the membrane register (`state=`, 8..=32, default 16).
    pub state: u32,
    /// Fraction bits of the decay factor (`frac=`, 1..=30, default 15: Q0.15).
    pub frac: u32,
    /// Bits of the quantized analog input (`in=`, 2..=16, default 8).
    pub input: u32,
    /// One weight scale per output neuron / channel (default) instead of one per layer.
    pub per_channel: bool,
    /// Absorb the mean quantization error of analog-input Gemm layers into their bias when
    /// calibration data is given (default on; `no-bias-correct` turns it off).
    pub bias_correct: bool,
}

impl Options {
    pub fn parse(pass: &str, a: &PassArgs) -> Result<Self, PassError> {
        a.check(
            &["per-channel", "per-tensor", "no-bias-correct"],
            &["w", "state", "frac", "first", "in"],
        )?;
        if a.has("per-channel") && a.has("per-tensor") {
            return Err(PassError::invalid(
                pass,
                "`per-channel` and `per-tensor` exclude each other",
            ));
        }
        let ranged = |key: &str, default: u32, lo: u32, hi: u32| -> Result<u32, PassError> {
            let v: u32 = a.get(key, default)?;
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(PassError::invalid(
                    pass,
                    format!("`{key}={v}` is outside {lo}..={hi}"),
                ))
            }
        };
        let w = ranged("w", 8, 2, 16)?;
        let opts = Options {
            w,
            first: ranged("first", w.max(12), 2, 16)?,
            state: ranged("state", 16, 8, 32)?,
            frac: ranged("frac", 15, 1, 30)?,
            input: ranged("in", 8, 2, 16)?,
            per_channel: !a.has("per-tensor"),
            bias_correct: !a.has("no-bias-correct"),
        };
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, PassError> {
        Options::parse("quantize-snn", &PassArgs::parse("quantize-snn", text)?)
    }

    #[test]
    fn defaults_and_values() {
        let o = parse("").unwrap();
        assert_eq!(
            o,
            Options {
                w: 8,
                first: 12,
                state: 16,
                frac: 15,
                input: 8,
                per_channel: true,
                bias_correct: true,
            }
        );
        let o = parse("w=4:state=32:frac=20:in=12:per-tensor:no-bias-correct").unwrap();
        assert_eq!(
            (o.w, o.first, o.state, o.frac, o.input),
            (4, 12, 32, 20, 12)
        );
        assert_eq!(parse("w=16").unwrap().first, 16);
        assert!(!o.per_channel && !o.bias_correct);
        assert_eq!(parse("first=12").unwrap().first, 12);
    }

    #[test]
    fn impossible_values_are_invalid() {
        for bad in [
            "w=0",
            "w=1",
            "w=17",
            "state=64",
            "state=4",
            "frac=0",
            "frac=31",
            "in=1",
            "in=17",
            "w=x",
            "bits=8",
            "int8",
            "per-channel:per-tensor",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, PassError::InvalidArgs { .. }), "{bad}: {e}");
        }
        assert!(parse("state=64")
            .unwrap_err()
            .to_string()
            .contains("8..=32"));
    }
}
