//! The arguments of `ann-to-snn`.

use snnc_ir::op::ResetMode;

use crate::passes::{PassArgs, PassError};

/// The spiking neuron that replaces each ReLU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Neuron {
    /// Integrate-and-fire (default): exactly the rate-coding assumption of the conversion.
    If,
    /// Leaky integrate-and-fire with time constant `tau` seconds.
    Lif { tau: f32 },
}

/// How the output layer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    /// A spiking output layer, threshold-balanced like the hidden ones: the class is the argmax
    /// of the output spike counts (`snnc sim --reduce sum`).
    Spikes,
    /// An Integrator accumulating the last layer's (unnormalized) output: its membrane after T
    /// steps is ≈ T·logits, the class its argmax (`snnc sim --reduce last`).
    Membrane,
}

/// What `ann-to-snn=...` asked for, validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Percentile of the positive calibration activations that becomes each layer's scale
    /// (`pct=`, in (0, 100], default 99.9; 100 is the maximum, Diehl 2015).
    pub pct: f64,
    pub neuron: Neuron,
    pub readout: Readout,
    /// Reset by subtraction (default, Rueckauer 2017) or to zero (`reset=zero`).
    pub reset: ResetMode,
}

impl Options {
    /// Parse and check the arguments; `dt` (the pass context's step) sets LIF's default
    /// `tau = 100·dt` (decay 0.99 per step).
    pub fn parse(pass: &str, a: &PassArgs, dt: f32) -> Result<Self, PassError> {
        a.check(&[], &["pct", "neuron", "tau", "readout", "reset"])?;
        let pct: f64 = a.get("pct", 99.9)?;
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(PassError::invalid(
                pass,
                format!("`pct={pct}` must lie in (0, 100]"),
            ));
        }
        let neuron_name: String = a.get("neuron", "if".to_string())?;
        let neuron = match neuron_name.as_str() {
            "if" => {
                if a.values.contains_key("tau") {
                    return Err(PassError::invalid(pass, "`tau` needs `neuron=lif`"));
                }
                Neuron::If
            }
            "lif" => {
                let tau: f32 = a.get("tau", 100.0 * dt)?;
                if !(tau.is_finite() && tau >= dt) {
                    return Err(PassError::invalid(
                        pass,
                        format!("`tau={tau}` must be finite and at least dt = {dt}"),
                    ));
                }
                Neuron::Lif { tau }
            }
            other => {
                return Err(PassError::invalid(
                    pass,
                    format!("`neuron={other}`: expected `if` or `lif`"),
                ))
            }
        };
        let readout = match a.get("readout", "spikes".to_string())?.as_str() {
            "spikes" => Readout::Spikes,
            "membrane" => Readout::Membrane,
            other => {
                return Err(PassError::invalid(
                    pass,
                    format!("`readout={other}`: expected `spikes` or `membrane`"),
                ))
            }
        };
        let reset = match a.get("reset", "subtract".to_string())?.as_str() {
            "subtract" => ResetMode::Subtract,
            "zero" => ResetMode::ToValue,
            other => {
                return Err(PassError::invalid(
                    pass,
                    format!("`reset={other}`: expected `subtract` or `zero`"),
                ))
            }
        };
        Ok(Options {
            pct,
            neuron,
            readout,
            reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, PassError> {
        Options::parse("ann-to-snn", &PassArgs::parse("ann-to-snn", text)?, 1e-4)
    }

    #[test]
    fn defaults_and_values() {
        let o = parse("").unwrap();
        assert_eq!(o.pct, 99.9);
        assert_eq!(o.neuron, Neuron::If);
        assert_eq!(o.readout, Readout::Spikes);
        assert_eq!(o.reset, ResetMode::Subtract);
        let o = parse("pct=100:neuron=lif:readout=membrane:reset=zero").unwrap();
        assert_eq!(o.neuron, Neuron::Lif { tau: 100.0 * 1e-4 });
        assert_eq!(o.readout, Readout::Membrane);
        assert_eq!(o.reset, ResetMode::ToValue);
        assert_eq!(
            parse("neuron=lif:tau=0.001").unwrap().neuron,
            Neuron::Lif { tau: 0.001 }
        );
    }

    #[test]
    fn impossible_values_are_invalid() {
        for bad in [
            "pct=0",
            "pct=100.5",
            "pct=-1",
            "pct=x",
            "neuron=izhikevich",
            "tau=0.01",
            "neuron=lif:tau=0",
            "neuron=lif:tau=0.00001",
            "readout=votes",
            "reset=half",
            "if",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, PassError::InvalidArgs { .. }), "{bad}: {e}");
        }
    }
}
