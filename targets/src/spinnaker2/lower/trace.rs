//! Find the projections into one `int_lif`: walk its input back through the three stages of a
//! projection, collecting one [`Term`] per `gemm → requant` path and every problem on the way.
//!
//! - current (after requant, the neuron input): reshape/flatten, delay, `add` of currents,
//!   `requant` (→ accumulator stage);
//! - accumulator (after gemm): reshape/flatten, delay, `gemm`/`matmul` (→ presynaptic stage);
//! - presynaptic: reshape/flatten, delay, then a population (an int_lif or the source).
//!
//! Recurrent edges and delay ops may sit anywhere on the path; they add steps of delay. One after
//! the requant delivers 0 before the first value, where the target delivers `requant(0) =
//! zero_point`, so it is accepted only when that zero point is 0.

use std::collections::BTreeMap;

use snnc_ir::op::delay::delay_steps;
use snnc_ir::op::Delay;
use snnc_ir::{Graph, NodeId, Op};

use super::LowerOptions;
use crate::spinnaker2::error::Unsupported;

/// One projection as found in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Term {
    pub requant: NodeId,
    /// The gemm or matmul.
    pub gemm: NodeId,
    /// The constant weight matrix.
    pub weights: NodeId,
    /// Whether `weights` is `[N, K]` (gemm trans_b) rather than `[K, N]`.
    pub trans_b: bool,
    /// The population node (int_lif or source producer) the gemm reads.
    pub pre: NodeId,
    /// Recurrent edges on the path.
    pub recurrent: u32,
    /// Steps of delay ops on the path.
    pub delay: u64,
}

/// What the walk has passed so far on one path.
#[derive(Debug, Clone, Copy, Default)]
struct Path {
    recurrent: u32,
    delay: u64,
    /// A recurrent edge or delay op lies between the requant and the neuron.
    after_requant: bool,
}

/// The walk over one int_lif's input.
struct Tracer<'a> {
    g: &'a Graph,
    post: NodeId,
    n_post: usize,
    populations: &'a BTreeMap<NodeId, usize>,
    dt: Option<f32>,
    /// Edges still allowed: bounds walks round loops that hold no neuron.
    budget: usize,
    terms: Vec<Term>,
    problems: Vec<Unsupported>,
}

/// The projections into int_lif `post` (of `n_post` neurons) and every problem found.
pub(super) fn terms(
    g: &Graph,
    post: NodeId,
    n_post: usize,
    populations: &BTreeMap<NodeId, usize>,
    opts: &LowerOptions,
) -> (Vec<Term>, Vec<Unsupported>) {
    let mut t = Tracer {
        g,
        post,
        n_post,
        populations,
        dt: opts.dt,
        budget: 4 * g.len() + 16,
        terms: Vec::new(),
        problems: Vec::new(),
    };
    let mut path = Path::default();
    if let Some(src) = t.operand(post, 0, &mut path, true) {
        t.current(src, path);
    }
    (t.terms, t.problems)
}

impl Tracer<'_> {
    fn problem(&mut self, id: NodeId, reason: impl Into<String>) {
        let n = self.g.node(id);
        let u = Unsupported {
            node: n.name.clone(),
            op: n.op.name().to_string(),
            reason: reason.into(),
        };
        if !self.problems.contains(&u) {
            self.problems.push(u);
        }
    }

    fn post_name(&self) -> &str {
        &self.g.node(self.post).name
    }

    /// The node feeding `slot` of `id`, counting a recurrent edge (and, in the current stage,
    /// marking the path as delayed after its requant).
    fn operand(
        &mut self,
        id: NodeId,
        slot: usize,
        path: &mut Path,
        current: bool,
    ) -> Option<NodeId> {
        if self.budget == 0 {
            self.problem(
                id,
                "lies on a loop that holds no int_lif; every loop must pass through a neuron",
            );
            return None;
        }
        self.budget -= 1;
        let found = self
            .g
            .operands(id)
            .into_iter()
            .find(|(_, e)| e.slot == slot);
        let Some((src, edge)) = found else {
            self.problem(id, format!("input {slot} is not connected"));
            return None;
        };
        if edge.recurrent {
            path.recurrent = path.recurrent.saturating_add(1);
            path.after_requant |= current;
        }
        Some(src)
    }

    /// Whether `id` holds one value per neuron of `want` neurons (else records why not).
    fn check_len(&mut self, id: NodeId, want: usize, role: &str) -> bool {
        let have = self.g.node(id).ty.as_ref().map(|t| t.numel());
        if have == Some(want) {
            return true;
        }
        let reason = format!(
            "has {} elements per step, but {role} has {want}",
            have.map_or("unknown".to_string(), |h| h.to_string())
        );
        self.problem(id, reason);
        false
    }

    /// Whole steps of a delay op: one value for all elements.
    fn delay_steps(&mut self, id: NodeId, d: &Delay) -> Option<u64> {
        let Some(dt) = self.dt else {
            self.problem(
                id,
                "a delay needs the step length dt to turn seconds into steps; lower with \
                 LowerOptions { dt }",
            );
            return None;
        };
        let shape = self.g.node(id).ty.as_ref()?.shape.clone();
        let steps = match delay_steps(&d.delay, &shape, dt) {
            Ok(s) => s,
            Err(e) => {
                self.problem(id, e.to_string());
                return None;
            }
        };
        let lo = steps.iter().min().copied().unwrap_or(0);
        let hi = steps.iter().max().copied().unwrap_or(0);
        if lo != hi {
            self.problem(
                id,
                format!(
                    "per-element delays differ ({lo} to {hi} steps of dt = {dt}); the target \
                     delays whole projections"
                ),
            );
            return None;
        }
        Some(lo as u64)
    }

    /// The current stage: returns the range of the value (for exact-sum checks of `add`).
    fn current(&mut self, id: NodeId, mut path: Path) -> Option<(i64, i64)> {
        let role = format!("int_lif `{}`", self.post_name());
        if !self.check_len(id, self.n_post, &role) {
            return None;
        }
        let node = self.g.node(id);
        match &node.op {
            Op::Reshape(_) | Op::Flatten(_) => {
                let src = self.operand(id, 0, &mut path, true)?;
                self.current(src, path)
            }
            Op::Delay(d) => {
                let steps = self.delay_steps(id, d)?;
                path.delay = path.delay.saturating_add(steps);
                path.after_requant = true;
                let src = self.operand(id, 0, &mut path, true)?;
                self.current(src, path)
            }
            Op::Add => self.add(id, path),
            Op::Requant(r) => {
                if path.after_requant && r.zero_point != 0 {
                    self.problem(
                        id,
                        format!(
                            "is followed by a recurrent edge or delay before int_lif `{}`, but its \
                             zero point is {} (the reference delivers 0 before the first step, \
                             the target requant(0) = zero point); move the delay before the \
                             requant or use zero point 0",
                            self.post_name(),
                            r.zero_point
                        ),
                    );
                    return None;
                }
                let range = (r.lo, r.hi);
                let src = self.operand(id, 0, &mut path, false)?;
                self.accumulator(src, path, id)?;
                Some(range)
            }
            other => {
                let reason = format!(
                    "feeds int_lif `{}` but is not a requant of a gemm (or an add of such); the \
                     target adds requantized projections only ({} found)",
                    self.post_name(),
                    other.name()
                );
                self.problem(id, reason);
                None
            }
        }
    }

    /// `add` of two currents: accepted when the integer sum cannot wrap to the output type.
    fn add(&mut self, id: NodeId, path: Path) -> Option<(i64, i64)> {
        let mut pa = path;
        let mut pb = path;
        let a = self.operand(id, 0, &mut pa, true);
        let b = self.operand(id, 1, &mut pb, true);
        let ra = a.and_then(|a| self.current(a, pa));
        let rb = b.and_then(|b| self.current(b, pb));
        let ((alo, ahi), (blo, bhi)) = (ra?, rb?);
        let (lo, hi) = (alo.saturating_add(blo), ahi.saturating_add(bhi));
        let dtype = self.g.node(id).ty.as_ref()?.dtype;
        let Some((dlo, dhi)) = dtype.int_range() else {
            self.problem(id, "float add");
            return None;
        };
        if lo < dlo || hi > dhi {
            self.problem(
                id,
                format!(
                    "integer add wraps to its output type {dtype} [{dlo}, {dhi}], and its \
                     operands in [{alo}, {ahi}] and [{blo}, {bhi}] can sum to [{lo}, {hi}]; \
                     the target sums projections exactly (narrow the requant bounds or widen \
                     the add)"
                ),
            );
            return None;
        }
        Some((lo, hi))
    }

    /// The accumulator stage, from requant `requant` back to its gemm.
    fn accumulator(&mut self, id: NodeId, mut path: Path, requant: NodeId) -> Option<()> {
        let role = format!("int_lif `{}`", self.post_name());
        if !self.check_len(id, self.n_post, &role) {
            return None;
        }
        let node = self.g.node(id);
        match &node.op {
            Op::Reshape(_) | Op::Flatten(_) => {
                let src = self.operand(id, 0, &mut path, false)?;
                self.accumulator(src, path, requant)
            }
            Op::Delay(d) => {
                let steps = self.delay_steps(id, d)?;
                path.delay = path.delay.saturating_add(steps);
                let src = self.operand(id, 0, &mut path, false)?;
                self.accumulator(src, path, requant)
            }
            Op::Gemm(gm) => {
                if gm.alpha != 1.0 || gm.beta != 1.0 {
                    self.problem(id, "alpha and beta must be 1 for an exact integer product");
                    return None;
                }
                self.check_bias(id)?;
                let trans_a = gm.trans_a;
                let trans_b = gm.trans_b;
                self.product(id, path, requant, trans_a, trans_b)
            }
            Op::MatMul => self.product(id, path, requant, false, false),
            Op::Add => {
                self.problem(
                    id,
                    "sums accumulators before their requant; the target requantizes each \
                     projection separately (requant each gemm, then add)",
                );
                None
            }
            other => {
                let reason = format!(
                    "feeds requant `{}` but is not a gemm; the target's accumulators hold \
                     synaptic sums only ({} found)",
                    self.g.node(requant).name,
                    other.name()
                );
                self.problem(id, reason);
                None
            }
        }
    }

    /// A gemm bias (input 2) is accepted only when it is all zeros.
    fn check_bias(&mut self, id: NodeId) -> Option<()> {
        let Some(c) = self.g.operand(id, 2) else {
            return Some(());
        };
        let zero = match &self.g.node(c).op {
            Op::Const(t) => t.as_i64().is_some_and(|v| v.iter().all(|x| *x == 0)),
            _ => false,
        };
        if zero {
            return Some(());
        }
        self.problem(
            id,
            "adds a bias (input 2) to the accumulator; the target has none (quantize-snn folds \
             biases into int_lif)",
        );
        None
    }

    /// A gemm/matmul: one sample row times a constant weight matrix.
    fn product(
        &mut self,
        id: NodeId,
        mut path: Path,
        requant: NodeId,
        trans_a: bool,
        trans_b: bool,
    ) -> Option<()> {
        let a = self.operand(id, 0, &mut path, false)?;
        let a_shape = self.g.node(a).ty.as_ref()?.shape.clone();
        let one_row = matches!(
            (a_shape.as_slice(), trans_a),
            ([_], _) | ([1, _], false) | ([_, 1], true)
        );
        if !one_row {
            self.problem(
                id,
                format!(
                    "multiplies an input of shape {a_shape:?}; the target takes one sample (a \
                     vector) per step"
                ),
            );
            return None;
        }
        let Some(w) = self.g.operand(id, 1) else {
            self.problem(id, "input 1 (weights) is not connected");
            return None;
        };
        let w_ok = match &self.g.node(w).op {
            Op::Const(t) => t.rank() == 2 && t.as_i64().is_some(),
            _ => false,
        };
        if !w_ok {
            self.problem(
                id,
                "the weights (input 1) must be a constant integer matrix: the target stores \
                 them in synapse rows",
            );
            return None;
        }
        let (pre, path) = self.presynaptic(a, path, id)?;
        self.terms.push(Term {
            requant,
            gemm: id,
            weights: w,
            trans_b,
            pre,
            recurrent: path.recurrent,
            delay: path.delay,
        });
        Some(())
    }

    /// The presynaptic stage: from the gemm's input back to a population node, with the path
    /// completed up to it.
    fn presynaptic(&mut self, id: NodeId, mut path: Path, gemm: NodeId) -> Option<(NodeId, Path)> {
        if self.populations.contains_key(&id) {
            return Some((id, path));
        }
        let node = self.g.node(id);
        match &node.op {
            Op::Reshape(_) | Op::Flatten(_) => {
                let src = self.operand(id, 0, &mut path, false)?;
                self.presynaptic(src, path, gemm)
            }
            Op::Delay(d) => {
                let steps = self.delay_steps(id, d)?;
                path.delay = path.delay.saturating_add(steps);
                let src = self.operand(id, 0, &mut path, false)?;
                self.presynaptic(src, path, gemm)
            }
            other => {
                let reason = format!(
                    "feeds gemm `{}` but is neither the spikes of an int_lif nor the model input \
                     ({} found); PEs exchange only spikes and input values",
                    self.g.node(gemm).name,
                    other.name()
                );
                self.problem(id, reason);
                None
            }
        }
    }
}
