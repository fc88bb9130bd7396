//! The arguments of `binarize`: which tensors of float layers become ±1, the policy for the
//! first and last layers, and the padding value of binary convolutions.

use crate::passes::{PassArgs, PassError};

/// What happens to the first or the last layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerPolicy {
    /// Keep it in higher precision (the usual BNN practice): the first layer's weights and input,
    /// the last layer's weights and arithmetic.
    Keep,
    /// Binarize it like every other layer.
    Bin,
}

/// Parsed `binarize` arguments (`binarize=weights:acts:first=keep:last=keep:pad=0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Binarize the float weights of binarized layers (sign, scale `mean|W|` per channel).
    pub weights: bool,
    /// Binarize the float input activations of binarized layers (sign of the pre-activation).
    pub acts: bool,
    pub first: LayerPolicy,
    pub last: LayerPolicy,
    /// The value binary convolutions pad their ±1 input with: −1, +1 or 0.
    pub pad: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            weights: true,
            acts: true,
            first: LayerPolicy::Keep,
            last: LayerPolicy::Keep,
            pad: 0,
        }
    }
}

/// The argument words and keys `binarize` accepts.
pub const WORDS: &[&str] = &["weights", "acts"];
pub const KEYS: &[&str] = &["first", "last", "pad"];

impl Options {
    /// Parse and check the arguments; a misspelt word or a value outside its set is an error.
    /// Neither `weights` nor `acts` given means both.
    pub fn parse(a: &PassArgs) -> Result<Self, PassError> {
        a.check(WORDS, KEYS)?;
        let (w, x) = (a.has("weights"), a.has("acts"));
        let both = !w && !x;
        Ok(Options {
            weights: w || both,
            acts: x || both,
            first: policy(a, "first")?,
            last: policy(a, "last")?,
            pad: pad_value(a)?,
        })
    }
}

fn policy(a: &PassArgs, key: &str) -> Result<LayerPolicy, PassError> {
    match a.values.get(key).map(String::as_str) {
        None | Some("keep") => Ok(LayerPolicy::Keep),
        Some("bin") => Ok(LayerPolicy::Bin),
        Some(v) => Err(PassError::invalid(
            a.pass(),
            format!("`{key}={v}` is not valid (expected `{key}=keep` or `{key}=bin`)"),
        )),
    }
}

fn pad_value(a: &PassArgs) -> Result<i64, PassError> {
    match a.values.get("pad").map(String::as_str) {
        None | Some("0") => Ok(0),
        Some("1") | Some("+1") => Ok(1),
        Some("-1") => Ok(-1),
        Some(v) => Err(PassError::invalid(
            a.pass(),
            format!("`pad={v}` is not valid (expected pad=-1, pad=+1 or pad=0)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, PassError> {
        Options::parse(&PassArgs::parse("binarize", text).unwrap())
    }

    #[test]
    fn defaults_binarize_both_and_keep_first_and_last() {
        let o = parse("").unwrap();
        assert_eq!(o, Options::default());
        assert!(o.weights && o.acts);
        assert_eq!(
            (o.first, o.last, o.pad),
            (LayerPolicy::Keep, LayerPolicy::Keep, 0)
        );
    }

    #[test]
    fn words_and_keys() {
        let o = parse("weights:first=bin:last=bin:pad=-1").unwrap();
        assert!(o.weights && !o.acts);
        assert_eq!(
            (o.first, o.last, o.pad),
            (LayerPolicy::Bin, LayerPolicy::Bin, -1)
        );
        assert!(!parse("acts").unwrap().weights);
        assert_eq!(parse("pad=+1").unwrap().pad, 1);
        assert_eq!(parse("pad=1").unwrap().pad, 1);
    }

    #[test]
    fn rejects_unknown_and_out_of_set_values() {
        for bad in [
            "weight",
            "pad=2",
            "first=float",
            "last=",
            "layers=a",
            "acts:pad=0.5",
        ] {
            let e = PassArgs::parse("binarize", bad).and_then(|a| Options::parse(&a));
            assert!(
                matches!(e, Err(PassError::InvalidArgs { .. })),
                "{bad}: {e:?}"
            );
        }
    }
}
