//! The QDQ bias rule: the float bias of a quantized Conv or Gemm is an int32 tensor at scale
//! `s_x · s_w`.
//!
//! In the QDQ format a Conv/Gemm whose activation and weight both come straight from
//! DequantizeLinear is an integer kernel in disguise; its float bias is applied in the integer
//! accumulator, so it is first quantized to int32 with zero point 0 and scale `s_x · s_w`
//! (computed in f32), rounding half to even. onnxruntime rewrites QDQ graphs this way before
//! running them, and every integer backend must do the same; making the rule explicit in the graph
//! at import keeps the reference interpreter, onnxruntime and snnc's integer targets in agreement
//! (see docs/semantics.md, "QDQ bias").

use snnc_ir::op::{DequantizeLinear, QuantizeLinear};
use snnc_ir::{DType, Graph, IrError, NodeId, Op, Tensor};

/// The constant tensor behind `id`, if `id` is a constant node.
fn const_of(g: &Graph, id: NodeId) -> Option<&Tensor> {
    match &g.node(id).op {
        Op::Const(t) => Some(t),
        _ => None,
    }
}

/// The constant scale of a DequantizeLinear node, if `id` is one with a constant scale.
fn dq_scale(g: &Graph, id: NodeId) -> Option<&Tensor> {
    match g.node(id).op {
        Op::DequantizeLinear(_) => const_of(g, g.operand(id, 1)?),
        _ => None,
    }
}

/// Insert `QuantizeLinear(int32) → DequantizeLinear` on the bias of every Conv/Gemm that meets
/// the rule above. Returns how many biases were rewritten.
pub fn quantize_qdq_biases(g: &mut Graph) -> Result<usize, IrError> {
    let mut rewritten = 0;
    for id in g.topo_order()? {
        if !matches!(g.node(id).op, Op::Conv(_) | Op::Gemm(_)) {
            continue;
        }
        let (Some(x), Some(w), Some(b)) = (g.operand(id, 0), g.operand(id, 1), g.operand(id, 2))
        else {
            continue;
        };
        let (Some(sx), Some(sw), Some(bias)) = (dq_scale(g, x), dq_scale(g, w), const_of(g, b))
        else {
            continue;
        };
        let Some(bias_vals) = bias.as_f32() else {
            continue;
        };
        let (Some(sx_vals), Some(sw_vals)) = (sx.as_f32(), sw.as_f32()) else {
            continue;
        };
        if sx_vals.len() != 1 || !(sw_vals.len() == 1 || sw_vals.len() == bias_vals.len()) {
            continue;
        }
        let scale: Vec<f32> = sw_vals.iter().map(|s| sx_vals[0] * s).collect();
        let scale_shape = if scale.len() == 1 && sw.rank() == 0 {
            vec![]
        } else {
            vec![scale.len()]
        };
        let zeros = vec![0i64; scale.len()];
        let node_name = g.node(id).name.clone();
        let scale_t = Tensor::from_f32(scale_shape.clone(), scale)?;
        let zp_t = Tensor::from_i64(DType::I32, scale_shape, zeros)?;
        let scale_id = g.add_const(format!("{node_name}.bias_scale"), scale_t);
        let zp_id = g.add_const(format!("{node_name}.bias_zero_point"), zp_t);
        // The bias is 1-D, so a per-channel scale runs along axis 0.
        let axis = 0;
        let q = g.add_node(
            format!("{node_name}.bias_quant"),
            Op::QuantizeLinear(QuantizeLinear {
                axis,
                out: DType::I32,
            }),
            &[b, scale_id, zp_id],
        )?;
        let dq = g.add_node(
            format!("{node_name}.bias_dequant"),
            Op::DequantizeLinear(DequantizeLinear { axis }),
            &[q, scale_id, zp_id],
        )?;
        g.set_operand(id, 2, dq);
        rewritten += 1;
    }
    Ok(rewritten)
}
