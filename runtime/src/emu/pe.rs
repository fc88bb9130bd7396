//! One PE's work in one tick: the hot loops of the emulator.
//!
//! Semantics are the spec's PE semantics (`docs/spinnaker2.md`, "Emulator"), which the C kernel
//! and the reference interpreter share: packets of the previous tick are applied to the delay
//! ring in arrival order, then (from `start_tick` on) every neuron requantizes its slot of the
//! ring per synapse type, sums, and takes one IntLif step; the slot is cleared either way.
//! Cycles are counted with the target's cost model as the work is done, so every spike knows
//! the cycle within the tick at which the kernel would inject it.

use super::program::PeProgram;
use snnc_targets::spinnaker2::artifact::KernelKind;
use snnc_targets::spinnaker2::cost;

/// A packet as a PE receives it: its key and its payload (1 for key-only packets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Msg {
    pub key: u32,
    pub payload: i32,
}

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

/// A PE's runtime state (what the kernel keeps in SRAM beside the image) and its mailboxes.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeState {
    /// Membranes.
    pub v: Vec<i64>,
    /// Delay ring, `[slot][k][i]`.
    pub acc: Vec<i32>,
    /// Packets to process this tick (sent last tick), in arrival order.
    pub inbox: Vec<Msg>,
    /// Packets arriving for next tick.
    pub next: Vec<Msg>,
    /// Spikes emitted this tick, in emission order.
    pub spikes: Vec<Spike>,
    pub work: TickWork,
}

impl PeState {
    /// The t = 0 state of `p`: membranes and ring zero.
    pub(crate) fn new(p: &PeProgram) -> PeState {
        PeState {
            v: vec![0; if p.lif { p.n } else { 0 }],
            acc: vec![0; if p.lif { p.d * p.k * p.n } else { 0 }],
            ..PeState::default()
        }
    }
}

/// Precomputed per-PE constants of the cost model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Costs {
    pub macs_per_cycle: u32,
}

/// Runs tick `t` of a LIF PE: apply `state.inbox`, update neurons if `t >= start_tick`, clear
/// the ring slot, collect spikes with their injection cycles.
pub(crate) fn lif_tick(p: &PeProgram, s: &mut PeState, t: u64, costs: Costs) {
    let mut w = TickWork {
        cycles: cost::TICK_OVERHEAD_CYCLES,
        ..TickWork::default()
    };
    s.spikes.clear();
    let n = p.n;
    let kn = p.k * n;
    let dmask = p.d.wrapping_sub(1);
    let acc = &mut s.acc;
    let syn = p.synapses.as_slice();
    for m in &s.inbox {
        w.packets += 1;
        let Some(e) = p.lookup(m.key) else {
            w.unmatched += 1;
            w.cycles += cost::PACKET_CYCLES;
            continue;
        };
        let j = m.key & !e.mask;
        let row = row_words(syn, e.index_off, e.n_rows, j);
        let Some(row) = row else {
            w.unmatched += 1;
            w.cycles += cost::PACKET_CYCLES;
            continue;
        };
        let mult = if e.payload { m.payload } else { 1 };
        // Packets processed at tick t were sent at t - 1: delay `dl` lands in slot t - 1 + dl.
        let base = (t as usize).wrapping_sub(1);
        for &word in row {
            let post = (word & 0x3ff) as usize;
            let delay = ((word >> 10) & 0xf) as usize;
            let k = ((word >> 14) & 0x3) as usize;
            let weight = i32::from((word >> 16) as u16 as i16);
            let slot = base.wrapping_add(delay) & dmask;
            if let Some(a) = acc.get_mut(slot * kn + k * n + post) {
                *a = a.wrapping_add(weight.wrapping_mul(mult));
            }
        }
        w.synapses += row.len() as u64;
        let kind = if e.mac {
            KernelKind::Mac
        } else {
            KernelKind::Event
        };
        w.cycles += cost::packet_cycles(kind, row.len() as u64, costs.macs_per_cycle);
    }
    let slot = (t as usize) & dmask;
    let ring = slot * kn;
    if t >= p.start_tick {
        let per_neuron = cost::neuron_cycles(1, p.k as u32);
        let spike_cost = cost::spike_cycles(1);
        let f = p.frac_bits;
        let round = if f > 0 { 1i64 << (f - 1) } else { 0 };
        for i in 0..n {
            let mut current: i64 = 0;
            for k in 0..p.k {
                let r = k * n + i;
                let x = i64::from(acc.get(ring + r).copied().unwrap_or(0));
                let (Some(&m), Some(&sh), Some(&zp), Some(&lo), Some(&hi)) = (
                    p.rq_m.get(r),
                    p.rq_s.get(r),
                    p.rq_zp.get(r),
                    p.rq_lo.get(r),
                    p.rq_hi.get(r),
                ) else {
                    continue;
                };
                // |x·m| < 2^62 (x is i32, m < 2^31), so i64 is exact, as in the reference.
                let rnd = if sh > 0 { 1i64 << (sh - 1) } else { 0 };
                let y = ((x * m + rnd) >> sh) + zp;
                current += y.max(lo).min(hi);
            }
            let (Some(v), Some(&decay), Some(&bias), Some(&thr), Some(&v_reset)) = (
                s.v.get_mut(i),
                p.decay.get(i),
                p.bias.get(i),
                p.threshold.get(i),
                p.v_reset.get(i),
            ) else {
                continue;
            };
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
    if let Some(slice) = acc.get_mut(ring..ring + kn) {
        slice.fill(0);
    }
    s.inbox.clear();
    s.work = w;
}

/// Runs tick `t` of a source PE: scan its slice of the encoded step (`None` after the last
/// step) and emit every nonzero element.
pub(crate) fn source_tick(p: &PeProgram, s: &mut PeState, values: Option<&[i32]>) {
    let mut w = TickWork {
        cycles: cost::TICK_OVERHEAD_CYCLES,
        ..TickWork::default()
    };
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
    s.inbox.clear();
    s.work = w;
}

/// Row `j` of the block at `index_off` (synapse words without the count), `None` when `j` is
/// past the block or the row is outside the section (never for a validated image).
#[inline]
fn row_words(syn: &[u32], index_off: u32, n_rows: u32, j: u32) -> Option<&[u32]> {
    if j >= n_rows {
        return None;
    }
    let ptr = *syn.get(index_off as usize + j as usize)? as usize;
    let count = *syn.get(ptr)? as usize;
    syn.get(ptr + 1..ptr + 1 + count)
}
