//! Spiking and integrating neurons (NIR semantics, forward Euler with step `dt`).
//!
//! Parameters are per-neuron tensors; a scalar (shape `[]`) or any shape that broadcasts to the
//! neuron shape is accepted. They stay in continuous time (seconds, ohms): `dt` is chosen when the
//! graph is run or compiled, not when it is imported.
//!
//! Simulation state lives in [`StepState`] (one per stateful node, made by [`new_state`]): every
//! model is reduced to the per-neuron update `v ← decay·v + (gain·I + bias)` with coefficients
//! computed once from `dt` (see `docs/semantics.md`). In that form an exported snnTorch
//! `Leaky` (`v ← beta·v + I`) is reproduced bit for bit at its export `dt`.

mod euler;
mod state;
mod warn;

pub use state::{new_state, StepState};
pub use warn::dt_warnings;

use crate::Tensor;

/// What a neuron's membrane does after it spikes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ResetMode {
    /// `v ← v_reset` (NIR's definition, and snnTorch's `reset_mechanism="zero"` with v_reset 0).
    #[default]
    ToValue,
    /// `v ← v − v_threshold` (snnTorch's `"subtract"`, many hardware kernels).
    Subtract,
}

/// `tau·dv/dt = (v_leak − v) + r·I`; spike when `v > v_threshold`.
#[derive(Clone, PartialEq, Debug)]
pub struct Lif {
    pub tau: Tensor,
    pub r: Tensor,
    pub v_leak: Tensor,
    pub v_threshold: Tensor,
    pub v_reset: Tensor,
    pub reset: ResetMode,
}

/// `tau_syn·dI/dt = −I + w_in·x`, then the membrane as [`Lif`] with `tau_mem`.
#[derive(Clone, PartialEq, Debug)]
pub struct CubaLif {
    pub tau_syn: Tensor,
    pub tau_mem: Tensor,
    pub r: Tensor,
    pub v_leak: Tensor,
    pub v_threshold: Tensor,
    pub v_reset: Tensor,
    pub w_in: Tensor,
    pub reset: ResetMode,
}

/// `dv/dt = r·I`; spike when `v > v_threshold`.
#[derive(Clone, PartialEq, Debug)]
pub struct IfNeuron {
    pub r: Tensor,
    pub v_threshold: Tensor,
    pub v_reset: Tensor,
    pub reset: ResetMode,
}

/// `tau·dv/dt = (v_leak − v) + r·I`; outputs `v`, never spikes.
#[derive(Clone, PartialEq, Debug)]
pub struct Li {
    pub tau: Tensor,
    pub r: Tensor,
    pub v_leak: Tensor,
}

/// `dv/dt = r·I`; outputs `v`.
#[derive(Clone, PartialEq, Debug)]
pub struct Integrator {
    pub r: Tensor,
}
