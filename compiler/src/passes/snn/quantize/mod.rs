//! `quantize-snn`: a float spiking network to fixed point (docs/semantics.md §10.1).
//!
//! Every LIF/IF neuron and the Gemm/Conv in front of it become
//! `gemm/conv(x, W_q: i8|i16) → i32 → [requant] → int_lif → bool spikes`. Layers fed by a graph
//! input get a QuantizeLinear after that input (calibration range, or [0, 1] without
//! calibration data). Weights, decay, threshold, reset and bias share one fixed-point scale per
//! layer or per channel; the roundings are in [`plan`].

pub mod apply;
pub mod input;
pub mod options;
pub mod plan;
pub mod sites;

use std::collections::BTreeMap;

use snnc_ir::{Graph, NodeId};

use self::input::InputQuant;
use self::options::Options;
use self::sites::{find_sites, Source};
use crate::passes::snn::calib::Calib;
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "quantize-snn";

pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "fixed-point SNN: integer weights and accumulators, int_lif neurons (from lif/if)",
    usage: "quantize-snn[=w=8:state=16:frac=15:first=12:in=8:per-channel|per-tensor:\
            no-bias-correct]",
    run,
};

/// Quantize every spiking layer of `g` (see the module docs); `ctx.dt` is the step the float
/// neurons are discretised with, `ctx.calib` (optional) sets the analog input range.
pub fn run(g: &mut Graph, args: &PassArgs, ctx: &PassContext<'_>) -> Result<PassReport, PassError> {
    let opts = Options::parse(NAME, args)?;
    if !(ctx.dt.is_finite() && ctx.dt > 0.0) {
        return Err(PassError::invalid(
            NAME,
            format!("dt must be finite and > 0, got {}", ctx.dt),
        ));
    }
    let sites = find_sites(NAME, g)?;
    let analog: Vec<NodeId> = sites
        .iter()
        .filter_map(|s| match s.source {
            Source::Analog { input, .. } => Some(input),
            Source::Spikes => None,
        })
        .collect();
    let calib = if analog.is_empty() {
        None
    } else {
        Calib::of(NAME, g, ctx)?
    };
    let mut inputs: BTreeMap<NodeId, InputQuant> = BTreeMap::new();
    for input in analog {
        inputs
            .entry(input)
            .or_insert_with(|| InputQuant::new(g, input, &opts, calib.as_ref()));
    }
    let mut plans = Vec::with_capacity(sites.len());
    for site in &sites {
        let iq = match site.source {
            Source::Analog { input, .. } => inputs.get(&input),
            Source::Spikes => None,
        };
        plans.push(plan::plan_layer(
            NAME,
            g,
            site,
            &opts,
            ctx.dt,
            iq,
            calib.as_ref(),
        )?);
    }
    let inputs: Vec<InputQuant> = inputs.into_values().collect();
    let added = apply::apply(NAME, g, &inputs, &plans)?;
    let mut report = PassReport::new(NAME);
    report.changed = added;
    report.notes.push(format!(
        "{} layers, {}-bit state, decay in Q{}, dt = {}",
        plans.len(),
        opts.state,
        opts.frac,
        ctx.dt
    ));
    report.notes.extend(inputs.iter().map(|i| i.note.clone()));
    report.notes.extend(plans.iter().map(|p| p.note.clone()));
    Ok(report)
}

#[cfg(test)]
mod tests;
