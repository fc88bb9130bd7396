//! Per-node simulation state of the stateful ops and their one-step update.

use super::euler::{param, positive_param, Euler, Fire};
use crate::op::delay::DelayLine;
use crate::{IrError, Op, Tensor};

/// The state one stateful node carries from step to step (membrane potentials, synaptic
/// currents, delay history), plus the coefficients derived from its parameters and `dt`.
///
/// Made by [`new_state`]; all zeros at t = 0 and again after [`StepState::reset`].
#[derive(Clone, PartialEq, Debug)]
pub struct StepState {
    shape: Vec<usize>,
    kind: Kind,
}

#[derive(Clone, PartialEq, Debug)]
enum Kind {
    /// LIF, IF (spiking: `fire` is set) and LI, Integrator (output the membrane).
    Membrane {
        euler: Euler,
        fire: Option<Fire>,
        v: Vec<f32>,
    },
    /// CubaLIF: the synaptic current is updated first and drives the membrane.
    Cuba {
        synapse: Euler,
        i_syn: Vec<f32>,
        euler: Euler,
        fire: Fire,
        v: Vec<f32>,
    },
    Delay(DelayLine),
}

/// The initial state of `op` for values of `shape`, or `None` when `op` keeps no state.
///
/// Parameters are broadcast to `shape` (errors name the parameter); time constants must be > 0,
/// every parameter finite, `dt` finite and > 0.
pub fn new_state(op: &Op, shape: &[usize], dt: f32) -> Result<Option<StepState>, IrError> {
    if !op.is_stateful() {
        return Ok(None);
    }
    if !(dt.is_finite() && dt > 0.0) {
        return Err(IrError::Tensor(format!(
            "{}: dt must be finite and > 0, got {dt}",
            op.name()
        )));
    }
    let name = op.name();
    let p = |label: &str, t: &Tensor| param(name, label, t, shape);
    let tau = |label: &str, t: &Tensor| positive_param(name, label, t, shape);
    let n = crate::numel(shape);
    let kind = match op {
        Op::Lif(l) => Kind::Membrane {
            euler: Euler::leaky(
                dt,
                &tau("tau", &l.tau)?,
                &p("r", &l.r)?,
                &p("v_leak", &l.v_leak)?,
            ),
            fire: Some(Fire {
                threshold: p("v_threshold", &l.v_threshold)?,
                v_reset: p("v_reset", &l.v_reset)?,
                mode: l.reset,
            }),
            v: vec![0.0; n],
        },
        Op::CubaLif(c) => {
            let tau_syn = tau("tau_syn", &c.tau_syn)?;
            Kind::Cuba {
                synapse: Euler::leaky(dt, &tau_syn, &p("w_in", &c.w_in)?, &vec![0.0; n]),
                i_syn: vec![0.0; n],
                euler: Euler::leaky(
                    dt,
                    &tau("tau_mem", &c.tau_mem)?,
                    &p("r", &c.r)?,
                    &p("v_leak", &c.v_leak)?,
                ),
                fire: Fire {
                    threshold: p("v_threshold", &c.v_threshold)?,
                    v_reset: p("v_reset", &c.v_reset)?,
                    mode: c.reset,
                },
                v: vec![0.0; n],
            }
        }
        Op::If(f) => Kind::Membrane {
            euler: Euler::integrating(dt, &p("r", &f.r)?),
            fire: Some(Fire {
                threshold: p("v_threshold", &f.v_threshold)?,
                v_reset: p("v_reset", &f.v_reset)?,
                mode: f.reset,
            }),
            v: vec![0.0; n],
        },
        Op::Li(l) => Kind::Membrane {
            euler: Euler::leaky(
                dt,
                &tau("tau", &l.tau)?,
                &p("r", &l.r)?,
                &p("v_leak", &l.v_leak)?,
            ),
            fire: None,
            v: vec![0.0; n],
        },
        Op::Integrator(i) => Kind::Membrane {
            euler: Euler::integrating(dt, &p("r", &i.r)?),
            fire: None,
            v: vec![0.0; n],
        },
        Op::Delay(d) => Kind::Delay(DelayLine::new(&d.delay, shape, dt)?),
        _ => return Ok(None),
    };
    Ok(Some(StepState {
        shape: shape.to_vec(),
        kind,
    }))
}

impl StepState {
    /// Advance one time step with this step's `input` (of the node's shape; integer inputs are
    /// converted to float32 for the neurons) and return the node's output: 0/1 spikes (f32) for
    /// LIF, CubaLIF and IF, the membrane potential for LI and Integrator, the delayed input
    /// (same dtype) for Delay.
    pub fn step(&mut self, input: &Tensor) -> Result<Tensor, IrError> {
        if input.shape() != self.shape.as_slice() {
            return Err(IrError::Tensor(format!(
                "state of shape {:?} stepped with an input of shape {:?}",
                self.shape,
                input.shape()
            )));
        }
        let out = match &mut self.kind {
            Kind::Delay(line) => return line.step(input, &self.shape),
            Kind::Membrane { euler, fire, v } => {
                euler.update(v, &input.to_f32_vec());
                match fire {
                    Some(fire) => fire.fire(v),
                    None => v.clone(),
                }
            }
            Kind::Cuba {
                synapse,
                i_syn,
                euler,
                fire,
                v,
            } => {
                synapse.update(i_syn, &input.to_f32_vec());
                euler.update(v, i_syn);
                fire.fire(v)
            }
        };
        Tensor::from_f32(self.shape.clone(), out)
    }

    /// Back to t = 0: membranes, currents and delay history all zero.
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::Membrane { v, .. } => v.fill(0.0),
            Kind::Cuba { i_syn, v, .. } => {
                i_syn.fill(0.0);
                v.fill(0.0);
            }
            Kind::Delay(line) => line.reset(),
        }
    }

    /// The node's value shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The membrane potentials after the last step (after any reset), for probes and tests;
    /// `None` for Delay.
    pub fn membrane(&self) -> Option<&[f32]> {
        match &self.kind {
            Kind::Membrane { v, .. } | Kind::Cuba { v, .. } => Some(v),
            Kind::Delay(_) => None,
        }
    }

    /// The synaptic currents of a CubaLIF after the last step; `None` for other ops.
    pub fn synaptic_current(&self) -> Option<&[f32]> {
        match &self.kind {
            Kind::Cuba { i_syn, .. } => Some(i_syn),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{CubaLif, Delay, IfNeuron, Integrator, Li, Lif, ResetMode};

    fn f(v: &[f32]) -> Tensor {
        Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap()
    }
    fn s(v: f32) -> Tensor {
        Tensor::scalar_f32(v)
    }
    fn run(state: &mut StepState, input: &[f32], steps: usize) -> Vec<Vec<f32>> {
        (0..steps)
            .map(|_| state.step(&f(input)).unwrap().as_f32().unwrap().to_vec())
            .collect()
    }
    fn lif(reset: ResetMode, r: Tensor, v_reset: f32) -> Op {
        Op::Lif(Lif {
            tau: s(1.0),
            r,
            v_leak: s(0.0),
            v_threshold: f(&[1.0, 1.0]),
            v_reset: s(v_reset),
            reset,
        })
    }

    #[test]
    fn lif_spikes_and_resets_to_value() {
        // dt/tau = 0.5: v ← 0.5·v + 0.5·r·I. Neuron 0 (r = 1): 0.75, 1.125*, 0.875, 1.1875*;
        // neuron 1 (r = 2): 1.5*, 1.625*, 1.625*, 1.625* (reset to 0.25 each time).
        let op = lif(ResetMode::ToValue, f(&[1.0, 2.0]), 0.25);
        let mut st = new_state(&op, &[2], 0.5).unwrap().unwrap();
        let spikes = run(&mut st, &[1.5, 1.5], 4);
        assert_eq!(
            spikes,
            vec![
                vec![0.0, 1.0],
                vec![1.0, 1.0],
                vec![0.0, 1.0],
                vec![1.0, 1.0]
            ]
        );
        assert_eq!(st.membrane().unwrap(), &[0.25, 0.25]);
    }

    #[test]
    fn lif_subtract_reset_keeps_the_excess() {
        // 0.75, 1.125* -> 0.125, 0.8125, 1.15625* -> 0.15625
        let op = lif(ResetMode::Subtract, s(1.0), 0.0);
        let mut st = new_state(&op, &[2], 0.5).unwrap().unwrap();
        let spikes: Vec<f32> = run(&mut st, &[1.5, 1.5], 4).iter().map(|v| v[0]).collect();
        assert_eq!(spikes, vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!(st.membrane().unwrap(), &[0.15625, 0.15625]);
    }

    #[test]
    fn reset_returns_to_t0() {
        let op = lif(ResetMode::ToValue, s(1.0), 0.0);
        let mut st = new_state(&op, &[2], 0.5).unwrap().unwrap();
        let first = run(&mut st, &[1.5, 0.5], 3);
        st.reset();
        assert_eq!(st.membrane().unwrap(), &[0.0, 0.0]);
        assert_eq!(run(&mut st, &[1.5, 0.5], 3), first);
    }

    #[test]
    fn cuba_lif_updates_the_current_first() {
        // alpha_syn = alpha_mem = 0.5, w_in = 2, x = 1:
        // i_syn 1, 1.5, 1.75; v 0.5, 1.0 (not > 1), 1.375* -> 0.
        let op = Op::CubaLif(CubaLif {
            tau_syn: s(2.0),
            tau_mem: s(2.0),
            r: s(1.0),
            v_leak: s(0.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            w_in: s(2.0),
            reset: ResetMode::ToValue,
        });
        let mut st = new_state(&op, &[1], 1.0).unwrap().unwrap();
        let mut trace = Vec::new();
        for _ in 0..3 {
            let out = st.step(&f(&[1.0])).unwrap().as_f32().unwrap()[0];
            let (i, v) = (st.synaptic_current().unwrap()[0], st.membrane().unwrap()[0]);
            trace.push((out, i, v));
        }
        assert_eq!(
            trace,
            vec![(0.0, 1.0, 0.5), (0.0, 1.5, 1.0), (1.0, 1.75, 0.0)]
        );
    }

    #[test]
    fn if_integrates_dt_r_i_and_threshold_is_strict() {
        // dt·r = 0.5, I = 1.5: v 0.75, 1.5* -> 0.5, 1.25* -> 0.25, 1.0 (no spike), 1.75*
        let op = Op::If(IfNeuron {
            r: s(1.0),
            v_threshold: s(1.0),
            v_reset: s(0.0),
            reset: ResetMode::Subtract,
        });
        let mut st = new_state(&op, &[1], 0.5).unwrap().unwrap();
        let spikes: Vec<f32> = run(&mut st, &[1.5], 5).iter().map(|v| v[0]).collect();
        assert_eq!(spikes, vec![0.0, 1.0, 1.0, 0.0, 1.0]);
        assert_eq!(st.membrane().unwrap(), &[0.75]);
    }

    #[test]
    fn li_and_integrator_output_the_membrane() {
        // LI: dt/tau = 0.5, v_leak = 2, I = 0: v ← 0.5·v + 1 -> 1, 1.5, 1.75
        let li = Op::Li(Li {
            tau: s(2.0),
            r: s(1.0),
            v_leak: s(2.0),
        });
        let mut st = new_state(&li, &[1], 1.0).unwrap().unwrap();
        assert_eq!(
            run(&mut st, &[0.0], 3),
            vec![vec![1.0], vec![1.5], vec![1.75]]
        );
        // Integrator: v ← v + dt·r·I with dt·r = 0.5
        let int = Op::Integrator(Integrator { r: s(2.0) });
        let mut st = new_state(&int, &[2], 0.25).unwrap().unwrap();
        assert_eq!(
            run(&mut st, &[1.0, -3.0], 2),
            vec![vec![0.5, -1.5], vec![1.0, -3.0]]
        );
    }

    #[test]
    fn delay_is_a_stateful_op_too() {
        let op = Op::Delay(Delay { delay: s(2e-3) });
        let mut st = new_state(&op, &[1], 1e-3).unwrap().unwrap();
        assert_eq!(
            run(&mut st, &[5.0], 3),
            vec![vec![0.0], vec![0.0], vec![5.0]]
        );
        assert_eq!(st.membrane(), None);
    }

    #[test]
    fn errors_and_stateless_ops() {
        assert_eq!(new_state(&Op::Relu, &[3], 1e-3).unwrap(), None);
        let op = lif(ResetMode::ToValue, s(1.0), 0.0);
        assert!(new_state(&op, &[2], 0.0).is_err());
        assert!(new_state(&op, &[2], f32::NAN).is_err());
        let err = new_state(&op, &[3], 1e-3).unwrap_err().to_string();
        assert!(err.contains("v_threshold"), "{err}");
        let bad_tau = Op::Li(Li {
            tau: s(-1.0),
            r: s(1.0),
            v_leak: s(0.0),
        });
        assert!(new_state(&bad_tau, &[1], 1e-3).is_err());
        let mut st = new_state(&op, &[2], 1e-3).unwrap().unwrap();
        assert!(st.step(&f(&[1.0, 2.0, 3.0])).is_err());
    }
}
