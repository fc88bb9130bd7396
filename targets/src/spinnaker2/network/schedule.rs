//! Pipelining: which machine tick computes which reference step of each population.
//!
//! Every population P gets a depth d(P); reference step s of P runs at tick s + d(P). An event
//! sent at tick t is applied `delay` ticks later (the PE's delay ring), so a projection A → B
//! whose reference value arrives `r` steps late (1 for a recurrent edge) plus `extra` steps (Delay
//! ops) needs the hardware delay `d(B) − d(A) + r + extra`, which must be at least 1 (an event is
//! never used in the tick it is sent) and at most the delay ring ([`MAX_DELAY_TICKS`]).
//!
//! The constraints `d(B) ≥ d(A) + 1 − r − extra` are difference constraints; the least solution
//! with every depth ≥ 0 is found by longest-path relaxation (Bellman–Ford), which for plain
//! forward projections is the longest path from the source, exactly as the spec states. A loop
//! whose forward projections need more ticks than its recurrent edges and Delay ops supply has no
//! solution and is reported, naming a projection on it.

use super::{Network, PopulationKind, Projection, Schedule};
use crate::spinnaker2::error::Spinnaker2Error;

/// Longest hardware delay in ticks: the synapse word holds 4 bits of delay and the PE's delay
/// ring has at most 16 slots.
pub const MAX_DELAY_TICKS: u32 = 15;

impl Network {
    /// Depth of every population, delay of every projection and the pipeline latency.
    ///
    /// Fails when a projection names a population that does not exist or feeds the source,
    /// when a loop cannot be pipelined, or when a projection needs more than
    /// [`MAX_DELAY_TICKS`] ticks of delay.
    pub fn schedule(&self) -> Result<Schedule, Spinnaker2Error> {
        self.check_indices()?;
        let n = self.populations.len();
        let mut depth = vec![0i64; n];
        let mut pred: Vec<Option<usize>> = vec![None; n];
        let mut last_changed = None;
        // A longest simple path has at most n − 1 projections: a change in round n or later
        // means a loop with positive total weight.
        for _round in 0..=n {
            last_changed = None;
            for (k, p) in self.projections.iter().enumerate() {
                let want = depth[p.pre].saturating_add(min_gap(p));
                if want > depth[p.post] {
                    depth[p.post] = want;
                    pred[p.post] = Some(k);
                    last_changed = Some(p.post);
                }
            }
            if last_changed.is_none() {
                break;
            }
        }
        if let Some(v) = last_changed {
            return Err(self.loop_error(v, &pred));
        }
        let depth: Vec<u32> = depth
            .iter()
            .map(|d| u32::try_from(*d).unwrap_or(u32::MAX))
            .collect();
        let delay = self
            .projections
            .iter()
            .map(|p| self.delay_of(p, &depth))
            .collect::<Result<Vec<u32>, _>>()?;
        let latency = depth.get(self.output.population).copied().unwrap_or(0);
        Ok(Schedule {
            depth,
            delay,
            latency,
        })
    }

    /// Every index in range, the input a source, the output a LIF population, no projection
    /// into a source.
    fn check_indices(&self) -> Result<(), Spinnaker2Error> {
        let n = self.populations.len();
        let invalid = |what: String, reason: String| Spinnaker2Error::Invalid { what, reason };
        match self.populations.get(self.input.population) {
            Some(p) if p.kind == PopulationKind::Source => {}
            _ => {
                return Err(invalid(
                    format!("input `{}`", self.input.name),
                    format!(
                        "population {} is not a source population",
                        self.input.population
                    ),
                ))
            }
        }
        match self.populations.get(self.output.population) {
            Some(p) if matches!(p.kind, PopulationKind::Lif(_)) => {}
            _ => {
                return Err(invalid(
                    format!("output `{}`", self.output.name),
                    format!(
                        "population {} is not a LIF population",
                        self.output.population
                    ),
                ))
            }
        }
        for p in &self.projections {
            if p.pre >= n || p.post >= n {
                return Err(invalid(
                    format!("projection `{}`", p.name),
                    format!(
                        "connects population {} to {}, but there are only {n}",
                        p.pre, p.post
                    ),
                ));
            }
            if self.populations[p.post].kind == PopulationKind::Source {
                return Err(invalid(
                    format!("projection `{}`", p.name),
                    format!(
                        "feeds the source population `{}`",
                        self.populations[p.post].name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Hardware delay `d(post) − d(pre) + r + extra`, at most [`MAX_DELAY_TICKS`].
    fn delay_of(&self, p: &Projection, depth: &[u32]) -> Result<u32, Spinnaker2Error> {
        let (dpre, dpost) = (i64::from(depth[p.pre]), i64::from(depth[p.post]));
        let delay = dpost - dpre + late_steps(p);
        if (1..=i64::from(MAX_DELAY_TICKS)).contains(&delay) {
            return Ok(delay as u32);
        }
        Err(Spinnaker2Error::Unschedulable {
            what: format!("projection `{}`", p.name),
            reason: format!(
                "it needs a delay of {delay} ticks (depth {dpost} of `{}` - depth {dpre} of `{}`{}{}), \
                 but the delay buffers hold 1..={MAX_DELAY_TICKS} ticks",
                self.populations[p.post].name,
                self.populations[p.pre].name,
                if p.recurrent { " + 1 recurrent step" } else { "" },
                if p.extra_delay > 0 {
                    format!(" + {} delay steps", p.extra_delay)
                } else {
                    String::new()
                },
            ),
        })
    }

    /// The error for a loop that cannot be pipelined: follow the last-raising projections back
    /// from `v` until a population repeats, and name the loop's projections.
    fn loop_error(&self, v: usize, pred: &[Option<usize>]) -> Spinnaker2Error {
        let n = self.populations.len();
        // n steps back from a node raised in round n land on the loop.
        let mut cur = v;
        for _ in 0..n {
            match pred[cur] {
                Some(k) => cur = self.projections[k].pre,
                None => break,
            }
        }
        let mut cycle = Vec::new();
        let start = cur;
        for _ in 0..=n {
            let Some(k) = pred[cur] else { break };
            cycle.push(k);
            cur = self.projections[k].pre;
            if cur == start {
                break;
            }
        }
        cycle.reverse();
        let named = cycle
            .iter()
            .copied()
            .find(|k| self.projections[*k].recurrent)
            .or_else(|| cycle.first().copied());
        if let Some(at) = named.and_then(|k| cycle.iter().position(|c| *c == k)) {
            cycle.rotate_left(at);
        }
        let names: Vec<String> = cycle
            .iter()
            .map(|k| format!("`{}`", self.projections[*k].name))
            .collect();
        let what = match named {
            Some(k) => format!("recurrent projection `{}`", self.projections[k].name),
            None => "a loop".to_string(),
        };
        Spinnaker2Error::Unschedulable {
            what,
            reason: format!(
                "the loop {} reaches back to an earlier pipeline stage: its forward projections \
                 take more ticks than its recurrent edges and Delay ops provide (each loop needs \
                 at least one step of delay per forward projection)",
                names.join(" -> ")
            ),
        }
    }
}

/// Steps by which the reference value arrives late: 1 for a recurrent edge plus Delay steps.
fn late_steps(p: &Projection) -> i64 {
    i64::from(p.recurrent) + i64::from(p.extra_delay)
}

/// Least `d(post) − d(pre)` that keeps the hardware delay at least 1.
fn min_gap(p: &Projection) -> i64 {
    1 - late_steps(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::network::{
        InputEncoding, InputSpec, LifParams, OutputSpec, Population, RequantParams, Reset,
        SparseRows,
    };

    fn lif(name: &str) -> Population {
        Population {
            name: name.into(),
            size: 1,
            kind: PopulationKind::Lif(LifParams {
                decay: vec![0],
                bias: vec![0],
                threshold: vec![1],
                v_reset: vec![0],
                frac_bits: 0,
                state_bits: 16,
                reset: Reset::ToValue,
            }),
        }
    }

    fn proj(name: &str, pre: usize, post: usize, recurrent: bool, extra: u32) -> Projection {
        Projection {
            name: name.into(),
            pre,
            post,
            recurrent,
            extra_delay: extra,
            rows: SparseRows {
                offsets: vec![0, 1],
                post: vec![0],
                weight: vec![1],
            },
            weight_bits: 2,
            requant: RequantParams {
                multiplier: vec![1],
                shift: vec![0],
                zero_point: 0,
                lo: -32768,
                hi: 32767,
            },
            payload: false,
        }
    }

    /// Source 0 and LIF populations 1..=lifs; output the last one.
    fn net(lifs: usize, projections: Vec<Projection>) -> Network {
        let mut populations = vec![Population {
            name: "in".into(),
            size: 1,
            kind: PopulationKind::Source,
        }];
        populations.extend((1..=lifs).map(|i| lif(&format!("l{i}"))));
        Network {
            name: "t".into(),
            populations,
            projections,
            input: InputSpec {
                name: "in".into(),
                shape: vec![1],
                population: 0,
                encoding: InputEncoding::Spikes,
            },
            output: OutputSpec {
                name: "out".into(),
                shape: vec![1],
                population: lifs,
            },
        }
    }

    fn unschedulable(r: Result<Schedule, Spinnaker2Error>) -> (String, String) {
        match r {
            Err(Spinnaker2Error::Unschedulable { what, reason }) => (what, reason),
            other => panic!("expected Unschedulable, got {other:?}"),
        }
    }

    #[test]
    fn chain_depths_and_latency() {
        let n = net(
            3,
            vec![
                proj("a", 0, 1, false, 0),
                proj("b", 1, 2, false, 0),
                proj("c", 2, 3, false, 0),
                // A skip connection waits for the longest path.
                proj("skip", 0, 3, false, 0),
            ],
        );
        let s = n.schedule().unwrap();
        assert_eq!(s.depth, vec![0, 1, 2, 3]);
        assert_eq!(s.delay, vec![1, 1, 1, 3]);
        assert_eq!(s.latency, 3);
    }

    #[test]
    fn recurrent_self_projection_takes_one_tick() {
        let n = net(
            2,
            vec![
                proj("a", 0, 1, false, 0),
                proj("self", 1, 1, true, 0),
                proj("b", 1, 2, false, 0),
            ],
        );
        let s = n.schedule().unwrap();
        assert_eq!(s.depth, vec![0, 1, 2]);
        assert_eq!(s.delay, vec![1, 1, 1]);
        assert_eq!(s.latency, 2);
    }

    #[test]
    fn recurrent_edge_from_a_deeper_branch_raises_the_target() {
        // in -> l1 -> l2 -> l3 and in -> l4, recurrent l3 -> l4: l4 must wait for depth 3.
        let mut n = net(
            4,
            vec![
                proj("a", 0, 1, false, 0),
                proj("b", 1, 2, false, 0),
                proj("c", 2, 3, false, 0),
                proj("d", 0, 4, false, 0),
                proj("back", 3, 4, true, 0),
            ],
        );
        n.output.population = 4;
        let s = n.schedule().unwrap();
        assert_eq!(s.depth, vec![0, 1, 2, 3, 3]);
        assert_eq!(s.delay, vec![1, 1, 1, 3, 1]);
        assert_eq!(s.latency, 3);
    }

    #[test]
    fn delay_ops_add_ticks_and_may_shorten_the_pipeline() {
        // l1 <- in with 2 extra steps: l1 can run at depth 0, its input arriving 2 ticks later.
        let n = net(
            2,
            vec![proj("a", 0, 1, false, 2), proj("b", 1, 2, false, 0)],
        );
        let s = n.schedule().unwrap();
        assert_eq!(s.depth, vec![0, 0, 1]);
        assert_eq!(s.delay, vec![2, 1]);
        assert_eq!(s.latency, 1);
        // A recurrent self-projection with 3 extra steps: 4 ticks.
        let n = net(1, vec![proj("a", 0, 1, false, 0), proj("s", 1, 1, true, 3)]);
        assert_eq!(n.schedule().unwrap().delay, vec![1, 4]);
    }

    #[test]
    fn back_edge_over_a_forward_path_is_impossible() {
        // in -> l1 -> l2, recurrent l2 -> l1: l1 would need l2's previous step in the same tick.
        let n = net(
            2,
            vec![
                proj("a", 0, 1, false, 0),
                proj("b", 1, 2, false, 0),
                proj("back", 2, 1, true, 0),
            ],
        );
        let (what, reason) = unschedulable(n.schedule());
        assert_eq!(what, "recurrent projection `back`");
        assert!(
            reason.contains("the loop `back` -> `b` reaches"),
            "{reason}"
        );
        // One extra Delay step on the back edge makes it possible: d(l1) >= d(l2) - 1 holds with
        // d(l1) = 1, d(l2) = 2, and the back edge's delay is 1 - 2 + 1 recurrent + 1 extra = 1.
        let n = net(
            2,
            vec![
                proj("a", 0, 1, false, 0),
                proj("b", 1, 2, false, 0),
                proj("back", 2, 1, true, 1),
            ],
        );
        let s = n.schedule().unwrap();
        assert_eq!(s.depth, vec![0, 1, 2]);
        assert_eq!(s.delay, vec![1, 1, 1]);
    }

    #[test]
    fn too_long_delay_names_the_projection() {
        let n = net(1, vec![proj("slow", 0, 1, false, 16)]);
        let (what, reason) = unschedulable(n.schedule());
        assert_eq!(what, "projection `slow`");
        assert!(reason.contains("delay of 16 ticks"), "{reason}");
        let n = net(1, vec![proj("ok", 0, 1, false, 15)]);
        assert_eq!(n.schedule().unwrap().delay, vec![15]);
    }

    #[test]
    fn bad_indices_are_invalid() {
        let n = net(1, vec![proj("x", 0, 7, false, 0)]);
        assert!(matches!(
            n.schedule(),
            Err(Spinnaker2Error::Invalid { what, .. }) if what == "projection `x`"
        ));
        let n = net(1, vec![proj("x", 1, 0, false, 0)]);
        assert!(matches!(n.schedule(), Err(Spinnaker2Error::Invalid { .. })));
        let mut n = net(1, vec![proj("x", 0, 1, false, 0)]);
        n.output.population = 0;
        assert!(matches!(n.schedule(), Err(Spinnaker2Error::Invalid { .. })));
    }
}
