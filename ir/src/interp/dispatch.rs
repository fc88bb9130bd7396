//! One op's value from its input values: the table from [`Op`] to the reference semantics in
//! each op family's file. Stateful ops are stepped by the interpreter, not here.

use crate::op::{conv, elementwise as ew, int, linear, pool, quant, shape};
use crate::{IrError, Op, Tensor};

use super::num::arg;

/// Evaluate a stateless op. Errors carry no node context yet; the caller adds it.
pub(crate) fn eval_stateless(op: &Op, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let x = || arg(inputs, 0);
    match op {
        Op::Output { .. } => Ok(x()?.clone()),
        Op::Const(t) => Ok(t.clone()),
        Op::Gemm(g) => linear::eval_gemm(g, inputs),
        Op::MatMul => linear::eval_matmul(inputs),
        Op::Conv(c) => conv::eval(c, inputs),
        Op::Pool(p) => pool::eval(p, x()?),
        Op::Flatten(f) => shape::eval_flatten(f, x()?),
        Op::Reshape(r) => shape::eval_reshape(r, x()?),
        Op::Add => ew::eval_add(inputs),
        Op::Mul => ew::eval_mul(inputs),
        Op::Relu => ew::eval_relu(x()?),
        Op::Clip(c) => ew::eval_clip(c, x()?),
        Op::Sign => ew::eval_sign(x()?),
        Op::BatchNorm(b) => ew::eval_batchnorm(b, inputs),
        Op::Threshold(t) => ew::eval_threshold(t, x()?),
        Op::Quant(q) => quant::eval_quant(q, inputs),
        Op::BipolarQuant => quant::eval_bipolar_quant(inputs),
        Op::Trunc(t) => quant::eval_trunc(t, inputs),
        Op::QuantizeLinear(q) => quant::eval_quantize_linear(q, inputs),
        Op::DequantizeLinear(q) => quant::eval_dequantize_linear(q, inputs),
        Op::Requant(r) => int::eval_requant(r, x()?),
        Op::BinThreshold(b) => int::eval_bin_threshold(b, x()?),
        Op::Input { .. }
        | Op::Lif(_)
        | Op::CubaLif(_)
        | Op::If(_)
        | Op::Li(_)
        | Op::Integrator(_)
        | Op::Delay(_)
        | Op::IntLif(_) => Err(IrError::Tensor(format!(
            "`{}` is not a stateless op (interpreter bug)",
            op.name()
        ))),
    }
}
