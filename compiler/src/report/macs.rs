//! Multiply-accumulate counts of the dense and convolution ops, per sample (per time step for
//! stateful graphs: shapes in the IR are per sample).

use snnc_ir::{Graph, NodeId, Op};

/// Multiply-accumulates one evaluation of `id` performs: for Gemm and MatMul, output elements ×
/// the reduction length K; for Conv, output elements × (input channels / groups) × kernel size
/// (padded positions counted, as every MAC-count convention does). Other ops: 0.
pub fn macs(g: &Graph, id: NodeId) -> u64 {
    let out = g.ty(id).numel() as u64;
    let shape = |slot: usize| {
        g.operand(id, slot)
            .map(|s| g.ty(s).shape.clone())
            .unwrap_or_default()
    };
    let k = match &g.node(id).op {
        Op::Gemm(gm) => match (shape(0).as_slice(), gm.trans_a) {
            ([k], _) | ([_, k], false) | ([k, _], true) => *k,
            _ => 0,
        },
        Op::MatMul => shape(0).last().copied().unwrap_or(0),
        Op::Conv(_) => shape(1).iter().skip(1).product(),
        _ => 0,
    };
    out.saturating_mul(k as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::{Conv, Gemm};
    use snnc_ir::{Tensor, TensorType};

    #[test]
    fn dense_and_conv_counts() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 64]));
        let w = g.add_const("w", Tensor::zeros(snnc_ir::DType::F32, vec![10, 64]));
        let gm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        let d = g.add_node("d", Op::Gemm(gm), &[x, w]).unwrap();
        assert_eq!(macs(&g, d), 640);
        let img = g.add_input("img", TensorType::f32(vec![1, 4, 8, 8]));
        let k = g.add_const("k", Tensor::zeros(snnc_ir::DType::F32, vec![6, 2, 3, 3]));
        let conv = Conv {
            stride: vec![1, 1],
            pads: vec![0, 0, 0, 0],
            dilation: vec![1, 1],
            groups: 2,
        };
        let c = g.add_node("c", Op::Conv(conv), &[img, k]).unwrap();
        // out [1,6,6,6] = 216 elements, each 2·3·3 = 18 MACs
        assert_eq!(macs(&g, c), 216 * 18);
        let m = g.add_node("m", Op::MatMul, &[x, w]);
        assert!(m.is_err());
        let wt = g.add_const("wt", Tensor::zeros(snnc_ir::DType::F32, vec![64, 5]));
        let m = g.add_node("m", Op::MatMul, &[x, wt]).unwrap();
        assert_eq!(macs(&g, m), 5 * 64);
        let r = g.add_node("r", Op::Relu, &[x]).unwrap();
        assert_eq!(macs(&g, r), 0);
    }
}
