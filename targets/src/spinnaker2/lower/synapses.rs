//! One projection from a [`Term`]: the weight matrix as sparse rows by pre neuron, the weight
//! width, the requant parameters, the delay, and the accumulator overflow proof.

use std::collections::BTreeSet;

use snnc_ir::{Graph, Op};

use super::params;
use super::trace::Term;
use crate::spinnaker2::error::Spinnaker2Error;
use crate::spinnaker2::network::{Projection, RequantParams, SparseRows};

/// Accumulators are i32: every partial sum must stay below this in magnitude.
const ACC_LIMIT: u128 = 1 << 31;

/// Population sizes at both ends of a projection, and the post population's name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes<'a> {
    pub pre: usize,
    pub post: usize,
    pub post_name: &'a str,
}

/// Projection names handed out so far: a gemm reached twice (fan-out of one requant to two
/// neurons, or an add of a value with itself) still gets unique names.
#[derive(Debug, Default)]
pub(super) struct Names(BTreeSet<String>);

impl Names {
    fn unique(&mut self, base: &str, post: &str) -> String {
        let mut name = base.to_string();
        if self.0.contains(&name) {
            name = format!("{base}->{post}");
        }
        let mut i = 2;
        let stem = name.clone();
        while self.0.contains(&name) {
            name = format!("{stem}#{i}");
            i += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

/// Signed bits needed to hold `w` (two's complement): 1 for 0 and −1, 8 for −128..=127.
pub(super) fn signed_bits(w: i64) -> u32 {
    let magnitude = if w < 0 { !w } else { w };
    65 - magnitude.leading_zeros()
}

/// The projection of `term`; `pre`/`post`/`payload` are filled in by the caller.
pub(super) fn projection(
    g: &Graph,
    term: &Term,
    sizes: Sizes<'_>,
    max_abs_payload: u64,
    names: &mut Names,
) -> Result<Projection, Spinnaker2Error> {
    let gemm = &g.node(term.gemm).name;
    let invalid = |reason: String| Spinnaker2Error::Invalid {
        what: format!("node `{gemm}`"),
        reason,
    };
    let Op::Const(w) = &g.node(term.weights).op else {
        return Err(invalid("the weights are not a constant".into()));
    };
    let data = w
        .as_i64()
        .ok_or_else(|| invalid("the weights are not integers".into()))?;
    let (k, n) = match (w.shape(), term.trans_b) {
        ([r, c], false) => (*r, *c),
        ([r, c], true) => (*c, *r),
        _ => return Err(invalid(format!("weights of shape {:?}", w.shape()))),
    };
    if k != sizes.pre || n != sizes.post {
        return Err(invalid(format!(
            "weights {k}x{n} (pre x post) do not connect {} pre to {} post neurons",
            sizes.pre, sizes.post
        )));
    }
    let at = |pre: usize, post: usize| {
        let i = if term.trans_b {
            post * k + pre
        } else {
            pre * n + post
        };
        data.get(i).copied().unwrap_or(0)
    };
    let mut rows = SparseRows {
        offsets: Vec::with_capacity(k + 1),
        post: Vec::new(),
        weight: Vec::new(),
    };
    let mut column_abs = vec![0u128; n];
    let mut weight_bits = 1;
    rows.offsets.push(0);
    for pre in 0..k {
        for (post, col) in column_abs.iter_mut().enumerate() {
            let v = at(pre, post);
            if v == 0 {
                continue;
            }
            let weight = i16::try_from(v).map_err(|_| Spinnaker2Error::Overflow {
                what: format!("weights of node `{gemm}`"),
                reason: format!(
                    "weight {v} (pre {pre}, post {post}) does not fit the target's i16 synapse \
                     weights"
                ),
            })?;
            let post_index = u32::try_from(post)
                .map_err(|_| invalid(format!("post neuron {post} does not fit u32")))?;
            weight_bits = weight_bits.max(signed_bits(v));
            *col += u128::from(v.unsigned_abs());
            rows.post.push(post_index);
            rows.weight.push(i32::from(weight));
        }
        rows.offsets.push(rows.post.len() as u64);
    }
    if let Some((post, sum)) = column_abs
        .iter()
        .enumerate()
        .find(|(_, s)| **s * u128::from(max_abs_payload) >= ACC_LIMIT)
    {
        return Err(Spinnaker2Error::Overflow {
            what: format!("the i32 accumulator of node `{gemm}`"),
            reason: format!(
                "post neuron {post}: sum |w| = {sum} times max |input| = {max_abs_payload} is \
                 {} >= 2^31",
                sum * u128::from(max_abs_payload)
            ),
        });
    }
    let requant = requant_params(g, term)?;
    let extra = u64::from(term.recurrent.saturating_sub(1)).saturating_add(term.delay);
    let extra_delay = u32::try_from(extra).map_err(|_| Spinnaker2Error::Unschedulable {
        what: format!("projection `{gemm}`"),
        reason: format!("{extra} steps of delay"),
    })?;
    Ok(Projection {
        name: names.unique(gemm, sizes.post_name),
        pre: 0,
        post: 0,
        recurrent: term.recurrent > 0,
        extra_delay,
        rows,
        weight_bits,
        requant,
        payload: false,
    })
}

/// The requant of the term, per post neuron.
fn requant_params(g: &Graph, term: &Term) -> Result<RequantParams, Spinnaker2Error> {
    let node = g.node(term.requant);
    let Op::Requant(r) = &node.op else {
        return Err(Spinnaker2Error::Invalid {
            what: format!("node `{}`", node.name),
            reason: "is not a requant".into(),
        });
    };
    let shape = g
        .operand(term.requant, 0)
        .and_then(|src| g.node(src).ty.as_ref())
        .map(|t| t.shape.clone())
        .ok_or_else(|| Spinnaker2Error::Invalid {
            what: format!("node `{}`", node.name),
            reason: "its input has no type".into(),
        })?;
    params::requant(r, &shape, &node.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_of_signed_weights() {
        let cases = [
            (0, 1),
            (-1, 1),
            (1, 2),
            (127, 8),
            (-128, 8),
            (128, 9),
            (-129, 9),
            (2047, 12),
            (-32768, 16),
        ];
        for (w, bits) in cases {
            assert_eq!(signed_bits(w), bits, "{w}");
        }
    }

    #[test]
    fn names_stay_unique() {
        let mut n = Names::default();
        assert_eq!(n.unique("g", "a"), "g");
        assert_eq!(n.unique("g", "b"), "g->b");
        assert_eq!(n.unique("g", "b"), "g->b#2");
    }
}
