//! Dense products: Gemm and MatMul.

use snnc_ir::op::Gemm;
use snnc_ir::Op;

use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::ImportError;

/// [Gemm](https://onnx.ai/onnx/operators/onnx__Gemm.html), opsets 13–21:
/// `Y = alpha·op(A)·op(B) + beta·C` with `transA`/`transB`; C is optional (opset ≥ 11).
pub(super) fn gemm(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 3)?;
    let g = Gemm {
        alpha: n.attr_float_or("alpha", 1.0)?,
        beta: n.attr_float_or("beta", 1.0)?,
        trans_a: n.attr_bool_or("transA", false)?,
        trans_b: n.attr_bool_or("transB", false)?,
    };
    let mut ids = cx.operands(n, 2)?;
    if let Some(c) = cx.opt_operand(n, 2)? {
        ids.push(c);
    }
    Ok(Out::Node(cx.add(n, Op::Gemm(g), &ids)?))
}

/// [MatMul](https://onnx.ai/onnx/operators/onnx__MatMul.html), opsets 13–21: NumPy matrix
/// product.
pub(super) fn matmul(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let ids = cx.operands(n, 2)?;
    Ok(Out::Node(cx.add(n, Op::MatMul, &ids)?))
}
