//! The graph rewrite of `quantize-snn`: quantizers (QuantizeLinear, and a Clip for widths
//! narrower than the integer type) after analog graph inputs, then per layer
//! `x → gemm/conv(x, W_q) → [requant] → int_lif`, replacing the float synapse and neuron under
//! their own names.

use std::collections::BTreeMap;

use snnc_ir::op::{Clip, QuantizeLinear};
use snnc_ir::{Graph, NodeId, Op, Tensor};

use super::input::InputQuant;
use super::plan::LayerPlan;
use super::sites::Source;
use crate::passes::snn::names::unique_name;
use crate::passes::PassError;

/// Rewrite `g` with the planned layers; returns the number of nodes added.
pub fn apply(
    pass: &str,
    g: &mut Graph,
    inputs: &[InputQuant],
    layers: &[LayerPlan],
) -> Result<usize, PassError> {
    let ir = |e| PassError::ir(pass, e);
    let mut added = 0;
    let mut quantized: BTreeMap<NodeId, NodeId> = BTreeMap::new();
    for iq in inputs.iter().filter(|iq| iq.insert) {
        let base = g.node(iq.input).name.clone();
        let scale_name = unique_name(g, &format!("{base}.scale"));
        let scale = g.add_const(scale_name, Tensor::scalar_f32(iq.scale));
        let q_name = unique_name(g, &format!("{base}.quant"));
        let op = Op::QuantizeLinear(QuantizeLinear {
            axis: 0,
            out: iq.dtype,
        });
        let mut q = g.add_node(q_name, op, &[iq.input, scale]).map_err(ir)?;
        added += 2;
        if let Some((lo, hi)) = iq.clip() {
            let clip = Op::Clip(Clip {
                min: Some(lo as f64),
                max: Some(hi as f64),
            });
            let name = unique_name(g, &format!("{base}.clip"));
            q = g.add_node(name, clip, &[q]).map_err(ir)?;
            added += 1;
        }
        quantized.insert(iq.input, q);
    }
    for layer in layers {
        let syn = &layer.site.syn;
        if let Source::Analog { input, reader } = layer.site.source {
            if let Some(q) = quantized.get(&input) {
                g.set_operand(reader, 0, *q);
            }
        }
        let data = g.operand(syn.id, 0).ok_or_else(|| {
            PassError::not_applicable(pass, format!("`{}` lost its input", syn.name))
        })?;
        let users = g.users(layer.site.neuron);
        let w_base = g.node(syn.weight_id).name.clone();
        g.remove_node(layer.site.neuron);
        g.remove_node(syn.id);
        for c in [Some(syn.weight_id), syn.bias_id].into_iter().flatten() {
            if g.get(c).is_some() && g.users(c).is_empty() {
                g.remove_node(c);
            }
        }
        let w_name = unique_name(g, &w_base);
        let w = g.add_const(w_name, layer.weight_q.clone());
        let s = g
            .add_node(syn.name.clone(), syn.unscaled_op(), &[data, w])
            .map_err(ir)?;
        let mut current = s;
        added += 2;
        if let Some(r) = &layer.requant {
            let name = unique_name(g, &format!("{}.requant", syn.name));
            current = g.add_node(name, Op::Requant(r.clone()), &[s]).map_err(ir)?;
            added += 1;
        }
        let lif = g
            .add_node(
                layer.neuron_name.clone(),
                Op::IntLif(layer.lif.clone()),
                &[current],
            )
            .map_err(ir)?;
        added += 1;
        for (dst, e) in users {
            g.connect(lif, dst, e.slot, e.recurrent).map_err(ir)?;
        }
        g.infer_types().map_err(ir)?;
    }
    Ok(added)
}
