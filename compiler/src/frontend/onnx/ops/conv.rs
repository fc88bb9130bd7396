//! Convolution.

use snnc_ir::infer::fmt_shape;
use snnc_ir::op::Conv;
use snnc_ir::Op;

use super::padding::{resolve_pads, Window};
use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::ImportError;

/// [Conv](https://onnx.ai/onnx/operators/onnx__Conv.html), opsets 13–21, 1-D and 2-D:
/// `kernel_shape` (checked against the weight), `strides`, `pads`, `dilations`, `group`, and
/// `auto_pad` resolved to explicit pads from the input's shape.
pub(super) fn conv(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 3)?;
    let mut ids = cx.operands(n, 2)?;
    if let Some(b) = cx.opt_operand(n, 2)? {
        ids.push(b);
    }
    let xs = cx.ty(n, ids[0])?.shape.clone();
    let ws = cx.ty(n, ids[1])?.shape.clone();
    if !(3..=4).contains(&ws.len()) {
        return Err(n.err(format!(
            "weight has shape {}, expected rank 3 (1-D) or 4 (2-D convolution)",
            fmt_shape(&ws)
        )));
    }
    let s = ws.len() - 2;
    let kernel = &ws[2..];
    if let Some(ks) = n.attr_ints("kernel_shape")? {
        let matches = ks.len() == s
            && ks
                .iter()
                .zip(kernel)
                .all(|(a, b)| usize::try_from(*a).ok() == Some(*b));
        if !matches {
            return Err(n.err(format!(
                "attribute `kernel_shape` {ks:?} does not match the weight's shape {}",
                fmt_shape(&ws)
            )));
        }
    }
    if xs.len() < s {
        return Err(n.err(format!(
            "input has shape {}, too few dimensions for a {s}-D convolution",
            fmt_shape(&xs)
        )));
    }
    let stride = n.attr_sizes("strides", s, 1)?;
    let dilation = n.attr_sizes("dilations", s, 1)?;
    let group = n.attr_int_or("group", 1)?;
    let groups = usize::try_from(group)
        .ok()
        .filter(|g| *g >= 1)
        .ok_or_else(|| n.err(format!("attribute `group` is {group}, expected at least 1")))?;
    let pads = resolve_pads(
        n,
        &Window {
            input: &xs[xs.len() - s..],
            kernel,
            stride: &stride,
            dilation: &dilation,
        },
    )?;
    let op = Op::Conv(Conv {
        stride,
        pads,
        dilation,
        groups,
    });
    Ok(Out::Node(cx.add(n, op, &ids)?))
}
