//! The report as a human-readable table.

use std::fmt::Write;

use super::{LayerRow, Report};

const HEADER: [&str; 9] = [
    "layer", "op", "params", "bits", "memory B", "MACs", "a x w", "sparsity", "ACE",
];

/// Render `r` (for the model described by `source`) as a fixed-width table with a total row
/// and the conventions below it.
pub fn render(r: &Report, source: &str) -> String {
    let mut rows: Vec<[String; 9]> = vec![HEADER.map(str::to_string)];
    rows.extend(r.layers.iter().map(layer_cells));
    let t = &r.total;
    rows.push([
        "total".into(),
        String::new(),
        t.params.to_string(),
        bits(t.bits_per_param, t.params),
        t.memory_bytes.to_string(),
        t.macs.to_string(),
        String::new(),
        pct(t.sparsity),
        t.ace.to_string(),
    ]);
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "model: {source}");
    let _ = writeln!(out, "graph: {} (counts per {})", r.graph, r.per);
    for (i, row) in rows.iter().enumerate() {
        if i + 1 == rows.len() {
            let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * 8));
        }
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (s, w))| {
                if c < 2 {
                    format!("{s:<w$}")
                } else {
                    format!("{s:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    if let Some(acs) = t.acs {
        let _ = writeln!(out, "synaptic ACs (measured): {acs:.0}");
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

fn layer_cells(l: &LayerRow) -> [String; 9] {
    let aw = match (l.act_bits, l.weight_bits) {
        (Some(a), Some(w)) => format!("{a}x{w}"),
        _ => String::new(),
    };
    let macs = match l.acs {
        Some(acs) => format!("{} ({acs:.0} AC)", l.macs),
        None if l.spike_input => format!("{} (AC)", l.macs),
        None => l.macs.to_string(),
    };
    [
        l.name.clone(),
        l.op.to_string(),
        l.params.to_string(),
        bits(l.bits_per_param, l.params),
        l.memory_bytes.to_string(),
        macs,
        aw,
        pct(l.sparsity),
        l.ace.to_string(),
    ]
}

fn bits(b: f64, params: u64) -> String {
    if params == 0 {
        String::new()
    } else if b.fract() == 0.0 {
        format!("{b:.0}")
    } else {
        format!("{b:.2}")
    }
}

fn pct(s: Option<f64>) -> String {
    s.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_default()
}
