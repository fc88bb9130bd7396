//! Shape ops (Flatten, Reshape) and the ops that vanish on import (Identity, Dropout).

use snnc_ir::infer::fmt_shape;
use snnc_ir::op::Reshape;
use snnc_ir::Op;

use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::ImportError;

/// [Flatten](https://onnx.ai/onnx/operators/onnx__Flatten.html), opsets 13–21: a Reshape to
/// `[d0·…·d(axis−1), d(axis)·…·d(r−1)]`; `axis` in `[−r, r]`, default 1.
pub(super) fn flatten(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(1, 1)?;
    let axis = n.attr_int_or("axis", 1)?;
    let x = cx.operands(n, 1)?[0];
    let xs = cx.ty(n, x)?.shape.clone();
    let r = xs.len() as i64;
    if axis < -r || axis > r {
        return Err(n.err(format!(
            "attribute `axis` is {axis}, outside [-{r}, {r}] for input shape {}",
            fmt_shape(&xs)
        )));
    }
    let axis = if axis < 0 { axis + r } else { axis } as usize;
    let product = |d: &[usize]| d.iter().try_fold(1usize, |a, b| a.checked_mul(*b));
    let (Some(outer), Some(inner)) = (product(&xs[..axis]), product(&xs[axis..])) else {
        return Err(n.err("the flattened size overflows"));
    };
    let op = Op::Reshape(Reshape {
        shape: vec![outer, inner],
    });
    Ok(Out::Node(cx.add(n, op, &[x])?))
}

/// [Reshape](https://onnx.ai/onnx/operators/onnx__Reshape.html), opsets 13–21: the `shape`
/// input must be a constant; `0` copies the input's dimension (unless `allowzero`, opset ≥ 14),
/// one `-1` takes the remaining element count.
pub(super) fn reshape(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let allow_zero = n.attr_bool_or("allowzero", false)?;
    let shape_name = n.required(1)?.to_string();
    let Some(spec) = cx.const_value(n, &shape_name)? else {
        return Err(n.err(format!(
            "the shape input `{shape_name}` must be a constant (computed shapes are not supported)"
        )));
    };
    if spec.rank() > 1 || spec.dtype().is_float() {
        return Err(n.err(format!(
            "the shape input must be a 1-D integer tensor, got {}{}",
            spec.dtype(),
            fmt_shape(spec.shape())
        )));
    }
    let spec = spec.to_i64_vec().map_err(|e| n.err(e.to_string()))?;
    let x = cx.operands(n, 1)?[0];
    let xs = cx.ty(n, x)?.shape.clone();
    let shape = resolve_shape(&spec, &xs, allow_zero).map_err(|r| n.err(r))?;
    Ok(Out::Node(cx.add(
        n,
        Op::Reshape(Reshape { shape }),
        &[x],
    )?))
}

/// The concrete shape a Reshape `spec` gives an input of shape `input`.
pub(super) fn resolve_shape(
    spec: &[i64],
    input: &[usize],
    allow_zero: bool,
) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &v) in spec.iter().enumerate() {
        let d = match v {
            -1 => {
                if infer_at.is_some() {
                    return Err(format!("shape {spec:?} has more than one -1"));
                }
                infer_at = Some(i);
                1
            }
            0 if !allow_zero => *input.get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?} copies dimension {i} (0), but the input {} has only {} dimensions",
                    fmt_shape(input),
                    input.len()
                )
            })?,
            v if v < 0 => return Err(format!("shape {spec:?} has a negative entry {v}")),
            v => usize::try_from(v).map_err(|_| format!("shape entry {v} is too large"))?,
        };
        out.push(d);
    }
    let count = |s: &[usize]| s.iter().try_fold(1usize, |a, b| a.checked_mul(*b));
    let total = count(input).ok_or("the input's element count overflows")?;
    if let Some(i) = infer_at {
        let known = count(&out).ok_or_else(|| format!("shape {spec:?} overflows"))?;
        if known == 0 || total % known != 0 {
            return Err(format!(
                "cannot infer the -1 of shape {spec:?} for an input of shape {} ({total} elements)",
                fmt_shape(input)
            ));
        }
        if let Some(slot) = out.get_mut(i) {
            *slot = total / known;
        }
    }
    Ok(out)
}

/// [Identity](https://onnx.ai/onnx/operators/onnx__Identity.html), opsets 13–21: bypassed.
pub(super) fn identity(_cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(1, 1)?;
    Ok(Out::Alias(n.required(0)?.to_string()))
}

/// [Dropout](https://onnx.ai/onnx/operators/onnx__Dropout.html), opsets 13–21: bypassed in
/// inference; a `training_mode` input, if given, must be a constant false. The mask output
/// must be unused.
pub(super) fn dropout(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(1, 3)?;
    if let Some(tm) = n.input(2).map(str::to_string) {
        let training = match cx.const_value(n, &tm)? {
            Some(t) if t.len() == 1 => t.get_f64(0) != 0.0,
            _ => true,
        };
        if training {
            return Err(n.err(
                "training_mode must be absent or a constant false: training-mode dropout is not supported",
            ));
        }
    }
    Ok(Out::Alias(n.required(0)?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::resolve_shape;

    #[test]
    fn reshape_specs() {
        assert_eq!(resolve_shape(&[0, -1], &[2, 3, 4], false).unwrap(), [2, 12]);
        assert_eq!(resolve_shape(&[-1, 4], &[2, 3, 4], false).unwrap(), [6, 4]);
        assert_eq!(
            resolve_shape(&[1, 64], &[1, 16, 2, 2], true).unwrap(),
            [1, 64]
        );
        assert_eq!(resolve_shape(&[0, 3], &[0, 3], true).unwrap(), [0, 3]);
        assert!(resolve_shape(&[-1, -1], &[4], false).is_err());
        assert!(resolve_shape(&[-1, 5], &[2, 3], false).is_err());
        assert!(resolve_shape(&[0, 0, 0], &[4, 4], false).is_err());
        assert!(resolve_shape(&[-2], &[4], false).is_err());
        assert!(resolve_shape(&[0, -1], &[0, 3], true).is_err());
    }
}
