//! Measured spike rates: how often each spiking node fires, averaged over calibration samples,
//! time steps and neurons. They turn a spiking layer's MAC count into its synaptic accumulates.

use std::collections::BTreeMap;

use snnc_ir::interp::Interpreter;
use snnc_ir::{Graph, GraphInfo, IrError, NodeId, Op, Tensor};

use crate::npy::Array;

/// Spikes per neuron per step of every spiking node and `bool` graph input, running each
/// calibration sample (`[N, ...]`, direct encoding: the same values every step, as `snnc sim`
/// does by default) for `steps` steps from a zero state. The graph must have one input.
pub fn spike_rates(
    g: &Graph,
    info: &GraphInfo,
    samples: &Array,
    steps: usize,
    dt: f32,
) -> Result<BTreeMap<NodeId, f64>, IrError> {
    let [input] = g.inputs() else {
        return Err(IrError::Graph(
            "spike rates are measured on models with exactly one input".into(),
        ));
    };
    let ty = g.ty(*input).clone();
    let per = ty.numel();
    let n = samples.shape.first().copied().unwrap_or(0);
    if per == 0 || samples.data.len() != n * per {
        return Err(IrError::Graph(format!(
            "calibration samples of shape {:?} do not fit the input {ty}",
            samples.shape
        )));
    }
    let sources: Vec<NodeId> = info
        .order
        .iter()
        .copied()
        .filter(|id| is_source(g, *id))
        .collect();
    let mut sums: BTreeMap<NodeId, f64> = sources.iter().map(|s| (*s, 0.0)).collect();
    let mut it = Interpreter::new(g, info, dt)?;
    for chunk in samples.data.chunks(per) {
        it.reset();
        let x = to_input(chunk, &ty)?;
        for _ in 0..steps {
            it.step(std::slice::from_ref(&x))?;
            for (id, sum) in sums.iter_mut() {
                if let Some(v) = it.value(*id) {
                    *sum += v.to_f32_vec().iter().map(|s| f64::from(*s)).sum::<f64>();
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(id, s)| {
            let count = (n * steps * g.ty(id).numel()).max(1);
            (id, s / count as f64)
        })
        .collect())
}

fn is_source(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    match node.op {
        Op::Input { .. } => node.ty.as_ref().map(|t| t.dtype) == Some(snnc_ir::DType::Bool),
        ref op => op.is_spiking(),
    }
}

fn to_input(values: &[f32], ty: &snnc_ir::TensorType) -> Result<Tensor, IrError> {
    if ty.dtype.is_float() {
        return Tensor::from_f32(ty.shape.clone(), values.to_vec());
    }
    let ints = values.iter().map(|v| v.round() as i64).collect();
    Tensor::from_i64(ty.dtype, ty.shape.clone(), ints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::{IfNeuron, ResetMode};
    use snnc_ir::{verify, TensorType};

    #[test]
    fn integrate_and_fire_rate() {
        // IF with r = 1, threshold 1, reset to 0, driven by dt·r·I per step: input 0.5 at
        // dt = 1 fires every other step (v = 0.5, 1.0 — not > 1 —, 1.5 → spike, ...).
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let one = Tensor::scalar_f32(1.0);
        let op = Op::If(IfNeuron {
            r: one.clone(),
            v_threshold: one,
            v_reset: Tensor::scalar_f32(0.0),
            reset: ResetMode::ToValue,
        });
        let n = g.add_node("if", op, &[x]).unwrap();
        g.add_output("y", n).unwrap();
        let info = verify(&g).unwrap();
        let samples = Array {
            shape: vec![1, 2],
            data: vec![0.5, 0.0],
        };
        let rates = spike_rates(&g, &info, &samples, 6, 1.0).unwrap();
        // neuron 0: v = .5, 1, 1.5 (spike, 0), .5, 1, 1.5 (spike): 2 spikes in 6 steps.
        assert!((rates[&n] - 2.0 / 12.0).abs() < 1e-12, "{rates:?}");
        let bad = Array {
            shape: vec![1, 3],
            data: vec![0.0; 3],
        };
        assert!(spike_rates(&g, &info, &bad, 1, 1.0).is_err());
    }
}
