//! `prune`: magnitude pruning of Gemm/Conv weights.
//!
//! - Unstructured (`prune=0.5`): in every layer, the given fraction of weights with the smallest
//!   magnitude become zero (`magnitude.rs`). The IR keeps dense constants with zeros; the
//!   sparse synapse format [`sparse::Csr`] is what reports and backends choose per layer.
//! - Structured (`prune=0.5:structured`): whole output neurons / channels with the smallest L2
//!   norm are removed and every dependent layer updated (`structured.rs`); graph outputs keep
//!   their size.
//! - `layers=a+b` restricts pruning to the named Gemm/Conv nodes.
//!
//! `docs/semantics.md` §9 is the user-facing description.

mod magnitude;
pub mod options;
pub mod sparse;
mod structured;
mod weights;

use snnc_ir::{Graph, NodeId, Op};

use crate::passes::binarize::{remove_dead, Names};
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};
use options::Options;

pub const NAME: &str = "prune";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "magnitude pruning of Gemm/Conv weights, unstructured or whole neurons/channels",
    usage: "prune=SPARSITY[:structured][:layers=NAME+NAME...]  (SPARSITY in [0, 1))",
    run,
};

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    let opts = Options::parse(args)?;
    let order = g.topo_order().map_err(|e| PassError::ir(NAME, e))?;
    let all: Vec<NodeId> = order
        .into_iter()
        .filter(|i| matches!(g.node(*i).op, Op::Gemm(_) | Op::Conv(_)))
        .collect();
    if all.is_empty() {
        return Err(PassError::not_applicable(
            NAME,
            "the model has no Gemm or Conv layer",
        ));
    }
    let layers = select(g, &all, &opts)?;
    let mut report = PassReport::new(NAME);
    let mut names = Names::new(g);
    let mut skipped = Vec::new();
    let (mut zeros, mut total) = (0usize, 0usize);
    for id in layers {
        let name = g.node(id).name.clone();
        if opts.structured {
            match structured::prune_layer(g, &mut names, id, opts.sparsity) {
                Ok(Some(r)) => {
                    report.changed += 1;
                    let also = if r.updated.is_empty() {
                        String::new()
                    } else {
                        format!("; updated {}", r.updated.join(", "))
                    };
                    report.notes.push(format!(
                        "`{name}`: kept {} of {} output channels (largest L2 norm){also}",
                        r.kept, r.total
                    ));
                }
                Ok(None) => report
                    .notes
                    .push(format!("`{name}`: no channel to remove at this sparsity")),
                Err(why) => skipped.push(format!("`{name}` not pruned: {why}")),
            }
        } else {
            match magnitude::prune_layer(g, &mut names, id, opts.sparsity) {
                Ok(p) => {
                    report.changed += 1;
                    zeros += p.zeros;
                    total += p.total;
                    report.notes.push(format!(
                        "`{name}`: {} of {} weights zero ({:.1}%); CSR {} bytes vs dense {}",
                        p.zeros,
                        p.total,
                        100.0 * p.zeros as f64 / p.total.max(1) as f64,
                        p.csr_bytes,
                        p.dense_bytes
                    ));
                }
                Err(why) => skipped.push(format!("`{name}` not pruned: {why}")),
            }
        }
    }
    if report.changed == 0 && !skipped.is_empty() && opts.sparsity > 0.0 {
        return Err(PassError::not_applicable(NAME, skipped.join("; ")));
    }
    report.notes.extend(skipped);
    if total > 0 {
        report.notes.push(format!(
            "{zeros} of {total} weights zero in the pruned layers ({:.2}%)",
            100.0 * zeros as f64 / total as f64
        ));
    }
    let removed = remove_dead(g);
    if removed > 0 {
        report
            .notes
            .push(format!("{removed} replaced constant(s) removed"));
    }
    Ok(report)
}

/// The layers `layers=` names (all when absent); an unknown name is an error listing the
/// layers there are.
fn select(g: &Graph, all: &[NodeId], opts: &Options) -> Result<Vec<NodeId>, PassError> {
    let Some(wanted) = &opts.layers else {
        return Ok(all.to_vec());
    };
    let names: Vec<&str> = all.iter().map(|i| g.node(*i).name.as_str()).collect();
    if let Some(bad) = wanted.iter().find(|w| !names.contains(&w.as_str())) {
        return Err(PassError::invalid(
            NAME,
            format!(
                "no Gemm/Conv layer is called `{bad}` (layers: {})",
                names.join(", ")
            ),
        ));
    }
    Ok(all
        .iter()
        .copied()
        .filter(|i| wanted.contains(&g.node(*i).name))
        .collect())
}

#[cfg(test)]
mod tests;
