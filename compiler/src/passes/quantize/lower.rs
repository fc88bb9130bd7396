//! `lower-qdq`: a model that arrives quantized (ONNX QDQ, QONNX `Quant`) keeps its exact
//! quantization and becomes an integer graph — no re-quantization.
//!
//! Steps, each a module of its own:
//! 1. quantized constants become integer constants with [`snnc_ir::QuantParams`] and QONNX
//!    `Quant` nodes become QuantizeLinear/DequantizeLinear ([`super::fold`]);
//! 2. every float Gemm/Conv whose operands are dequantized becomes an integer kernel followed by
//!    a [`snnc_ir::op::Requant`] (or a DequantizeLinear for float readers), in topological
//!    order so that each kernel sees its predecessors' integer outputs ([`super::kernel`]);
//! 3. what no output reads any more is removed.
//!
//! The pass is part of canonicalization: on a graph without quantization ops it does nothing.

use snnc_ir::{NodeId, Op};

use super::edit::{remove_dead, Editor};
use super::fold::{fold_dequantized_constants, lower_qonnx_quant, Folded};
use super::intval::IntValues;
use super::kernel::{lower_kernel, Outcome};
use crate::passes::{PassError, PassReport};

/// Run steps 1-3 on the editor's graph, adding to `report`. Returns the names of the kernels
/// that were lowered.
pub fn lower(ed: &mut Editor<'_>, report: &mut PassReport) -> Result<Vec<String>, PassError> {
    let mut folded = Folded::default();
    fold_dequantized_constants(ed, &mut folded)?;
    lower_qonnx_quant(ed, &mut folded)?;
    if folded.constants > 0 {
        report.notes.push(format!(
            "{} quantized constant(s) folded into integer constants with quantization parameters",
            folded.constants
        ));
    }
    if folded.activations > 0 {
        report.notes.push(format!(
            "{} QONNX activation Quant node(s) became QuantizeLinear/DequantizeLinear",
            folded.activations
        ));
    }
    report.notes.extend(folded.notes);
    report.changed += folded.constants + folded.activations;
    let order = ed.g.topo_order().map_err(|e| ed.ir(e))?;
    let kernels: Vec<NodeId> = order
        .into_iter()
        .filter(|id| matches!(ed.g.node(*id).op, Op::Gemm(_) | Op::Conv(_)))
        .collect();
    let mut ints = IntValues::default();
    let mut lowered = Vec::new();
    for id in kernels {
        let name = ed.g.node(id).name.clone();
        match lower_kernel(ed, &mut ints, id)? {
            Outcome::Lowered(note) => {
                report.changed += 1;
                report.notes.push(note);
                lowered.push(name);
            }
            Outcome::Kept(why) => report.notes.push(why),
            Outcome::NotQuantized => {}
        }
    }
    remove_dead(ed.g);
    Ok(lowered)
}

/// One note per remaining float computation between the integer parts (ops without an integer
/// form, e.g. a float bias added after the last layer's dequantization).
pub fn float_notes(ed: &Editor<'_>) -> Vec<String> {
    let g = &*ed.g;
    let mut notes = Vec::new();
    for id in g.node_ids() {
        let n = g.node(id);
        let float = n.ty.as_ref().is_some_and(|t| t.dtype.is_float());
        let bookkeeping = matches!(
            n.op,
            Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::DequantizeLinear(_)
        );
        if float && !bookkeeping {
            notes.push(format!(
                "`{}` ({}): no integer form, computed in float",
                n.name,
                n.op.name()
            ));
        }
    }
    notes
}
