//! `snnc passes`: every registered pass with its summary and usage.

use std::fmt::Write;

use clap::ValueEnum;

use super::target::Target;
use crate::passes::PassInfo;

/// The listing of `passes` and of each target's default pipeline.
pub fn render(passes: &[PassInfo]) -> String {
    let width = passes.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = String::from("passes (run with --passes name[=arg:key=value],...):\n");
    for p in passes {
        let _ = writeln!(out, "  {:<width$}  {}", p.name, p.summary);
        let _ = writeln!(out, "  {:<width$}  usage: {}", "", p.usage);
    }
    out.push_str("default pipelines (the item `default` in --passes):\n");
    for t in Target::value_variants() {
        let extra = if t.is_arm() {
            " (+binarize when the model has bipolar quantizers, +quantize-snn when it has float spiking neurons)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}: {}{extra}", t.name(), t.default_pipeline());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_registered_pass() {
        let reg = crate::passes::registry();
        let text = render(reg);
        for p in reg {
            assert!(text.contains(p.summary), "{}", p.name);
            assert!(text.contains(&format!("usage: {}", p.usage)), "{}", p.name);
        }
        assert!(text.contains("  canonicalize  "), "{text}");
        assert!(text.contains("reference: canonicalize"), "{text}");
    }
}
