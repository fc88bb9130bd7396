//! The printer.

use std::collections::HashMap;
use std::fmt::Write;

use super::attrs::{write_op, write_quant, AttrWriter};
use super::digest::write_elided;
use super::literal::{write_f32, write_str};
use super::PrintOptions;
use crate::{Data, Graph, NodeId, Op, Tensor, TensorType};

/// Print `g` in the text form (see the [module docs](super) for the grammar).
///
/// Nodes appear in [`Graph::topo_order`] and are renumbered `n0, n1, ...` in that order, so the
/// text depends only on the graph's structure, not on the ids a sequence of edits left behind. A
/// graph with a cycle of non-recurrent edges (which [`crate::verify()`] rejects) is still printed,
/// in node-id order, so that it can be inspected.
pub fn print(g: &Graph, opts: &PrintOptions) -> String {
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids());
    // Only looked up, never iterated: no hash order reaches the output.
    let labels: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut out = String::new();
    out.push_str("graph ");
    write_str(&mut out, &g.name);
    out.push_str(" {\n");
    for (i, id) in order.iter().enumerate() {
        write_node(&mut out, g, *id, i, &labels, opts);
    }
    out.push_str("}\n");
    out
}

fn write_node(
    out: &mut String,
    g: &Graph,
    id: NodeId,
    label: usize,
    labels: &HashMap<NodeId, usize>,
    opts: &PrintOptions,
) {
    let node = g.node(id);
    let _ = write!(out, "  n{label} = {}", node.op.name());
    if let Op::Input { index } | Op::Output { index } = node.op {
        let _ = write!(out, " {index} ");
    }
    let operands = g.operands(id);
    if !operands.is_empty() {
        out.push('(');
        for (pos, (src, e)) in operands.iter().enumerate() {
            if pos > 0 {
                out.push_str(", ");
            }
            if e.slot != pos {
                let _ = write!(out, "{}: ", e.slot);
            }
            if e.recurrent {
                out.push('^');
            }
            match labels.get(src) {
                Some(l) => {
                    let _ = write!(out, "n{l}");
                }
                None => {
                    let _ = write!(out, "{src}");
                }
            }
        }
        out.push(')');
    }
    let mut w = AttrWriter::new(out, opts, " {");
    write_op(&mut w, &node.op);
    w.finish();
    if !out.ends_with(' ') {
        out.push(' ');
    }
    write_str(out, &node.name);
    if let Some(ty) = &node.ty {
        out.push_str(" : ");
        write_type(out, ty, opts);
    }
    if let Op::Const(t) = &node.op {
        out.push_str(" = ");
        let same = node
            .ty
            .as_ref()
            .is_some_and(|ty| ty.dtype == t.dtype() && ty.shape == t.shape());
        if same {
            write_data(out, t, opts);
        } else {
            write_tensor(out, t, opts);
        }
    }
    out.push('\n');
}

fn write_shape(out: &mut String, shape: &[usize]) {
    out.push('[');
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{d}");
    }
    out.push(']');
}

/// `f32[1,64]`, followed by ` quant {...}` for a quantized type.
pub(crate) fn write_type(out: &mut String, ty: &TensorType, opts: &PrintOptions) {
    out.push_str(ty.dtype.name());
    write_shape(out, &ty.shape);
    if let Some(q) = &ty.quant {
        let mut w = AttrWriter::new(out, opts, " quant {");
        write_quant(&mut w, q);
        w.finish();
    }
}

/// A type as the text form spells it, quantization included (for diagnostics).
pub(crate) fn type_to_string(ty: &TensorType) -> String {
    let mut s = String::new();
    write_type(&mut s, ty, &PrintOptions::default());
    s
}

/// A full tensor literal: `f32[2] [1.0, 2.0]`.
pub(crate) fn write_tensor(out: &mut String, t: &Tensor, opts: &PrintOptions) {
    out.push_str(t.dtype().name());
    write_shape(out, t.shape());
    out.push(' ');
    write_data(out, t, opts);
}

/// The elements of `t`, flat in row-major order, or their digest when `opts` elides them.
pub(crate) fn write_data(out: &mut String, t: &Tensor, opts: &PrintOptions) {
    if opts.elide_consts_over.is_some_and(|n| t.len() > n) {
        write_elided(out, t);
        return;
    }
    out.push('[');
    match t.data() {
        Data::F32(v) => {
            out.reserve(v.len().saturating_mul(12));
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_f32(out, *x);
            }
        }
        Data::I64(v) => {
            out.reserve(v.len().saturating_mul(4));
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{x}");
            }
        }
    }
    out.push(']');
}
