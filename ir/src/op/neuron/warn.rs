//! Conditions under which a simulation with a given `dt` runs but is probably not what the
//! user meant. They are data for the caller to report, never errors.

use crate::op::delay::Delay;
use crate::{Op, Tensor};

/// Warnings about running `op` with step `dt`: a time constant with `dt/tau` outside (0, 1]
/// (forward Euler then overshoots, oscillates or diverges), and delays that are not whole
/// multiples of `dt` (they are rounded to the nearest step). Empty when all is well.
pub fn dt_warnings(op: &Op, dt: f32) -> Vec<String> {
    let name = op.name();
    if !(dt.is_finite() && dt > 0.0) {
        return vec![format!("{name}: dt = {dt} is not a positive finite step")];
    }
    let mut out = Vec::new();
    let taus: Vec<(&str, &Tensor)> = match op {
        Op::Lif(l) => vec![("tau", &l.tau)],
        Op::CubaLif(c) => vec![("tau_syn", &c.tau_syn), ("tau_mem", &c.tau_mem)],
        Op::Li(l) => vec![("tau", &l.tau)],
        Op::Delay(d) => return delay_warnings(d, dt),
        _ => Vec::new(),
    };
    for (label, tau) in taus {
        let ratios: Vec<f32> = tau.to_f32_vec().iter().map(|t| dt / t).collect();
        let bad: Vec<f32> = ratios
            .iter()
            .copied()
            .filter(|r| !(*r > 0.0 && *r <= 1.0))
            .collect();
        if let (Some(lo), Some(hi)) = (
            bad.iter().copied().reduce(f32::min),
            bad.iter().copied().reduce(f32::max),
        ) {
            out.push(format!(
                "{name}: dt/{label} is outside (0, 1] for {} of {} values (from {lo} to {hi}) \
                 at dt = {dt}; forward Euler will overshoot or diverge",
                bad.len(),
                ratios.len()
            ));
        }
    }
    out
}

fn delay_warnings(d: &Delay, dt: f32) -> Vec<String> {
    let values = d.delay.to_f32_vec();
    let off = values
        .iter()
        .filter(|v| {
            let steps = *v / dt;
            (steps - steps.round_ties_even()).abs() > 1e-3 * steps.abs().max(1.0)
        })
        .count();
    if off == 0 {
        return Vec::new();
    }
    vec![format!(
        "delay: {off} of {} delays are not whole multiples of dt = {dt} and are rounded to the \
         nearest step",
        values.len()
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{CubaLif, Li, ResetMode};

    fn f(v: &[f32]) -> Tensor {
        Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn warns_when_dt_exceeds_tau() {
        let li = Op::Li(Li {
            tau: f(&[1e-3, 5e-5]),
            r: f(&[1.0, 1.0]),
            v_leak: f(&[0.0, 0.0]),
        });
        let w = dt_warnings(&li, 1e-4);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("dt/tau") && w[0].contains("1 of 2"),
            "{}",
            w[0]
        );
        assert!(dt_warnings(&li, 5e-5).is_empty());
        assert_eq!(dt_warnings(&li, 0.0).len(), 1);
    }

    #[test]
    fn cuba_lif_checks_both_time_constants() {
        let op = Op::CubaLif(CubaLif {
            tau_syn: f(&[-1.0]),
            tau_mem: f(&[1e-5]),
            r: f(&[1.0]),
            v_leak: f(&[0.0]),
            v_threshold: f(&[1.0]),
            v_reset: f(&[0.0]),
            w_in: f(&[1.0]),
            reset: ResetMode::ToValue,
        });
        let w = dt_warnings(&op, 1e-4);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("tau_syn") && w[1].contains("tau_mem"));
    }

    #[test]
    fn warns_about_rounded_delays_only() {
        let whole = Op::Delay(Delay {
            delay: f(&[3e-4, 0.0, 1e-3]),
        });
        assert!(dt_warnings(&whole, 1e-4).is_empty());
        let half = Op::Delay(Delay {
            delay: f(&[2.5e-4, 3e-4]),
        });
        let w = dt_warnings(&half, 1e-4);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("1 of 2"), "{}", w[0]);
        assert!(dt_warnings(&Op::Relu, 1e-4).is_empty());
    }
}
