//! How many bits a value really needs: its element type, or the bit width of the quantizer that
//! produced it. A weight stored as f32 behind a QONNX `Quant` of bit width 4 is a 4-bit weight;
//! an i8 constant behind `DequantizeLinear` is an 8-bit one; spikes and ±1 values are 1-bit, and
//! so is a float constant whose values are all `±s` (a folded `BipolarQuant`).

use snnc_ir::{DType, Graph, NodeId, Op};

use crate::passes::canonical::util::is_binary_valued;

/// Bits per element a target stores for `d`: f32 32, i8/u8 8, i16/u16 16, i32/u32 32, i64 64,
/// bool and bin 1.
pub fn dtype_bits(d: DType) -> u32 {
    match d {
        DType::Bool | DType::Bin => 1,
        DType::I8 | DType::U8 => 8,
        DType::I16 | DType::U16 => 16,
        DType::F32 | DType::I32 | DType::U32 => 32,
        DType::I64 => 64,
    }
}

/// Longest chain of value-preserving ops followed back (chains in real models are a few ops).
const MAX_LOOK_THROUGH: usize = 64;

/// The bits per element of the value `id` produces: quantization parameters of its type first,
/// then what the op guarantees (a quantizer's bit width, 1 for spikes and signs), looking back
/// through ops that only move or select values (dequantize, reshape, flatten, clip, max pool).
pub fn value_bits(g: &Graph, id: NodeId) -> u32 {
    let mut id = id;
    for _ in 0..MAX_LOOK_THROUGH {
        let node = g.node(id);
        if let Some(q) = node.ty.as_ref().and_then(|t| t.quant.as_ref()) {
            return u32::from(q.bits);
        }
        let through = match &node.op {
            Op::DequantizeLinear(_) | Op::Reshape(_) | Op::Flatten(_) | Op::Clip(_) => true,
            Op::Pool(p) => p.kind == snnc_ir::op::PoolKind::Max,
            _ => false,
        };
        if through {
            match g.operand(id, 0) {
                Some(src) => {
                    id = src;
                    continue;
                }
                None => break,
            }
        }
        return own_bits(g, id);
    }
    own_bits(g, id)
}

/// Bits of `id`'s value from its own op and type.
fn own_bits(g: &Graph, id: NodeId) -> u32 {
    let node = g.node(id);
    let ty_bits = node.ty.as_ref().map_or(32, |t| dtype_bits(t.dtype));
    match &node.op {
        op if op.is_spiking() => 1,
        Op::BipolarQuant | Op::BinThreshold(_) | Op::Threshold(_) => 1,
        Op::Sign => 2,
        Op::QuantizeLinear(q) => dtype_bits(q.out),
        Op::Requant(r) => dtype_bits(r.out),
        Op::Quant(_) => const_scalar(g, id, 3).unwrap_or(ty_bits),
        Op::Trunc(_) => const_scalar(g, id, 4).unwrap_or(ty_bits),
        Op::Const(t) if is_binary_valued(t) => 1,
        _ => ty_bits,
    }
}

/// A bit width given as a constant scalar input (QONNX `bitwidth`).
fn const_scalar(g: &Graph, id: NodeId, slot: usize) -> Option<u32> {
    let src = g.operand(id, slot)?;
    match &g.node(src).op {
        Op::Const(t) if t.len() == 1 => {
            let v = t.get_f64(0);
            ((1.0..=64.0).contains(&v) && v.fract() == 0.0).then_some(v as u32)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::{DequantizeLinear, Quant, QuantizeLinear, RoundingMode};
    use snnc_ir::{QuantParams, Tensor, TensorType};

    #[test]
    fn quantizers_and_dtypes() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 4]));
        let s = g.add_const("s", Tensor::scalar_f32(0.5));
        let z = g.add_const("z", Tensor::scalar_f32(0.0));
        let b = g.add_const("b", Tensor::scalar_f32(4.0));
        let q = Op::Quant(Quant {
            signed: true,
            narrow: false,
            rounding: RoundingMode::HalfEven,
        });
        let q4 = g.add_node("q4", q, &[x, s, z, b]).unwrap();
        let ql = QuantizeLinear {
            axis: 1,
            out: DType::U8,
        };
        let u8v = g.add_node("ql", Op::QuantizeLinear(ql), &[x, s]).unwrap();
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: 1 });
        let d = g.add_node("dq", dq, &[u8v, s]).unwrap();
        let bq = g.add_node("bq", Op::BipolarQuant, &[x, s]).unwrap();
        assert_eq!(value_bits(&g, x), 32);
        assert_eq!(value_bits(&g, q4), 4);
        assert_eq!(value_bits(&g, d), 8);
        assert_eq!(value_bits(&g, bq), 1);
        let bin = Tensor::from_i64(DType::Bin, vec![2], vec![-1, 1]).unwrap();
        let c = g.add_const("bin", bin);
        assert_eq!(value_bits(&g, c), 1);
        let pm = Tensor::from_f32(vec![3], vec![0.5, -0.5, 0.5]).unwrap();
        let c = g.add_const("pm", pm);
        assert_eq!(value_bits(&g, c), 1);
    }

    #[test]
    fn quant_params_win() {
        let mut g = Graph::new("t");
        let c = g.add_const(
            "w",
            Tensor::from_i64(DType::I8, vec![2], vec![-8, 7]).unwrap(),
        );
        g.node_mut(c).ty.as_mut().unwrap().quant = Some(QuantParams {
            scale: vec![0.1],
            zero_point: vec![0],
            axis: None,
            bits: 4,
            signed: true,
            narrow: false,
        });
        assert_eq!(value_bits(&g, c), 4);
    }
}
