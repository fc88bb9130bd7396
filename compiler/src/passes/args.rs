//! Pass arguments: `name=a:b:key=value`. Items are separated by `:`; an item is a bare word
//! (`int8`, `per-channel`, `0.5`) or `key=value`. Every pass checks that it understood every item,
//! so a typo is an error rather than a silently ignored option.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::passes::PassError;

/// The parsed arguments of one pipeline step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassArgs {
    pass: String,
    /// Bare items in order.
    pub words: Vec<String>,
    /// `key=value` items.
    pub values: BTreeMap<String, String>,
}

impl PassArgs {
    /// Parse the text after `name=` (empty for none).
    pub fn parse(pass: &str, text: &str) -> Result<Self, PassError> {
        let mut a = PassArgs {
            pass: pass.to_string(),
            ..Default::default()
        };
        for item in text.split(':').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once('=') {
                Some((k, v)) => {
                    let (k, v) = (k.trim(), v.trim());
                    if k.is_empty() || v.is_empty() {
                        return Err(PassError::invalid(
                            pass,
                            format!("malformed argument `{item}`"),
                        ));
                    }
                    if a.values.insert(k.to_string(), v.to_string()).is_some() {
                        return Err(PassError::invalid(pass, format!("`{k}` given twice")));
                    }
                }
                None => a.words.push(item.to_string()),
            }
        }
        Ok(a)
    }

    /// True when the bare word `w` was given (and marks nothing: see [`PassArgs::check`]).
    pub fn has(&self, w: &str) -> bool {
        self.words.iter().any(|x| x == w)
    }

    /// `key=value` parsed as `T`, or `default` when absent; an unparsable value is an error.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, PassError> {
        match self.values.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| PassError::invalid(&self.pass, format!("`{key}={v}` is not valid"))),
        }
    }

    /// Fail unless every bare word is in `words` and every key in `keys`: catches typos.
    pub fn check(&self, words: &[&str], keys: &[&str]) -> Result<(), PassError> {
        if let Some(w) = self.words.iter().find(|w| !words.contains(&w.as_str())) {
            return Err(PassError::invalid(
                &self.pass,
                format!(
                    "unknown argument `{w}` (expected one of: {})",
                    words.join(", ")
                ),
            ));
        }
        if let Some(k) = self.values.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(PassError::invalid(
                &self.pass,
                format!(
                    "unknown option `{k}` (expected one of: {})",
                    keys.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The pass these arguments belong to.
    pub fn pass(&self) -> &str {
        &self.pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_words_and_values() {
        let a = PassArgs::parse("quantize", "int8:per-channel:calib=percentile").unwrap();
        assert_eq!(a.words, vec!["int8", "per-channel"]);
        assert_eq!(a.values["calib"], "percentile");
        assert!(a.check(&["int8", "per-channel"], &["calib"]).is_ok());
        assert!(a.check(&["int8"], &["calib"]).is_err());
        assert_eq!(a.get("pct", 99.9f64).unwrap(), 99.9);
    }

    #[test]
    fn rejects_malformed_and_repeated() {
        assert!(PassArgs::parse("p", "k=").is_err());
        assert!(PassArgs::parse("p", "=v").is_err());
        assert!(PassArgs::parse("p", "k=1:k=2").is_err());
        let a = PassArgs::parse("p", "x=abc").unwrap();
        assert!(a.get("x", 1.0f32).is_err());
    }
}
