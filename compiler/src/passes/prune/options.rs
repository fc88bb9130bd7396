//! The arguments of `prune`: `prune=0.5` (or `sparsity=0.5`), `structured`, `layers=a+b`.

use crate::passes::{PassArgs, PassError};

/// Parsed `prune` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Target fraction of zero weights (unstructured) or of removed output channels
    /// (structured), in `[0, 1)`.
    pub sparsity: f64,
    /// Remove whole output neurons / channels instead of single weights.
    pub structured: bool,
    /// Only these layers (node names); all Gemm/Conv layers when `None`.
    pub layers: Option<Vec<String>>,
}

impl Options {
    /// Parse and check: exactly one sparsity (a bare number or `sparsity=`), finite, in
    /// `[0, 1)`; no unknown words or keys.
    pub fn parse(a: &PassArgs) -> Result<Self, PassError> {
        let numeric: Vec<&String> = a.words.iter().filter(|w| is_number(w)).collect();
        let mut rest = a.clone();
        rest.words.retain(|w| !is_number(w));
        rest.check(&["structured", "unstructured"], &["sparsity", "layers"])?;
        if rest.has("structured") && rest.has("unstructured") {
            return Err(PassError::invalid(
                a.pass(),
                "`structured` and `unstructured` exclude each other",
            ));
        }
        let text = match (numeric.as_slice(), a.values.get("sparsity")) {
            ([w], None) => (*w).clone(),
            ([], Some(v)) => v.clone(),
            ([], None) => {
                return Err(PassError::invalid(
                    a.pass(),
                    "a target sparsity is required, e.g. prune=0.5",
                ))
            }
            _ => {
                return Err(PassError::invalid(
                    a.pass(),
                    "the sparsity is given more than once",
                ))
            }
        };
        let sparsity: f64 = text.parse().map_err(|_| {
            PassError::invalid(a.pass(), format!("sparsity `{text}` is not a number"))
        })?;
        if !(sparsity.is_finite() && (0.0..1.0).contains(&sparsity)) {
            return Err(PassError::invalid(
                a.pass(),
                format!("sparsity {text} is outside [0, 1) (a fraction of the weights to zero)"),
            ));
        }
        let layers = a.values.get("layers").map(|v| {
            v.split('+')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        });
        if layers.as_ref().is_some_and(|l| l.is_empty()) {
            return Err(PassError::invalid(a.pass(), "`layers=` names no layer"));
        }
        Ok(Options {
            sparsity,
            structured: rest.has("structured"),
            layers,
        })
    }
}

fn is_number(w: &str) -> bool {
    w.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, PassError> {
        Options::parse(&PassArgs::parse("prune", text)?)
    }

    #[test]
    fn accepts_a_number_or_a_key() {
        let o = parse("0.5").unwrap();
        assert_eq!(o.sparsity, 0.5);
        assert!(!o.structured);
        assert_eq!(o.layers, None);
        let o = parse("sparsity=0.8:structured:layers=/0/Gemm+/2/Gemm").unwrap();
        assert_eq!(o.sparsity, 0.8);
        assert!(o.structured);
        assert_eq!(
            o.layers,
            Some(vec!["/0/Gemm".to_string(), "/2/Gemm".to_string()])
        );
        assert_eq!(parse("0").unwrap().sparsity, 0.0);
    }

    #[test]
    fn rejects_impossible_sparsities_and_typos() {
        for bad in [
            "1.5",
            "-0.1",
            "1",
            "NaN",
            "inf",
            "",
            "0.5:0.6",
            "0.5:sparsity=0.5",
            "0.5:structure",
            "sparsity=abc",
            "0.5:layers=+",
            "0.5:structured:unstructured",
            "0.5:keep=1",
        ] {
            let e = parse(bad);
            assert!(
                matches!(e, Err(PassError::InvalidArgs { .. })),
                "{bad}: {e:?}"
            );
        }
        let e = parse("1.5").unwrap_err().to_string();
        assert!(e.contains("outside [0, 1)"), "{e}");
    }
}
