//! `binarize`: weights and activations to ±1 ([`snnc_ir::DType::Bin`]) with scaling factors,
//! BatchNorm + sign folded into one integer threshold per output channel
//! ([`snnc_ir::op::BinThreshold`]), an explicit padding value for binary convolutions, and a
//! policy for the first and last layers. `docs/semantics.md` §9 is the user-facing description.
//!
//! What is exact and what is not:
//! - What the model already quantized is lowered exactly: QONNX `BipolarQuant` weights and
//!   activations, integer `Quant` activations (zero point 0, round half to even), QDQ
//!   activations. A BNN exported by Brevitas becomes integer Gemms/Convs on ±1 and 8-bit inputs
//!   whose BatchNorm + sign are thresholds that reproduce the float graph's signs.
//! - Float weights become `sign(W)` with one scale `mean|W_c|` per output channel (XNOR-Net),
//!   float activations the sign of their pre-activation: an approximation, reported.
//!
//! Policy (`first`, `last`): the first layer (in topological order) keeps its input — the
//! model's data is never binarized — and, with `first=keep`, its float weights. The last layer
//! with `last=keep` keeps its weights in higher precision (a QONNX model's bipolar weights as the
//! float values `±s` it computes with) and computes in float, so its outputs match the float
//! model bit for bit; `last=bin` gives it ±1 weights and an integer accumulator rescaled in f32.

mod graph_util;
mod inputs;
mod lower;
pub mod options;
pub mod pack;
mod padding;
mod state;
mod threshold;
mod weights;

pub(crate) use graph_util::{remove_dead, Names};

use snnc_ir::Graph;

use crate::passes::{PassArgs, PassContext, PassError, PassInfo, PassReport};
use options::Options;
use state::State;

pub const NAME: &str = "binarize";

/// Registry entry.
pub const INFO: PassInfo = PassInfo {
    name: NAME,
    summary:
        "weights/activations to ±1 with scales; BatchNorm + sign folded into integer thresholds",
    usage: "binarize[=weights:acts:first=keep|bin:last=keep|bin:pad=-1|+1|0]",
    run,
};

/// Run the pass (see the module docs).
pub fn run(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    let opts = Options::parse(args)?;
    if let Some(id) = g
        .node_ids()
        .into_iter()
        .find(|i| g.node(*i).op.is_stateful())
    {
        let n = g.node(id);
        return Err(PassError::not_applicable(
            NAME,
            format!(
                "node `{}` ({}) has state: binarize applies to non-spiking networks",
                n.name,
                n.op.name()
            ),
        ));
    }
    let layers = lower::find_layers(g, NAME)?;
    if layers.is_empty() {
        return Err(PassError::not_applicable(
            NAME,
            "the model has no Gemm or Conv with constant weights",
        ));
    }
    let mut st = State::new(g, NAME, opts);
    let mut changed = 0;
    let n = layers.len();
    for (i, l) in layers.iter().enumerate() {
        changed += usize::from(lower::lower(&mut st, l, i == 0, i + 1 == n)?);
    }
    if changed == 0 {
        return Err(PassError::not_applicable(
            NAME,
            format!(
                "nothing to binarize: every layer is kept ({})",
                st.notes.join("; ")
            ),
        ));
    }
    let stats = st.stats.clone();
    let mut notes = std::mem::take(&mut st.notes);
    drop(st);
    let removed = remove_dead(g);
    g.infer_types().map_err(|e| PassError::ir(NAME, e))?;
    notes.push(format!(
        "{} layer(s) on integer accumulators, {} float layer(s) changed, {} threshold(s) folded, \
         {} float sign(s), {removed} node(s) removed",
        stats.integer_layers, stats.float_layers_changed, stats.folded_channels, stats.float_signs
    ));
    Ok(PassReport {
        pass: NAME.to_string(),
        changed,
        notes,
    })
}

#[cfg(test)]
mod tests;
