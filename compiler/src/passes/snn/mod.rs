//! Passes for spiking networks (docs/semantics.md §10):
//!
//! - [`quantize`] (`quantize-snn`): a float SNN (Gemm/Conv → LIF/IF layers, as imported from
//!   NIR) to fixed point: integer weights, integer accumulators and [`snnc_ir::op::IntLif`]
//!   neurons whose decay, threshold, reset and bias share the weights' fixed-point scale.
//! - [`ann`] (`ann-to-snn`): a ReLU network to an IF (or LIF) network by data-based threshold
//!   balancing (Diehl 2015, Rueckauer 2017, the SNN Toolbox method).
//!
//! The shared pieces are one file each: [`fixed`] (roundings and fixed-point encodings),
//! [`neuron`] (per-neuron coefficients of LIF/IF), [`synapse`] (the Gemm/Conv feeding a layer)
//! and [`calib`] (calibration data and percentiles).

pub mod ann;
pub mod calib;
pub mod fixed;
pub mod names;
pub mod neuron;
pub mod quantize;
pub mod reset;
pub mod synapse;

#[cfg(test)]
mod testutil;
