//! Per-neuron parameters: the IR's broadcast / per-channel attributes of `requant` and `int_lif`
//! expanded to one i32 value per neuron, so data images and the emulator index them directly.

use snnc_ir::broadcast::expand;
use snnc_ir::op::{IntLif, Requant, ResetMode};
use snnc_ir::Tensor;

use crate::spinnaker2::error::Spinnaker2Error;
use crate::spinnaker2::network::{LifParams, RequantParams, Reset};

/// The i64 values of an integer attribute.
fn values<'t>(t: &'t Tensor, what: &str, node: &str) -> Result<&'t [i64], Spinnaker2Error> {
    t.as_i64().ok_or_else(|| Spinnaker2Error::Invalid {
        what: format!("node `{node}`"),
        reason: format!("attribute `{what}` is not an integer tensor"),
    })
}

/// A value as i32, or the overflow error naming the node, attribute and neuron.
fn to_i32(v: i64, what: &str, i: usize, node: &str) -> Result<i32, Spinnaker2Error> {
    i32::try_from(v).map_err(|_| Spinnaker2Error::Overflow {
        what: format!("`{what}` of node `{node}`"),
        reason: format!("value {v} (neuron {i}) does not fit the target's i32 parameter words"),
    })
}

/// Requant parameters per element of the requant's input `shape` (element i = post neuron i;
/// reshapes never reorder), using the IR's channel rule: element i takes channel
/// `(i / inner) % C`, `inner` the product of the dimensions after `axis`.
pub(super) fn requant(
    r: &Requant,
    shape: &[usize],
    node: &str,
) -> Result<RequantParams, Spinnaker2Error> {
    let m = values(&r.multiplier, "multiplier", node)?;
    let s = values(&r.shift, "shift", node)?;
    let count = m.len().max(1);
    if m.len() != s.len() || (r.multiplier.rank() == 1 && shape.get(r.axis) != Some(&m.len())) {
        return Err(Spinnaker2Error::Invalid {
            what: format!("node `{node}`"),
            reason: format!(
                "per-channel parameters of length {} do not match axis {} of the input shape {:?}",
                m.len(),
                r.axis,
                shape
            ),
        });
    }
    let inner: usize = shape.get(r.axis + 1..).map_or(1, |d| d.iter().product());
    let n = snnc_ir::numel(shape);
    let mut multiplier = Vec::with_capacity(n);
    let mut shift = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i / inner.max(1)) % count;
        let (Some(&mc), Some(&sc)) = (m.get(c), s.get(c)) else {
            return Err(Spinnaker2Error::Invalid {
                what: format!("node `{node}`"),
                reason: format!("channel {c} has no multiplier or shift"),
            });
        };
        multiplier.push(to_i32(mc, "multiplier", i, node)?);
        shift.push(u32::try_from(sc).map_err(|_| Spinnaker2Error::Invalid {
            what: format!("node `{node}`"),
            reason: format!("shift {sc} (neuron {i}) is negative"),
        })?);
    }
    Ok(RequantParams {
        multiplier,
        shift,
        zero_point: to_i32(r.zero_point, "zero_point", 0, node)?,
        lo: to_i32(r.lo, "lo", 0, node)?,
        hi: to_i32(r.hi, "hi", 0, node)?,
    })
}

/// IntLif parameters broadcast (NumPy rules, as the reference) to the neuron `shape`.
pub(super) fn lif(l: &IntLif, shape: &[usize], node: &str) -> Result<LifParams, Spinnaker2Error> {
    let per_neuron = |t: &Tensor, what: &str| -> Result<Vec<i32>, Spinnaker2Error> {
        let v = values(t, what, node)?;
        let full = expand(v, t.shape(), shape).ok_or_else(|| Spinnaker2Error::Invalid {
            what: format!("node `{node}`"),
            reason: format!(
                "parameter `{what}` of shape {:?} does not broadcast to the neurons {:?}",
                t.shape(),
                shape
            ),
        })?;
        full.iter()
            .enumerate()
            .map(|(i, x)| to_i32(*x, what, i, node))
            .collect()
    };
    Ok(LifParams {
        decay: per_neuron(&l.decay, "decay")?,
        bias: per_neuron(&l.bias, "bias")?,
        threshold: per_neuron(&l.threshold, "threshold")?,
        v_reset: per_neuron(&l.v_reset, "v_reset")?,
        frac_bits: u32::from(l.frac_bits),
        state_bits: u32::from(l.state_bits),
        reset: match l.reset {
            ResetMode::ToValue => Reset::ToValue,
            ResetMode::Subtract => Reset::Subtract,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::DType;

    fn t(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(DType::I64, shape.to_vec(), v.to_vec()).unwrap()
    }

    fn rq(m: Tensor, s: Tensor, axis: usize) -> Requant {
        Requant {
            multiplier: m,
            shift: s,
            zero_point: 0,
            axis,
            out: DType::I16,
            lo: -32768,
            hi: 32767,
        }
    }

    #[test]
    fn requant_channels_and_scalars() {
        let r = rq(t(&[3], &[5, 6, 7]), t(&[3], &[1, 2, 3]), 1);
        let p = requant(&r, &[1, 3], "r").unwrap();
        assert_eq!(p.multiplier, vec![5, 6, 7]);
        assert_eq!(p.shift, vec![1, 2, 3]);
        assert_eq!((p.zero_point, p.lo, p.hi), (0, -32768, 32767));
        let r = rq(t(&[], &[9]), t(&[], &[4]), 0);
        let p = requant(&r, &[4], "r").unwrap();
        assert_eq!(p.multiplier, vec![9; 4]);
        assert_eq!(p.shift, vec![4; 4]);
        // Channels along axis 0 of [2, 2]: each channel covers two neurons.
        let r = rq(t(&[2], &[1, 2]), t(&[2], &[0, 0]), 0);
        assert_eq!(
            requant(&r, &[2, 2], "r").unwrap().multiplier,
            vec![1, 1, 2, 2]
        );
        let r = rq(t(&[2], &[1, 2]), t(&[2], &[0, 0]), 0);
        assert!(matches!(
            requant(&r, &[3], "r"),
            Err(Spinnaker2Error::Invalid { .. })
        ));
        let mut r = rq(t(&[], &[1]), t(&[], &[0]), 0);
        r.out = DType::I64;
        r.hi = 1 << 40;
        assert!(matches!(
            requant(&r, &[1], "r"),
            Err(Spinnaker2Error::Overflow { what, .. }) if what == "`hi` of node `r`"
        ));
    }

    #[test]
    fn lif_parameters_broadcast_and_fit_i32() {
        let mut l = IntLif {
            decay: t(&[], &[29491]),
            frac_bits: 15,
            bias: t(&[3], &[-1, 0, 1]),
            threshold: t(&[1, 3], &[10, 20, 30]),
            v_reset: t(&[], &[0]),
            reset: ResetMode::Subtract,
            state_bits: 16,
        };
        let p = lif(&l, &[3], "l").unwrap();
        assert_eq!(p.decay, vec![29491; 3]);
        assert_eq!(p.bias, vec![-1, 0, 1]);
        assert_eq!(p.threshold, vec![10, 20, 30]);
        assert_eq!(p.v_reset, vec![0; 3]);
        assert_eq!(
            (p.frac_bits, p.state_bits, p.reset),
            (15, 16, Reset::Subtract)
        );
        l.threshold = t(&[], &[1 << 33]);
        match lif(&l, &[3], "l") {
            Err(Spinnaker2Error::Overflow { what, reason }) => {
                assert_eq!(what, "`threshold` of node `l`");
                assert!(reason.contains("8589934592 (neuron 0)"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
