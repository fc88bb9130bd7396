//! Elementwise ops: Add, Mul, Sub, Div, Relu, Sign, Clip, BatchNormalization.

use snnc_ir::op::{BatchNorm, Clip};
use snnc_ir::{Data, Op, Tensor};

use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::ImportError;

/// [Add](https://onnx.ai/onnx/operators/onnx__Add.html), opsets 13–21, NumPy broadcasting.
pub(super) fn add(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    binary(cx, n, Op::Add)
}

/// [Mul](https://onnx.ai/onnx/operators/onnx__Mul.html), opsets 13–21, NumPy broadcasting.
pub(super) fn mul(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    binary(cx, n, Op::Mul)
}

fn binary(cx: &mut Ctx, n: &mut Node, op: Op) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let ids = cx.operands(n, 2)?;
    Ok(Out::Node(cx.add(n, op, &ids)?))
}

/// [Sub](https://onnx.ai/onnx/operators/onnx__Sub.html), opsets 13–21, when one side is a
/// constant: `a − c` becomes `a + (−c)`; `c − b` (float `b`) becomes `(b · −1) + c`. Two
/// computed operands are reported as unsupported.
pub(super) fn sub(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let (a_name, b_name) = (n.required(0)?.to_string(), n.required(1)?.to_string());
    if let Some(b) = cx.const_value(n, &b_name)? {
        let Some(neg) = negate(&b) else {
            return Ok(Out::Unsupported(
                "of an integer constant whose negation leaves its type".into(),
            ));
        };
        let a = cx.operand(n, &a_name)?;
        let c = cx.add_const(&format!("{b_name}/neg"), neg);
        return Ok(Out::Node(cx.add(n, Op::Add, &[a, c])?));
    }
    if cx.const_value(n, &a_name)?.is_some() {
        let b = cx.operand(n, &b_name)?;
        if !cx.ty(n, b)?.dtype.is_float() {
            return Ok(Out::Unsupported(
                "of a computed integer tensor from a constant".into(),
            ));
        }
        let minus_one = cx.add_const(&format!("{}/minus_one", n.name), Tensor::scalar_f32(-1.0));
        let neg_name = cx.unique(&format!("{}/neg", n.name));
        let neg = cx.add_named(neg_name, Op::Mul, &[b, minus_one])?;
        let a = cx.operand(n, &a_name)?;
        return Ok(Out::Node(cx.add(n, Op::Add, &[neg, a])?));
    }
    Ok(Out::Unsupported("of two computed tensors".into()))
}

/// `-t`, or `None` when an integer value's negation is outside the dtype (unsigned types).
fn negate(t: &Tensor) -> Option<Tensor> {
    match t.data() {
        Data::F32(v) => Tensor::from_f32(t.shape().to_vec(), v.iter().map(|x| -x).collect()).ok(),
        Data::I64(v) => {
            let neg: Option<Vec<i64>> = v.iter().map(|x| x.checked_neg()).collect();
            Tensor::from_i64(t.dtype(), t.shape().to_vec(), neg?).ok()
        }
    }
}

/// [Div](https://onnx.ai/onnx/operators/onnx__Div.html), opsets 13–21, by a float constant:
/// `a / c` becomes `a · (1/c)` (exact for powers of two, within one rounding otherwise).
/// Integer division and computed divisors are reported as unsupported.
pub(super) fn div(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let (a_name, b_name) = (n.required(0)?.to_string(), n.required(1)?.to_string());
    let Some(b) = cx.const_value(n, &b_name)? else {
        return Ok(Out::Unsupported("by a computed divisor".into()));
    };
    let Some(divisor) = b.as_f32() else {
        return Ok(Out::Unsupported("of integers".into()));
    };
    if let Some(i) = divisor.iter().position(|x| *x == 0.0) {
        return Err(n.err(format!("divisor `{b_name}` is 0 at index {i}")));
    }
    let recip: Vec<f32> = divisor.iter().map(|x| 1.0 / x).collect();
    if let Some(i) = recip.iter().position(|x| !x.is_finite()) {
        return Err(n.err(format!(
            "divisor `{b_name}` at index {i} is too small: its reciprocal overflows f32"
        )));
    }
    let recip = Tensor::from_f32(b.shape().to_vec(), recip).map_err(|e| n.err(e.to_string()))?;
    let a = cx.operand(n, &a_name)?;
    let c = cx.add_const(&format!("{b_name}/reciprocal"), recip);
    Ok(Out::Node(cx.add(n, Op::Mul, &[a, c])?))
}

/// [Relu](https://onnx.ai/onnx/operators/onnx__Relu.html), opsets 13–21.
pub(super) fn relu(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    unary(cx, n, Op::Relu)
}

/// [Sign](https://onnx.ai/onnx/operators/onnx__Sign.html), opsets 13–21.
pub(super) fn sign(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    unary(cx, n, Op::Sign)
}

fn unary(cx: &mut Ctx, n: &mut Node, op: Op) -> Result<Out, ImportError> {
    n.check_inputs(1, 1)?;
    let x = cx.operands(n, 1)?[0];
    Ok(Out::Node(cx.add(n, op, &[x])?))
}

/// [Clip](https://onnx.ai/onnx/operators/onnx__Clip.html), opsets 13–21: `min`/`max` from
/// inputs 1 and 2 (or the pre-opset-11 attributes); they must be constant single values. Bounds
/// are kept as f64, so integer bounds of an integer Clip stay exact.
pub(super) fn clip(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(1, 3)?;
    let min = bound(cx, n, 1, "min")?;
    let max = bound(cx, n, 2, "max")?;
    let x = cx.operands(n, 1)?[0];
    Ok(Out::Node(cx.add(n, Op::Clip(Clip { min, max }), &[x])?))
}

fn bound(cx: &mut Ctx, n: &Node, slot: usize, what: &str) -> Result<Option<f64>, ImportError> {
    let Some(name) = n.input(slot).map(str::to_string) else {
        return Ok(match n.attr_float(what)? {
            Some(v) if v.is_finite() => Some(v as f64),
            Some(v) => return Err(n.err(format!("attribute `{what}` is {v}"))),
            None => None,
        });
    };
    match cx.const_value(n, &name)? {
        Some(t) if t.len() == 1 => Ok(Some(t.get_f64(0))),
        Some(t) => Err(n.err(format!(
            "`{what}` ({name}) must hold one value, it has shape {:?}",
            t.shape()
        ))),
        None => Err(n.err(format!(
            "`{what}` ({name}) must be a constant (computed bounds are not supported)"
        ))),
    }
}

/// [BatchNormalization](https://onnx.ai/onnx/operators/onnx__BatchNormalization.html),
/// opsets 13–21, inference mode only (`training_mode` 0; the running-statistics outputs must be
/// unused): inputs X, scale, B, mean, var; `epsilon` (default 1e-5).
pub(super) fn batch_norm(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(5, 5)?;
    if n.attr_bool_or("training_mode", false)? {
        return Err(n.err("training_mode = 1 is not supported (inference only)"));
    }
    let epsilon = n.attr_float_or("epsilon", 1e-5)?;
    let ids = cx.operands(n, 5)?;
    Ok(Out::Node(cx.add(
        n,
        Op::BatchNorm(BatchNorm { epsilon }),
        &ids,
    )?))
}
