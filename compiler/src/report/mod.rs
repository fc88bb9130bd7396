//! `snnc report`: what a model costs, per layer and in total — parameters, bits per parameter,
//! memory, multiply-accumulates (or synaptic accumulates for spiking layers), weight sparsity,
//! and the arithmetic computation effort (ACE) that PokeBNN (Zhang et al., 2022) defines.
//!
//! Conventions (also stated in every report's `notes`):
//! - Counts are per sample; for stateful (spiking) graphs per sample and time step.
//! - Bits per parameter come from the element type or the quantizer that produced the tensor
//!   ([`bits::value_bits`]): f32 32, int8 8, a 4-bit QONNX/[`snnc_ir::QuantParams`] tensor 4,
//!   binary 1. Memory is `ceil(count · bits / 8)` bytes per tensor.
//! - MACs of Gemm/MatMul: output elements × K; of Conv: output elements × C_in/groups × kernel.
//! - ACE = Σ over MACs of `bits(a) · bits(w)`, the bit widths of the two operands (PokeBNN's
//!   `Σ n_ij · i · j`); a float operand counts as 32 bits.
//! - A layer whose input is spikes does accumulates, not MACs: synaptic ACs = MACs × input spike
//!   rate (spikes per input neuron per step). The rate is measured when calibration data is
//!   given ([`activity`]); otherwise the report gives MACs and the formula.

pub mod activity;
pub mod bits;
pub mod layer;
pub mod macs;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use snnc_ir::{Graph, GraphInfo, IrError, NodeId, Tensor};

use crate::passes::canonical::eval::{const_values, constant_derived};
pub use layer::ParamTensor;

/// One layer of the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerRow {
    pub name: String,
    pub op: &'static str,
    /// Output type, e.g. `f32[1,128]`.
    pub output: String,
    pub params: u64,
    /// Average bits per parameter (0 when there are none).
    pub bits_per_param: f64,
    pub memory_bytes: u64,
    pub macs: u64,
    /// Bits of the data input and of the weights, for layers that do MACs.
    pub act_bits: Option<u32>,
    pub weight_bits: Option<u32>,
    /// Σ over MACs of bits(a)·bits(w).
    pub ace: u64,
    /// The layer's input is spikes: its MACs are really accumulates (ACs).
    pub spike_input: bool,
    /// Synaptic accumulates = MACs × measured input spike rate, when measured.
    pub acs: Option<f64>,
    pub weights: u64,
    pub zero_weights: u64,
    /// Fraction of zero weights (dense and convolution layers).
    pub sparsity: Option<f64>,
    pub tensors: Vec<ParamTensor>,
    /// The node whose spikes feed the layer (for attaching measured rates).
    #[serde(skip)]
    pub spike_source: Option<NodeId>,
}

/// The whole model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Totals {
    pub params: u64,
    pub bits_per_param: f64,
    pub memory_bytes: u64,
    pub macs: u64,
    pub acs: Option<f64>,
    pub ace: u64,
    pub weights: u64,
    pub zero_weights: u64,
    pub sparsity: Option<f64>,
}

/// A model's report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    pub graph: String,
    pub stateful: bool,
    /// What the counts are per: `sample` or `sample per time step`.
    pub per: &'static str,
    pub layers: Vec<LayerRow>,
    pub total: Totals,
    /// The conventions the numbers follow.
    pub notes: Vec<String>,
}

/// Build the report of a verified graph.
pub fn build(g: &Graph, info: &GraphInfo) -> Result<Report, IrError> {
    let derived = constant_derived(g)?;
    let ids: Vec<NodeId> = info
        .order
        .iter()
        .copied()
        .filter(|id| layer::is_layer(g, *id, &derived))
        .collect();
    let weights: Vec<NodeId> = ids
        .iter()
        .filter_map(|id| layer::weight_of(g, *id, &derived))
        .collect();
    let values = const_values(g, &weights)?;
    let mut counted = BTreeSet::new();
    let layers: Vec<LayerRow> = ids
        .iter()
        .map(|id| row(g, *id, &derived, &mut counted, &values))
        .collect();
    let total = totals(&layers);
    let mut notes = vec![
        "MACs: Gemm/MatMul = outputs × K; Conv = outputs × C_in/groups × kernel size".to_string(),
        "ACE = Σ over MACs of bits(activation) × bits(weight) (PokeBNN); float operands count as 32 bits"
            .to_string(),
        "memory = ceil(parameters × bits / 8) bytes per tensor".to_string(),
    ];
    if layers.iter().any(|l| l.spike_input) {
        notes.push(
            "spiking inputs: synaptic ACs = MACs × input spike rate (spikes per input neuron per step)"
                .to_string(),
        );
    }
    Ok(Report {
        graph: g.name.clone(),
        stateful: info.stateful,
        per: if info.stateful {
            "sample per time step"
        } else {
            "sample"
        },
        layers,
        total,
        notes,
    })
}

fn row(
    g: &Graph,
    id: NodeId,
    derived: &BTreeMap<NodeId, bool>,
    counted: &mut BTreeSet<NodeId>,
    values: &BTreeMap<NodeId, Tensor>,
) -> LayerRow {
    let node = g.node(id);
    let tensors = layer::param_tensors(g, id, derived, counted);
    let params: u64 = tensors.iter().map(|t| t.count).sum();
    let bit_sum: u64 = tensors.iter().map(|t| t.count * u64::from(t.bits)).sum();
    let macs = macs::macs(g, id);
    let weight = layer::weight_of(g, id, derived);
    let data = data_input(g, id, weight);
    let act_bits = (macs > 0).then(|| data.map_or(32, |d| bits::value_bits(g, d)));
    let weight_bits = (macs > 0).then(|| weight.map_or(32, |w| bits::value_bits(g, w)));
    let ace = match (act_bits, weight_bits) {
        (Some(a), Some(w)) => macs.saturating_mul(u64::from(a) * u64::from(w)),
        _ => 0,
    };
    let w_value = weight.and_then(|w| values.get(&w));
    let n_weights = w_value.map_or(0, |t| t.len() as u64);
    let zero_weights = w_value.map_or(0, count_zeros);
    let spike_source = if macs > 0 {
        data.and_then(|d| layer::spike_source(g, d))
    } else {
        None
    };
    LayerRow {
        name: node.name.clone(),
        op: node.op.name(),
        output: g.ty(id).to_string(),
        params,
        bits_per_param: ratio(bit_sum, params),
        memory_bytes: tensors.iter().map(|t| t.bytes).sum(),
        macs,
        act_bits,
        weight_bits,
        ace,
        spike_input: spike_source.is_some(),
        acs: None,
        weights: n_weights,
        zero_weights,
        sparsity: (n_weights > 0).then(|| zero_weights as f64 / n_weights as f64),
        tensors,
        spike_source,
    }
}

/// The data (activation) input of a layer: the first input that is not its weight.
fn data_input(g: &Graph, id: NodeId, weight: Option<NodeId>) -> Option<NodeId> {
    g.operands(id)
        .into_iter()
        .map(|(s, _)| s)
        .find(|s| Some(*s) != weight)
}

fn count_zeros(t: &Tensor) -> u64 {
    match t.data() {
        snnc_ir::Data::F32(v) => v.iter().filter(|x| **x == 0.0).count() as u64,
        snnc_ir::Data::I64(v) => v.iter().filter(|x| **x == 0).count() as u64,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn totals(rows: &[LayerRow]) -> Totals {
    let params: u64 = rows.iter().map(|r| r.params).sum();
    let bits: u64 = rows
        .iter()
        .flat_map(|r| &r.tensors)
        .map(|t| t.count * u64::from(t.bits))
        .sum();
    let weights: u64 = rows.iter().map(|r| r.weights).sum();
    let zero_weights: u64 = rows.iter().map(|r| r.zero_weights).sum();
    let acs: Vec<f64> = rows.iter().filter_map(|r| r.acs).collect();
    Totals {
        params,
        bits_per_param: ratio(bits, params),
        memory_bytes: rows.iter().map(|r| r.memory_bytes).sum(),
        macs: rows.iter().map(|r| r.macs).sum(),
        acs: (!acs.is_empty()).then(|| acs.iter().sum()),
        ace: rows.iter().map(|r| r.ace).sum(),
        weights,
        zero_weights,
        sparsity: (weights > 0).then(|| zero_weights as f64 / weights as f64),
    }
}

impl Report {
    /// Attach measured spike rates (spikes per neuron per step, by source node): every layer
    /// fed by spikes gets `ACs = MACs × rate`, and the totals are recomputed.
    pub fn set_spike_rates(&mut self, rates: &BTreeMap<NodeId, f64>, how: &str) {
        for r in &mut self.layers {
            if let Some(rate) = r.spike_source.and_then(|s| rates.get(&s)) {
                r.acs = Some(r.macs as f64 * rate);
            }
        }
        self.total = totals(&self.layers);
        self.notes.push(format!("input spike rates measured {how}"));
    }

    /// The row of the layer called `name`.
    pub fn layer(&self, name: &str) -> Option<&LayerRow> {
        self.layers.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests;
