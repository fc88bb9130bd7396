//! `ann-to-snn`: a ReLU network to an integrate-and-fire network by data-based threshold
//! balancing (Diehl et al. 2015; Rueckauer et al. 2017; the SNN Toolbox), docs/semantics.md
//! §10.2.
//!
//! 1. The float network runs over the calibration samples; each ReLU layer's scale `λ_l` is the
//!    `pct`-th percentile of its *positive* activations (the SNN Toolbox uses the non-zero
//!    ones; `pct = 100` is the maximum of Diehl 2015, 99.9 Rueckauer's robust choice).
//! 2. Weights and biases are renormalized so every threshold is 1:
//!    `W_l ← W_l·λ_(l−1)/λ_l`, `b_l ← b_l/λ_l`, with `λ_0 = 1` (the analog input is fed
//!    directly as a constant current every step). A neuron's firing rate then approximates
//!    `a_l/λ_l`, clipped at one spike per step.
//! 3. Each ReLU becomes an IF neuron (or LIF with `neuron=lif`) with `v_th = 1`, reset by
//!    subtraction (keeps the excess charge, the main fix of Rueckauer 2017) and `r = 1/dt`, so
//!    one step adds exactly the input current (NIR's IF adds `dt·r·I`).
//! 4. The last layer feeds a spiking IF layer balanced the same way (spike counts) or, with
//!    `readout=membrane`, an Integrator that accumulates the unnormalized output.

pub mod apply;
pub mod layers;
pub mod options;

use snnc_ir::{Graph, NodeId};

use self::layers::{find_layers, Role};
use self::options::{Options, Readout};
use crate::passes::snn::calib::{percentile, Calib};
use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};

pub const NAME: &str = "ann-to-snn";

pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary: "ReLU network to IF/LIF spiking network with data-based threshold balancing",
    usage: "ann-to-snn[=pct=99.9:neuron=if|lif:tau=<s>:readout=spikes|membrane:\
            reset=subtract|zero] (needs --calib)",
    run,
};

/// Convert `g` (see the module docs). Needs `ctx.calib`; `ctx.dt` is the step the spiking
/// graph is meant to run with (IF `r = 1/dt`).
pub fn run(g: &mut Graph, args: &PassArgs, ctx: &PassContext<'_>) -> Result<PassReport, PassError> {
    if !(ctx.dt.is_finite() && ctx.dt > 0.0) {
        return Err(PassError::invalid(
            NAME,
            format!("dt must be finite and > 0, got {}", ctx.dt),
        ));
    }
    let opts = Options::parse(NAME, args, ctx.dt)?;
    let layers = find_layers(NAME, g)?;
    let calib = Calib::required(NAME, g, ctx)?;
    // What to measure: each hidden layer's ReLU output, and the output layer's values when it
    // becomes a spiking layer.
    let probes: Vec<NodeId> = layers
        .iter()
        .filter_map(|l| match l.role {
            Role::Hidden { relu } => Some(relu),
            Role::Output if opts.readout == Readout::Spikes => Some(l.syn.id),
            Role::Output => None,
        })
        .collect();
    let values = calib.collect(NAME, g, ctx.dt, &probes)?;
    let mut report = PassReport::new(NAME);
    let mut scales = Vec::with_capacity(probes.len());
    for (id, v) in probes.iter().zip(&values) {
        let positive: Vec<f32> = v.iter().copied().filter(|x| *x > 0.0).collect();
        let lambda = percentile(&positive, opts.pct).filter(|l| *l > 0.0);
        let name = &g.node(*id).name;
        report.notes.push(match lambda {
            Some(l) => format!(
                "`{name}`: scale {l:.6} ({}th percentile of {} positive activations)",
                opts.pct,
                positive.len()
            ),
            None => format!("`{name}`: no positive activation on the calibration data; scale 1"),
        });
        scales.push((*id, lambda.unwrap_or(1.0)));
    }
    let changed = apply::apply(NAME, g, &layers, &scales, &opts, ctx.dt)?;
    report.changed = changed;
    report.notes.insert(
        0,
        format!(
            "{} layers from {} calibration samples; dt = {} (run the result with the same dt)",
            layers.len(),
            calib.len(),
            ctx.dt
        ),
    );
    Ok(report)
}

#[cfg(test)]
mod tests;
