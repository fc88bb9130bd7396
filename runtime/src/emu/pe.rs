//! One PE's work in one tick: the hot loops of the emulator.
//!
//! Semantics are the spec's PE semantics (`docs/spinnaker2.md`, "Emulator"), which the C kernel
//! and the reference interpreter share: the packets sent at tick `t − 1` are applied to the
//! delay ring (slot `t − 1 + delay`), then (from `start_tick` on) every neuron requantizes its
//! slot `t` of the ring per synapse type, sums, and takes one IntLif step; the slot is cleared
//! either way.
//!
//! The emulator applies a packet's row as soon as the packet's delivery is known (end of tick
//! `t − 1`: [`charge`] and [`super::ring::Ring::accumulate`]) rather than at the start of tick
//! `t`: the slots written (`t − 1 + delay`, delay ≥ 1) are never the one tick `t − 1` reads,
//! and integer sums do not depend on order, so the ring holds exactly what the kernel's would. The packet's cost is charged to the
//! target's tick `t` ([`PeState::pending`]), where the kernel spends it, before its neuron
//! loop, so every spike knows the cycle within the tick at which the kernel would inject it.

use super::fanout::{Segment, SEG_UNMATCHED};
use super::program::PeProgram;
use snnc_targets::spinnaker2::cost;

/// A spike (or source element) a PE emits in a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spike {
    /// Neuron index in the slice.
    pub neuron: u32,
    /// Cycle within the tick at which the packet is injected.
    pub cycle: u64,
    /// Payload (the input value for payload sources, else 1).
    pub payload: i32,
}

/// Counts of one PE's tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TickWork {
    pub cycles: u64,
    pub packets: u64,
    /// Packets that matched no master entry or indexed past its rows.
    pub unmatched: u64,
    pub synapses: u64,
    pub neuron_updates: u64,
}

/// A PE's runtime state (what the kernel keeps in SRAM beside the image; its delay ring is
/// the PE's part of the run's [`super::ring::Ring`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct PeState {
    /// Work of the packets already delivered for the next tick.
    pub pending: TickWork,
    /// Membranes.
    pub v: Vec<i64>,
    /// Scratch: this tick's summed synaptic input per neuron.
    pub current: Vec<i64>,
    /// Spikes emitted this tick, in emission order.
    pub spikes: Vec<Spike>,
    /// This tick's work.
    pub work: TickWork,
}

impl PeState {
    /// The t = 0 state of `p`: membranes zero.
    pub(crate) fn new(p: &PeProgram) -> PeState {
        PeState {
            v: vec![0; if p.lif { p.n } else { 0 }],
            ..PeState::default()
        }
    }
}

/// The mutable state of one run: every PE's state and the delay ring they share.
pub(crate) struct RunState {
    pub pes: Vec<PeState>,
    pub ring: super::ring::Ring,
}

/// Charges one delivered packet (its segment `seg`) to the target's next tick; its synapses
/// go into the ring separately ([`super::ring::Ring::accumulate`]).
#[inline]
pub(crate) fn charge(w: &mut TickWork, seg: &Segment) {
    w.packets += 1;
    w.cycles += u64::from(seg.cycles());
    w.synapses += u64::from(seg.len());
    w.unmatched += u64::from(seg.flags() & SEG_UNMATCHED != 0);
}

/// Runs tick `t` of a LIF PE: charge the packets applied for this tick, update neurons if
/// `t >= start_tick` from `acc` (the PE's `[k][i]` accumulators of ring slot `t`), clear
/// them, collect spikes with their injection cycles.
pub(crate) fn lif_tick(p: &PeProgram, s: &mut PeState, acc: &mut [i32], t: u64) {
    let mut w = std::mem::take(&mut s.pending);
    w.cycles += cost::TICK_OVERHEAD_CYCLES;
    s.spikes.clear();
    let n = p.n;
    if t >= p.start_tick {
        let per_neuron = cost::neuron_cycles(1, p.k as u32);
        let spike_cost = cost::spike_cycles(1);
        let f = p.frac_bits;
        let round = if f > 0 { 1i64 << (f - 1) } else { 0 };
        // Pass 1: every synapse type's requantized input, summed per neuron (slices of exactly
        // `n`, so the loops carry no bounds checks).
        let current = &mut s.current;
        current.clear();
        current.resize(n, 0);
        for k in 0..p.k {
            let r = k * n..(k + 1) * n;
            let (Some(x), Some(m), Some(sh), Some(zp), Some(lo), Some(hi)) = (
                acc.get(r.clone()),
                p.rq_m.get(r.clone()),
                p.rq_s.get(r.clone()),
                p.rq_zp.get(r.clone()),
                p.rq_lo.get(r.clone()),
                p.rq_hi.get(r),
            ) else {
                continue;
            };
            let terms = x.iter().zip(m).zip(sh).zip(zp).zip(lo.iter().zip(hi));
            for (c, ((((&x, &m), &sh), &zp), (&lo, &hi))) in current.iter_mut().zip(terms) {
                // |x·m| < 2^62 (x is i32, m < 2^31), so i64 is exact, as in the reference.
                let rnd = if sh > 0 { 1i64 << (sh - 1) } else { 0 };
                let y = ((i64::from(x) * m + rnd) >> sh) + zp;
                *c += y.max(lo).min(hi);
            }
        }
        // Pass 2: one IntLif step per neuron.
        let params = p
            .decay
            .iter()
            .zip(&p.bias)
            .zip(&p.threshold)
            .zip(&p.v_reset);
        for (i, ((v, &current), (((&decay, &bias), &thr), &v_reset))) in
            s.v.iter_mut().zip(current.iter()).zip(params).enumerate()
        {
            let mut leak = *v * decay;
            if f > 0 {
                leak = (leak + round) >> f;
            }
            let mut u = (leak + current + bias).max(p.state_lo).min(p.state_hi);
            w.cycles += per_neuron;
            if u > thr {
                u = if p.reset_subtract {
                    (u - thr).max(p.state_lo).min(p.state_hi)
                } else {
                    v_reset
                };
                w.cycles += spike_cost;
                s.spikes.push(Spike {
                    neuron: i as u32,
                    cycle: w.cycles,
                    payload: 1,
                });
            }
            *v = u;
        }
        w.neuron_updates = n as u64;
    }
    acc.fill(0);
    s.work = w;
}

/// Runs tick `t` of a source PE: scan its slice of the encoded step (`None` after the last
/// step) and emit every nonzero element.
pub(crate) fn source_tick(p: &PeProgram, s: &mut PeState, values: Option<&[i32]>) {
    let mut w = std::mem::take(&mut s.pending);
    w.cycles += cost::TICK_OVERHEAD_CYCLES;
    s.spikes.clear();
    if let Some(values) = values {
        let per = cost::source_cycles(1);
        let spike_cost = cost::spike_cycles(1);
        for (i, &x) in values.iter().enumerate() {
            w.cycles += per;
            if x != 0 {
                w.cycles += spike_cost;
                s.spikes.push(Spike {
                    neuron: i as u32,
                    cycle: w.cycles,
                    payload: if p.payload { x } else { 1 },
                });
            }
        }
    }
    s.work = w;
}
