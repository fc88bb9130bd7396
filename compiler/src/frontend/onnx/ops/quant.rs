//! Quantization: ONNX QuantizeLinear / DequantizeLinear and the QONNX Quant, BipolarQuant and
//! Trunc custom ops.

use snnc_ir::op::{DequantizeLinear, Quant, QuantizeLinear, RoundingMode, Trunc};
use snnc_ir::{DType, NodeId, Op};

use super::Out;
use crate::frontend::onnx::context::{Ctx, Node};
use crate::frontend::onnx::tensor::{elem_type, Elem};
use crate::ImportError;

/// [QuantizeLinear](https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html), opsets 13–21:
/// `saturate(round_half_even(x / scale) + zero_point)`; per tensor or per `axis` (default 1).
/// The output type is the zero point's, else `output_dtype` (opset 21), else uint8. Blocked
/// quantization (`block_size`, opset 21) is not supported.
pub(super) fn quantize_linear(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 3)?;
    check_no_blocks(n)?;
    let ids = linear_operands(cx, n)?;
    let declared = match n.attr_int("output_dtype")? {
        None | Some(0) => None,
        Some(code) => {
            let code = i32::try_from(code).unwrap_or(-1);
            match elem_type(code) {
                Ok(Elem::Int(d)) => Some(d),
                Ok(_) => return Err(n.err("attribute `output_dtype` must be an integer type")),
                Err(e) => return Err(n.err(format!("attribute `output_dtype`: {e}"))),
            }
        }
    };
    let out = match (ids.get(2), declared) {
        (Some(zp), d) => {
            let zd = cx.ty(n, *zp)?.dtype;
            if d.is_some_and(|d| d != zd) {
                return Err(n.err(format!(
                    "attribute `output_dtype` disagrees with the zero point's type {zd}"
                )));
            }
            zd
        }
        (None, Some(d)) => d,
        (None, None) => DType::U8,
    };
    if !matches!(out, DType::U8 | DType::I8 | DType::U16 | DType::I16) {
        return Err(n.err(format!(
            "output type {out} is not supported (uint8, int8, uint16 or int16)"
        )));
    }
    let axis = resolve_axis(cx, n, &ids)?;
    let op = Op::QuantizeLinear(QuantizeLinear { axis, out });
    Ok(Out::Node(cx.add(n, op, &ids)?))
}

/// [DequantizeLinear](https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html), opsets
/// 13–21: `(x − zero_point) · scale`, per tensor or per `axis` (default 1); no `block_size`.
pub(super) fn dequantize_linear(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 3)?;
    check_no_blocks(n)?;
    let ids = linear_operands(cx, n)?;
    let axis = resolve_axis(cx, n, &ids)?;
    let op = Op::DequantizeLinear(DequantizeLinear { axis });
    Ok(Out::Node(cx.add(n, op, &ids)?))
}

fn check_no_blocks(n: &Node) -> Result<(), ImportError> {
    match n.attr_int_or("block_size", 0)? {
        0 => Ok(()),
        b => Err(n.err(format!(
            "blocked quantization (block_size {b}) is not supported"
        ))),
    }
}

/// x, scale and the optional zero point.
fn linear_operands(cx: &mut Ctx, n: &Node) -> Result<Vec<NodeId>, ImportError> {
    let mut ids = cx.operands(n, 2)?;
    if let Some(zp) = cx.opt_operand(n, 2)? {
        ids.push(zp);
    }
    Ok(ids)
}

/// `axis` made non-negative against x's rank. A per-tensor scale ignores the axis, so an axis
/// outside the rank (a scalar x with the default 1) is then accepted as 0.
fn resolve_axis(cx: &Ctx, n: &Node, ids: &[NodeId]) -> Result<usize, ImportError> {
    let axis = n.attr_int_or("axis", 1)?;
    let (Some(x), Some(scale)) = (ids.first(), ids.get(1)) else {
        return Err(n.err("x and scale are required"));
    };
    let r = cx.ty(n, *x)?.rank() as i64;
    if (-r..r).contains(&axis) {
        return Ok(if axis < 0 { axis + r } else { axis } as usize);
    }
    if cx.ty(n, *scale)?.numel() == 1 {
        return Ok(0);
    }
    Err(n.err(format!(
        "attribute `axis` is {axis}, outside [-{r}, {r}) for an input of rank {r}"
    )))
}

/// [QONNX Quant](https://github.com/fastmachinelearning/qonnx/blob/main/docs/qonnx-custom-ops/intquant_v1.md)
/// (also `IntQuant`), opset 1: inputs x, scale, zeropt, bitwidth; attributes `signed`
/// (default 1), `narrow` (default 0), `rounding_mode` (default ROUND).
pub(super) fn quant(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(4, 4)?;
    let q = Quant {
        signed: n.attr_bool_or("signed", true)?,
        narrow: n.attr_bool_or("narrow", false)?,
        rounding: rounding(n, "ROUND")?,
    };
    let ids = cx.operands(n, 4)?;
    Ok(Out::Node(cx.add(n, Op::Quant(q), &ids)?))
}

/// [QONNX BipolarQuant](https://github.com/fastmachinelearning/qonnx/blob/main/docs/qonnx-custom-ops/bipolarquant_v1.md),
/// opset 1: inputs x, scale; `(x ≥ 0 ? +1 : −1) · scale`.
pub(super) fn bipolar_quant(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(2, 2)?;
    let ids = cx.operands(n, 2)?;
    Ok(Out::Node(cx.add(n, Op::BipolarQuant, &ids)?))
}

/// [QONNX Trunc](https://github.com/fastmachinelearning/qonnx/blob/main/docs/qonnx-custom-ops/trunc_v1.md),
/// opset 1 inputs (x, scale, zeropt, in_bitwidth, out_bitwidth) with the opset-2 attributes
/// `signed`, `narrow` and `rounding_mode` (default FLOOR). The opset-2 form with an `out_scale`
/// input is reported as unsupported.
pub(super) fn trunc(cx: &mut Ctx, n: &mut Node) -> Result<Out, ImportError> {
    n.check_inputs(5, 6)?;
    if n.n_inputs() == 6 {
        return Ok(Out::Unsupported(
            "with an out_scale input (QONNX opset 2)".into(),
        ));
    }
    let t = Trunc {
        signed: n.attr_bool_or("signed", true)?,
        narrow: n.attr_bool_or("narrow", false)?,
        rounding: rounding(n, "FLOOR")?,
    };
    let ids = cx.operands(n, 5)?;
    Ok(Out::Node(cx.add(n, Op::Trunc(t), &ids)?))
}

/// The `rounding_mode` attribute (case-insensitive, as QONNX reads it).
fn rounding(n: &Node, default: &str) -> Result<RoundingMode, ImportError> {
    let mode = n
        .attr_string("rounding_mode")?
        .unwrap_or_else(|| default.into());
    parse_rounding(&mode).ok_or_else(|| {
        n.err(format!(
            "attribute `rounding_mode` is `{mode}`, expected ROUND, CEIL, FLOOR, ROUND_TO_ZERO, HALF_UP, HALF_DOWN, UP or DOWN"
        ))
    })
}

/// QONNX rounding mode names → IR rounding. ROUND is NumPy's `round` (half to even); UP and
/// DOWN round away from / toward zero; HALF_UP / HALF_DOWN break ties away from / toward zero.
pub(super) fn parse_rounding(mode: &str) -> Option<RoundingMode> {
    Some(match mode.to_ascii_uppercase().as_str() {
        "ROUND" | "HALF_EVEN" => RoundingMode::HalfEven,
        "CEIL" => RoundingMode::Ceil,
        "FLOOR" => RoundingMode::Floor,
        "ROUND_TO_ZERO" | "DOWN" => RoundingMode::TowardZero,
        "UP" => RoundingMode::AwayFromZero,
        "HALF_UP" => RoundingMode::HalfUp,
        "HALF_DOWN" => RoundingMode::HalfDown,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_names() {
        assert_eq!(parse_rounding("ROUND"), Some(RoundingMode::HalfEven));
        assert_eq!(parse_rounding("floor"), Some(RoundingMode::Floor));
        assert_eq!(parse_rounding("DOWN"), Some(RoundingMode::TowardZero));
        assert_eq!(
            parse_rounding("ROUND_TO_ZERO"),
            Some(RoundingMode::TowardZero)
        );
        assert_eq!(parse_rounding("UP"), Some(RoundingMode::AwayFromZero));
        assert_eq!(parse_rounding("HALF_UP"), Some(RoundingMode::HalfUp));
        assert_eq!(parse_rounding("HALF_DOWN"), Some(RoundingMode::HalfDown));
        assert_eq!(parse_rounding("CEIL"), Some(RoundingMode::Ceil));
        assert_eq!(parse_rounding("NEAREST"), None);
    }
}
