//! Pooling: MaxPool, AveragePool and their global forms.

use snnc_ir::infer::fmt_shape;
use snnc_ir::op::{Pool, PoolKind};
use snnc_ir::Op;

use super::padding::{resolve_pads, Window};
use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::ImportError;

/// [MaxPool](https://onnx.ai/onnx/operators/onnx__MaxPool.html), opsets 13–21: `kernel_shape`,
/// `strides`, `pads`, `dilations`, `ceil_mode`, `auto_pad`. The `Indices` output must be unused.
pub(super) fn max_pool(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    windowed(cx, n, PoolKind::Max)
}

/// [AveragePool](https://onnx.ai/onnx/operators/onnx__AveragePool.html), opsets 13–21: as
/// MaxPool plus `count_include_pad` (`dilations` exist from opset 19).
pub(super) fn average_pool(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    windowed(cx, n, PoolKind::Avg)
}

fn windowed(cx: &mut Ctx, n: &mut Node, kind: PoolKind) -> Result<Out, ImportError> {
    n.check_inputs(1, 1)?;
    let kernel = n
        .attr_ints("kernel_shape")?
        .ok_or_else(|| n.err("attribute `kernel_shape` is required"))?
        .to_vec();
    let s = kernel.len();
    if s == 0 {
        return Err(n.err("attribute `kernel_shape` is empty"));
    }
    let kernel = n.attr_sizes("kernel_shape", s, 1)?;
    let stride = n.attr_sizes("strides", s, 1)?;
    let dilation = n.attr_sizes("dilations", s, 1)?;
    let ceil_mode = n.attr_bool_or("ceil_mode", false)?;
    let count_include_pad = kind == PoolKind::Avg && n.attr_bool_or("count_include_pad", false)?;
    let x = cx.operands(n, 1)?[0];
    let xs = cx.ty(n, x)?.shape.clone();
    if xs.len() < s {
        return Err(n.err(format!(
            "input has shape {}, too few dimensions for a {s}-D window",
            fmt_shape(&xs)
        )));
    }
    let pads = resolve_pads(
        n,
        &Window {
            input: &xs[xs.len() - s..],
            kernel: &kernel,
            stride: &stride,
            dilation: &dilation,
        },
    )?;
    let op = Op::Pool(Pool {
        kind,
        kernel,
        stride,
        pads,
        dilation,
        ceil_mode,
        count_include_pad,
    });
    Ok(Out::Node(cx.add(n, op, &[x])?))
}

/// [GlobalAveragePool](https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html), opsets
/// 13–21: a Pool whose window is the whole spatial extent (every axis after N and C).
pub(super) fn global_average_pool(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    global(cx, n, PoolKind::Avg)
}

/// [GlobalMaxPool](https://onnx.ai/onnx/operators/onnx__GlobalMaxPool.html), opsets 13–21.
pub(super) fn global_max_pool(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    global(cx, n, PoolKind::Max)
}

fn global(cx: &mut Ctx, n: &mut Node, kind: PoolKind) -> Result<Out, ImportError> {
    n.check_inputs(1, 1)?;
    let x = cx.operands(n, 1)?[0];
    let xs = cx.ty(n, x)?.shape.clone();
    if xs.len() < 3 {
        return Err(n.err(format!(
            "input has shape {}, expected [N, C, spatial...]",
            fmt_shape(&xs)
        )));
    }
    let kernel = xs[2..].to_vec();
    let s = kernel.len();
    let op = Op::Pool(Pool {
        kind,
        kernel,
        stride: vec![1; s],
        pads: vec![0; 2 * s],
        dilation: vec![1; s],
        ceil_mode: false,
        count_include_pad: false,
    });
    Ok(Out::Node(cx.add(n, op, &[x])?))
}
