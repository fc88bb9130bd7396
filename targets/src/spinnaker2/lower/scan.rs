//! The first check of the lowering: every op the target cannot run at all, with the reason and
//! what to do instead, all reported together (in node id order).

use snnc_ir::{Graph, Op};

use crate::spinnaker2::error::Unsupported;

/// Why spinnaker2 refuses graphs that are not integer and spiking.
const RUN_PASSES: &str =
    "spinnaker2 runs integer spiking graphs; run quantize-snn first (ann-to-snn before it for ReLU networks)";

/// Every node whose op the target cannot run, in node id order.
pub(super) fn unsupported_ops(g: &Graph) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for id in g.node_ids() {
        let node = g.node(id);
        let float = node.ty.as_ref().is_some_and(|t| t.dtype.is_float());
        if let Some(reason) = reason(&node.op, float) {
            out.push(Unsupported {
                node: node.name.clone(),
                op: node.op.name().to_string(),
                reason,
            });
        }
    }
    out
}

/// Why `op` (producing a float value when `float`) cannot run, or `None` when the structural
/// lowering decides.
fn reason(op: &Op, float: bool) -> Option<String> {
    let r = match op {
        Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::QuantizeLinear(_) => return None,
        // Float reshapes may sit between the float input and its quantize_linear.
        Op::Reshape(_) | Op::Flatten(_) => return None,
        Op::Gemm(_) | Op::MatMul | Op::Add | Op::Requant(_) | Op::IntLif(_) | Op::Delay(_) => {
            if !float {
                return None;
            }
            format!("float arithmetic: {RUN_PASSES}")
        }
        Op::Lif(_) | Op::CubaLif(_) | Op::If(_) => {
            format!("float spiking neuron: {RUN_PASSES} (it turns these into int_lif)")
        }
        Op::Li(_) | Op::Integrator(_) => {
            "non-spiking neuron (its output is a membrane potential); spinnaker2 PEs exchange \
             spikes only, so every layer must end in a spiking neuron"
                .to_string()
        }
        Op::Conv(_) => "convolution layers are not supported by the spinnaker2 lowering (dense \
                        gemm layers only); flatten the model to dense layers"
            .to_string(),
        Op::Pool(_) => "pooling layers are not supported by the spinnaker2 lowering (dense gemm \
                        layers only)"
            .to_string(),
        Op::BinThreshold(_) => "binary ±1 activations are not spikes; spinnaker2 runs int_lif \
                                spiking layers (convert with ann-to-snn, then quantize-snn)"
            .to_string(),
        Op::Relu | Op::Clip(_) | Op::BatchNorm(_) | Op::Sign | Op::Mul | Op::Threshold(_) => {
            format!("ANN op: {RUN_PASSES}")
        }
        Op::Quant(_) | Op::BipolarQuant | Op::Trunc(_) | Op::DequantizeLinear(_) => {
            format!("float quantization op: {RUN_PASSES}")
        }
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::{DType, Tensor, TensorType};

    #[test]
    fn lists_every_refused_node_with_its_reason() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![4]));
        let r = g.add_node("act", Op::Relu, &[x]).unwrap();
        let w = g.add_const("w", Tensor::from_f32(vec![4, 4], vec![0.5; 16]).unwrap());
        let mm = g.add_node("mm", Op::MatMul, &[r, w]).unwrap();
        g.add_output("y", mm).unwrap();
        let got = unsupported_ops(&g);
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|u| (u.node.as_str(), u.op.as_str()))
            .collect();
        assert_eq!(names, vec![("act", "relu"), ("mm", "matmul")]);
        assert!(got[0].reason.starts_with("ANN op: spinnaker2 runs integer"));
        assert!(got[1].reason.starts_with("float arithmetic"));
        // An integer matmul is left to the structural lowering.
        assert_eq!(reason(&Op::MatMul, false), None);
        assert_eq!(
            reason(&Op::Const(Tensor::zeros(DType::I8, vec![1])), false),
            None
        );
    }
}
