//! Quantization passes: `quantize` (post-training quantization of a float model) and
//! `lower-qdq` (a model that arrives quantized becomes an integer graph with its own
//! quantization, unchanged).
//!
//! Both end in the same integer form (docs/semantics.md §8): a QuantizeLinear on the float
//! input, integer Gemm/Conv kernels with integer weight constants (their `QuantParams` on the
//! constant's type) and an `i32` bias at the accumulator scale, [`snnc_ir::op::Requant`]
//! between layers (ReLU fused into its clamp), integer max pooling and reshapes, and a
//! DequantizeLinear wherever a float value is needed (the last layer's output, or around an op
//! that has no integer form — the report names each one).
//!
//! `quantize` states the quantization it chose as a QDQ graph and then lowers it with the very
//! code `lower-qdq` uses, so both passes share one definition of the integer form.
//!
//! One concept per file: [`calibration`] (ranges from samples), [`scale`] (scales and zero
//! points), [`multiplier`] (fixed-point requantization), [`rewrite`] (where quantization goes in
//! a float graph), [`fold`] (quantized constants and QONNX Quant), [`intval`] (integer twins of
//! activations), [`kernel`] (integer Gemm/Conv + Requant), [`lower`] (the lowering driver),
//! [`options`] (arguments), [`edit`] (graph editing helpers).

pub mod calibration;
pub mod edit;
pub mod fold;
pub mod intval;
pub mod kernel;
pub mod lower;
pub mod multiplier;
pub mod options;
pub mod rewrite;
pub mod scale;

use std::collections::BTreeSet;

use snnc_ir::{verify, Graph, NodeId, Op};

use super::{PassArgs, PassContext, PassError, PassInfo, PassReport};
use edit::Editor;

/// Name of the post-training quantization pass.
pub const QUANTIZE: &str = "quantize";
/// Name of the QDQ/QONNX lowering pass.
pub const LOWER_QDQ: &str = "lower-qdq";

/// Registry entry of `quantize`.
pub const QUANTIZE_INFO: PassInfo = PassInfo {
    name: QUANTIZE,
    summary: "post-training quantization of float Gemm/Conv and activations (calibrated) to an integer graph",
    usage: options::USAGE,
    run: run_quantize,
};

/// Registry entry of `lower-qdq`.
pub const LOWER_QDQ_INFO: PassInfo = PassInfo {
    name: LOWER_QDQ,
    summary: "QDQ and QONNX Quant models to integer kernels with their exact quantization (no re-quantization)",
    usage: "lower-qdq",
    run: run_lower_qdq,
};

/// Ops that mean the graph already carries quantization.
fn quantization_op(op: &Op) -> bool {
    matches!(
        op,
        Op::Quant(_)
            | Op::BipolarQuant
            | Op::Trunc(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::Requant(_)
            | Op::BinThreshold(_)
            | Op::IntLif(_)
    )
}

/// The `quantize` pass (see [`rewrite`] for the steps and [`options`] for the arguments).
pub fn run_quantize(
    g: &mut Graph,
    args: &PassArgs,
    ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    let opts = options::parse(args)?;
    let info = verify(g).map_err(|e| PassError::ir(QUANTIZE, e))?;
    if info.stateful {
        return Err(PassError::not_applicable(
            QUANTIZE,
            "the graph has state (neurons, delays or recurrence); quantize handles feed-forward networks",
        ));
    }
    if let Some(n) = g
        .node_ids()
        .into_iter()
        .map(|id| g.node(id))
        .find(|n| quantization_op(&n.op))
    {
        return Err(PassError::not_applicable(
            QUANTIZE,
            format!(
                "it is already quantized (`{}` is a {} node); its own quantization is kept: use lower-qdq",
                n.name,
                n.op.name()
            ),
        ));
    }
    let kernels = rewrite::plan(g);
    if kernels.is_empty() {
        return Err(PassError::not_applicable(
            QUANTIZE,
            "there is no float Gemm or Conv with constant weights to quantize (is it already integer?)",
        ));
    }
    let samples = calibration::samples(g, ctx.calib, QUANTIZE)?;
    let roots: BTreeSet<NodeId> = kernels.iter().map(|k| k.root).collect();
    let ranges = calibration::calibrate(g, &samples, &roots, opts.method, QUANTIZE)?;
    let mut report = PassReport::new(QUANTIZE);
    report.notes.push(format!(
        "int{} {} symmetric weights (narrow range), {} activations with {} bits, {} calibration on {} samples",
        opts.weight_bits,
        if opts.per_channel { "per-channel" } else { "per-tensor" },
        match opts.act {
            scale::ActScheme::Sym => "symmetric",
            scale::ActScheme::Asym => "asymmetric",
        },
        opts.act_bits,
        match opts.method {
            calibration::Method::MinMax => "min/max".to_string(),
            calibration::Method::Percentile(p) => format!("{p} percentile"),
        },
        samples.len()
    ));
    let mut ed = Editor::new(g, QUANTIZE);
    let act_notes = rewrite::insert_qdq(&mut ed, &kernels, &ranges, &opts)?;
    report.notes.extend(act_notes);
    lower::lower(&mut ed, &mut report)?;
    report.notes.extend(lower::float_notes(&ed));
    Ok(report)
}

/// The `lower-qdq` pass (see [`lower`]).
pub fn run_lower_qdq(
    g: &mut Graph,
    args: &PassArgs,
    _ctx: &PassContext<'_>,
) -> Result<PassReport, PassError> {
    args.check(&[], &[])?;
    let mut report = PassReport::new(LOWER_QDQ);
    if !g
        .node_ids()
        .iter()
        .any(|id| quantization_op(&g.node(*id).op))
    {
        report
            .notes
            .push("no quantization ops: nothing to lower".to_string());
        return Ok(report);
    }
    let mut ed = Editor::new(g, LOWER_QDQ);
    lower::lower(&mut ed, &mut report)?;
    report.notes.extend(lower::float_notes(&ed));
    Ok(report)
}

#[cfg(test)]
mod tests;
