//! The per-neuron coefficients of a float LIF or IF node, computed exactly as the reference
//! interpreter computes them (docs/semantics.md §3.2, in f32), so a fixed-point neuron
//! approximates what the float graph really does.

use snnc_ir::op::ResetMode;
use snnc_ir::{IrError, Op, Tensor};

use super::fixed::expand;
use crate::passes::PassError;

/// One spiking layer's update `v ← decay·v + gain·I + drive`, spike when `v > threshold`,
/// then reset, per neuron (row-major over the neuron shape), widened exactly to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronParams {
    /// `lif` or `if`.
    pub kind: &'static str,
    /// `1 ⊖ dt ⊘ tau` (LIF) or exactly 1 (IF).
    pub decay: Vec<f64>,
    /// `(dt ⊘ tau) ⊗ r` (LIF) or `dt ⊗ r` (IF): what one unit of input current adds.
    pub gain: Vec<f64>,
    /// `(dt ⊘ tau) ⊗ v_leak` (LIF) or 0 (IF): the constant drive per step.
    pub drive: Vec<f64>,
    pub threshold: Vec<f64>,
    pub v_reset: Vec<f64>,
    pub reset: ResetMode,
}

/// The coefficients of `op` (a `Lif` or `If` node named `node`) over `shape` at step `dt`;
/// `Ok(None)` for any other op. Parameters that do not broadcast or are not finite, and a
/// LIF whose `dt/tau` lies outside (0, 1] (forward Euler would flip or blow up the membrane,
/// which no fixed-point decay in [0, 1] can express), are errors naming the node.
pub fn neuron_params(
    pass: &str,
    node: &str,
    op: &Op,
    shape: &[usize],
    dt: f32,
) -> Result<Option<NeuronParams>, PassError> {
    let p = |label: &str, t: &Tensor| param(pass, node, op, label, t, shape);
    let params = match op {
        Op::Lif(l) => {
            let tau = p("tau", &l.tau)?;
            let r = p("r", &l.r)?;
            let v_leak = p("v_leak", &l.v_leak)?;
            let mut decay = Vec::with_capacity(tau.len());
            let mut gain = Vec::with_capacity(tau.len());
            let mut drive = Vec::with_capacity(tau.len());
            for ((t, r), leak) in tau.iter().zip(&r).zip(&v_leak) {
                let alpha = dt / t;
                if !(alpha > 0.0 && alpha <= 1.0) {
                    return Err(PassError::not_applicable(
                        pass,
                        format!(
                            "lif `{node}`: dt/tau = {alpha} is outside (0, 1] (dt = {dt}, tau = \
                             {t}); a fixed-point decay must lie in [0, 1]: use a smaller --dt"
                        ),
                    ));
                }
                decay.push(f64::from(1.0 - alpha));
                gain.push(f64::from(alpha * r));
                drive.push(f64::from(alpha * leak));
            }
            NeuronParams {
                kind: "lif",
                decay,
                gain,
                drive,
                threshold: widen(p("v_threshold", &l.v_threshold)?),
                v_reset: widen(p("v_reset", &l.v_reset)?),
                reset: l.reset,
            }
        }
        Op::If(f) => {
            let r = p("r", &f.r)?;
            NeuronParams {
                kind: "if",
                decay: vec![1.0; r.len()],
                gain: r.iter().map(|r| f64::from(dt * r)).collect(),
                drive: vec![0.0; r.len()],
                threshold: widen(p("v_threshold", &f.v_threshold)?),
                v_reset: widen(p("v_reset", &f.v_reset)?),
                reset: f.reset,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(params))
}

fn widen(v: Vec<f32>) -> Vec<f64> {
    v.into_iter().map(f64::from).collect()
}

/// Parameter `label` of the node repeated to `shape`; every value finite.
fn param(
    pass: &str,
    node: &str,
    op: &Op,
    label: &str,
    t: &Tensor,
    shape: &[usize],
) -> Result<Vec<f32>, PassError> {
    let fail = |reason: String| PassError::ir(pass, IrError::node(node, op.name(), reason));
    let values = expand(&t.to_f32_vec(), t.shape(), shape).ok_or_else(|| {
        fail(format!(
            "parameter `{label}` of shape {:?} does not broadcast to the neuron shape {shape:?}",
            t.shape()
        ))
    })?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(fail(format!(
            "parameter `{label}` must be finite, got {bad}"
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::{IfNeuron, Lif};

    fn s(v: f32) -> Tensor {
        Tensor::scalar_f32(v)
    }

    #[test]
    fn snntorch_lif_gives_beta_and_unit_gain() {
        // The shared snn_mlp's parameters at dt = 1e-4 (docs/semantics.md §3.2).
        let op = Op::Lif(Lif {
            tau: s(0.000_999_999_7),
            r: s(9.999_997),
            v_leak: s(0.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: ResetMode::ToValue,
        });
        let p = neuron_params("p", "n", &op, &[2], 1e-4).unwrap().unwrap();
        assert_eq!(p.kind, "lif");
        assert_eq!(p.decay, vec![f64::from(0.9f32); 2]);
        assert_eq!(p.gain, vec![1.0; 2]);
        assert_eq!(p.drive, vec![0.0; 2]);
        assert_eq!(p.threshold, vec![1.0; 2]);
    }

    #[test]
    fn if_neurons_integrate_with_gain_dt_r() {
        let op = Op::If(IfNeuron {
            r: Tensor::from_f32(vec![2], vec![2.0, 4.0]).unwrap(),
            v_threshold: s(1.5),
            v_reset: s(0.0),
            reset: ResetMode::Subtract,
        });
        let p = neuron_params("p", "n", &op, &[1, 2], 0.5).unwrap().unwrap();
        assert_eq!(p.decay, vec![1.0, 1.0]);
        assert_eq!(p.gain, vec![1.0, 2.0]);
        assert_eq!(p.reset, ResetMode::Subtract);
        assert!(neuron_params("p", "n", &Op::Relu, &[2], 0.5)
            .unwrap()
            .is_none());
    }

    #[test]
    fn rejects_unstable_steps_and_bad_shapes() {
        let lif = |tau: f32| {
            Op::Lif(Lif {
                tau: s(tau),
                r: s(1.0),
                v_leak: s(0.0),
                v_threshold: s(1.0),
                v_reset: s(0.0),
                reset: ResetMode::ToValue,
            })
        };
        let e = neuron_params("quantize-snn", "l1", &lif(1e-5), &[2], 1e-4).unwrap_err();
        assert!(matches!(e, PassError::NotApplicable { .. }));
        assert!(e.to_string().contains("`l1`"), "{e}");
        let op = Op::If(IfNeuron {
            r: Tensor::from_f32(vec![3], vec![1.0; 3]).unwrap(),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: ResetMode::ToValue,
        });
        let e = neuron_params("p", "l2", &op, &[2], 1e-4).unwrap_err();
        assert!(e.to_string().contains("`r`"), "{e}");
    }
}
