//! Per-neuron forward-Euler coefficients and the spike / reset rule, shared by every neuron op.

use super::ResetMode;
use crate::op::quant::expand;
use crate::{IrError, Tensor};

/// Parameter `name` of op `op` repeated to the neuron `shape`; every value must be finite.
pub(super) fn param(
    op: &str,
    name: &str,
    t: &Tensor,
    shape: &[usize],
) -> Result<Vec<f32>, IrError> {
    let values = expand(&t.to_f32_vec(), t.shape(), shape).ok_or_else(|| {
        IrError::Tensor(format!(
            "{op}: parameter `{name}` of shape {:?} does not broadcast to the neuron shape {shape:?}",
            t.shape()
        ))
    })?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(IrError::Tensor(format!(
            "{op}: parameter `{name}` must be finite, got {bad}"
        )));
    }
    Ok(values)
}

/// As [`param`], and every value must be > 0 (time constants).
pub(super) fn positive_param(
    op: &str,
    name: &str,
    t: &Tensor,
    shape: &[usize],
) -> Result<Vec<f32>, IrError> {
    let values = param(op, name, t, shape)?;
    if let Some(bad) = values.iter().find(|v| **v <= 0.0) {
        return Err(IrError::Tensor(format!(
            "{op}: parameter `{name}` must be > 0, got {bad}"
        )));
    }
    Ok(values)
}

/// One forward-Euler step of a linear first-order ODE, per neuron:
/// `v ← decay·v + (gain·I + bias)`, evaluated in float32 in exactly that order.
#[derive(Clone, PartialEq, Debug)]
pub(super) struct Euler {
    decay: Vec<f32>,
    gain: Vec<f32>,
    bias: Vec<f32>,
}

impl Euler {
    /// `tau·dv/dt = (v_leak − v) + r·I`: with `alpha = dt / tau`, `decay = 1 − alpha`,
    /// `gain = alpha·r`, `bias = alpha·v_leak` (each one float32 operation).
    pub(super) fn leaky(dt: f32, tau: &[f32], r: &[f32], v_leak: &[f32]) -> Self {
        let alpha: Vec<f32> = tau.iter().map(|t| dt / t).collect();
        Euler {
            decay: alpha.iter().map(|a| 1.0 - a).collect(),
            gain: alpha.iter().zip(r).map(|(a, r)| a * r).collect(),
            bias: alpha.iter().zip(v_leak).map(|(a, l)| a * l).collect(),
        }
    }

    /// `dv/dt = r·I`: `decay = 1`, `gain = dt·r`, `bias = 0`, i.e. `v ← v + (dt·r)·I`.
    pub(super) fn integrating(dt: f32, r: &[f32]) -> Self {
        Euler {
            decay: vec![1.0; r.len()],
            gain: r.iter().map(|r| dt * r).collect(),
            bias: vec![0.0; r.len()],
        }
    }

    /// Advance `v` by one step driven by `input` (same length as `v`).
    pub(super) fn update(&self, v: &mut [f32], input: &[f32]) {
        for (i, v) in v.iter_mut().enumerate() {
            *v = self.decay[i] * *v + (self.gain[i] * input[i] + self.bias[i]);
        }
    }
}

/// The threshold and the reset applied after the membrane update of a spiking neuron.
#[derive(Clone, PartialEq, Debug)]
pub(super) struct Fire {
    pub(super) threshold: Vec<f32>,
    pub(super) v_reset: Vec<f32>,
    pub(super) mode: ResetMode,
}

impl Fire {
    /// Spike where `v > threshold` (strictly; NaN never spikes) and reset those neurons.
    /// Returns the spikes as 0.0 / 1.0.
    pub(super) fn fire(&self, v: &mut [f32]) -> Vec<f32> {
        v.iter_mut()
            .enumerate()
            .map(|(i, v)| {
                if *v > self.threshold[i] {
                    *v = match self.mode {
                        ResetMode::ToValue => self.v_reset[i],
                        ResetMode::Subtract => *v - self.threshold[i],
                    };
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snntorch_export_gives_beta_and_unit_gain() {
        // snnTorch beta = 0.9 exported at dt = 1e-4: tau = dt/(1-beta), r = tau/dt, as stored
        // in the float32 arrays of the shared snn_mlp.nir.
        let e = Euler::leaky(1e-4, &[0.000_999_999_7], &[9.999_997], &[0.0]);
        assert_eq!(e.decay, vec![0.9]);
        assert_eq!(e.gain, vec![1.0]);
        assert_eq!(e.bias, vec![0.0]);
    }

    #[test]
    fn leaky_step_is_forward_euler() {
        // alpha = 0.5: v = 0.5·2 + (0.5·3·4 + 0.5·1) = 1 + 6.5
        let e = Euler::leaky(0.5, &[1.0], &[3.0], &[1.0]);
        let mut v = vec![2.0];
        e.update(&mut v, &[4.0]);
        assert_eq!(v, vec![7.5]);
    }

    #[test]
    fn params_broadcast_and_name_themselves() {
        let t = Tensor::from_f32(vec![2, 1], vec![1.0, 2.0]).unwrap();
        assert_eq!(
            param("lif", "tau", &t, &[2, 2]).unwrap(),
            vec![1.0, 1.0, 2.0, 2.0]
        );
        let err = param("lif", "tau", &t, &[3]).unwrap_err().to_string();
        assert!(err.contains("`tau`"), "{err}");
        let zero = Tensor::scalar_f32(0.0);
        let err = positive_param("li", "tau", &zero, &[2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("> 0"), "{err}");
        let nan = Tensor::scalar_f32(f32::NAN);
        assert!(param("if", "r", &nan, &[1]).is_err());
    }
}
