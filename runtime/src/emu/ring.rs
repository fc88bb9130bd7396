//! The delay rings of all PEs as one buffer, slot-major: slot `s` holds, PE after PE, every
//! PE's `[k][i]` accumulators (`acc[s][pe][k][i]`).
//!
//! Why: applying a spike touches ~1–3 synapses on each of dozens of PEs. With one ring per PE
//! every target costs a branchy inner loop and a pointer chase; with one buffer each synapse is
//! resolved once, at load time, to its offset within a slot ([`RingWord`]), and a spike's
//! synapses are applied in one flat loop. The ring has as many slots as the deepest PE ring
//! (a power of two): a synapse of delay `d ≤ D_pe ≤ D` lands in slot `(t + d) mod D`, read
//! and cleared at tick `t + d`, exactly as in the PE's own ring of `D_pe` slots.

use super::error::EmuError;
use super::program::PeProgram;

/// Where each PE's accumulators sit in a slot, and the ring's shape.
#[derive(Clone, Debug, Default)]
pub(crate) struct RingLayout {
    /// Per PE: offset of its first accumulator in a slot; one extra entry (the stride).
    bases: Vec<u32>,
    /// Slots (a power of two).
    slots: usize,
}

impl RingLayout {
    /// The layout of `pes` (sources hold no accumulators). Errors if a slot would not be
    /// indexable by `u32` offsets or a PE's ring depth is not a power of two.
    pub(crate) fn new(pes: &[PeProgram]) -> Result<RingLayout, EmuError> {
        let mut bases = Vec::with_capacity(pes.len() + 1);
        let mut at = 0u64;
        let mut slots = 1usize;
        for p in pes {
            bases.push(u32::try_from(at).map_err(|_| too_large(at))?);
            if p.lif {
                if !p.d.is_power_of_two() {
                    return Err(EmuError::artifact(
                        format!("PE {}", p.pe),
                        format!("ring depth {} is not a power of two", p.d),
                    ));
                }
                slots = slots.max(p.d);
                at += (p.k as u64) * (p.n as u64);
            }
        }
        bases.push(u32::try_from(at).map_err(|_| too_large(at))?);
        Ok(RingLayout { bases, slots })
    }

    /// Accumulators per slot.
    pub(crate) fn stride(&self) -> usize {
        self.bases.last().map_or(0, |&b| b as usize)
    }

    /// Offset of PE `pe`'s accumulators in a slot.
    pub(crate) fn base(&self, pe: usize) -> Option<u32> {
        self.bases.get(pe).copied()
    }

    /// The slot offsets `[start, end)` of PEs `lo..hi`.
    pub(crate) fn span(&self, lo: usize, hi: usize) -> (usize, usize) {
        let at = |i: usize| self.bases.get(i).map_or(self.stride(), |&b| b as usize);
        (at(lo), at(hi))
    }

    /// A zeroed ring.
    pub(crate) fn ring(&self) -> Ring {
        Ring {
            acc: vec![0; self.slots * self.stride()],
            stride: self.stride(),
            mask: self.slots - 1,
        }
    }
}

fn too_large(accumulators: u64) -> EmuError {
    EmuError::TooLarge {
        what: "delay ring slot",
        bytes: accumulators.saturating_mul(4),
        limit: 4 << 32,
    }
}

/// A synapse resolved for the ring: bits 0–31 the accumulator's offset in a slot
/// (`base + k·n + post`), 32–35 the delay, bit 36 "scale by the packet's payload", 48–63 the
/// weight (i16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingWord(pub u64);

const PAYLOAD_BIT: u64 = 1 << 36;

impl RingWord {
    /// A word that adds nothing (weight 0).
    pub(crate) const NOP: RingWord = RingWord(1 << 32);

    /// Resolves image synapse word `w` (DESIGN: bits 0–9 post, 10–13 delay, 14–15 type,
    /// 16–31 weight) of a PE whose accumulators start at `base` and which has `n` neurons.
    pub(crate) fn resolve(w: u32, base: u32, n: usize, payload: bool) -> RingWord {
        let post = u64::from(w & 0x3ff);
        let delay = u64::from((w >> 10) & 0xf);
        let k = u64::from((w >> 14) & 0x3);
        let weight = u64::from(w >> 16);
        let off = u64::from(base) + k * n as u64 + post;
        RingWord(
            (off & 0xffff_ffff)
                | delay << 32
                | if payload { PAYLOAD_BIT } else { 0 }
                | weight << 48,
        )
    }
}

/// One run's delay rings (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    pub acc: Vec<i32>,
    /// Accumulators per slot.
    pub stride: usize,
    /// Slots − 1.
    pub mask: usize,
}

impl Ring {
    /// Adds a packet's synapses sent at tick `t_send` (each scaled by `payload` where its
    /// row says so).
    #[inline]
    pub(crate) fn accumulate(&mut self, words: &[u64], payload: i32, t_send: u64) {
        let (stride, mask, base) = (self.stride, self.mask, t_send as usize);
        let acc = &mut self.acc;
        for &w in words {
            let off = (w & 0xffff_ffff) as usize;
            let slot = base.wrapping_add(((w >> 32) & 0xf) as usize) & mask;
            let mult = if w & PAYLOAD_BIT != 0 { payload } else { 1 };
            let weight = i32::from((w >> 48) as u16 as i16);
            if let Some(a) = acc.get_mut(slot * stride + off) {
                *a = a.wrapping_add(weight.wrapping_mul(mult));
            }
        }
    }

    /// The accumulators of slot `t mod D` for PEs by layout: one slice per PE (empty for
    /// sources), to update PEs in parallel.
    pub(crate) fn slot_regions<'a>(
        &'a mut self,
        layout: &RingLayout,
        t: u64,
    ) -> Vec<&'a mut [i32]> {
        let slot = (t as usize) & self.mask;
        let stride = self.stride;
        let mut rest = self
            .acc
            .get_mut(slot * stride..(slot + 1) * stride)
            .unwrap_or(&mut []);
        let mut out = Vec::with_capacity(layout.bases.len().saturating_sub(1));
        for w in layout.bases.windows(2) {
            let len = (w[1] - w[0]) as usize;
            let len = len.min(rest.len());
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            out.push(head);
            rest = tail;
        }
        out
    }

    /// For each group of PEs `(lo, hi)` (contiguous, ascending), its accumulators in every
    /// slot: `[group][slot]`, each slice starting at the group's first offset.
    pub(crate) fn group_pieces<'a>(
        &'a mut self,
        layout: &RingLayout,
        groups: &[(usize, usize)],
    ) -> Vec<Vec<&'a mut [i32]>> {
        let mut out: Vec<Vec<&mut [i32]>> = groups.iter().map(|_| Vec::new()).collect();
        let stride = self.stride.max(1);
        for slot in self.acc.chunks_mut(stride) {
            let mut rest = slot;
            let mut at = 0usize;
            for (g, &(lo, hi)) in groups.iter().enumerate() {
                let (start, end) = layout.span(lo, hi);
                let skip = start.saturating_sub(at).min(rest.len());
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
                let take = end.saturating_sub(start).min(tail.len());
                let (piece, tail) = tail.split_at_mut(take);
                if let Some(o) = out.get_mut(g) {
                    o.push(piece);
                }
                rest = tail;
                at = end;
            }
        }
        out
    }
}

/// Adds synapses to one group's pieces (see [`Ring::group_pieces`]): `start` is the group's
/// first offset in a slot.
#[inline]
pub(crate) fn accumulate_piece(
    pieces: &mut [&mut [i32]],
    start: usize,
    mask: usize,
    words: &[u64],
    payload: i32,
    t_send: u64,
) {
    let base = t_send as usize;
    for &w in words {
        let off = ((w & 0xffff_ffff) as usize).wrapping_sub(start);
        let slot = base.wrapping_add(((w >> 32) & 0xf) as usize) & mask;
        let mult = if w & PAYLOAD_BIT != 0 { payload } else { 1 };
        let weight = i32::from((w >> 48) as u16 as i16);
        if let Some(a) = pieces.get_mut(slot).and_then(|p| p.get_mut(off)) {
            *a = a.wrapping_add(weight.wrapping_mul(mult));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_words_keep_offset_delay_payload_and_sign() {
        // post 5, delay 3, type 1, weight -2.
        let w = 5 | 3 << 10 | 1 << 14 | (0xfffe_u32 << 16);
        let r = RingWord::resolve(w, 100, 7, true).0;
        assert_eq!(r & 0xffff_ffff, 100 + 7 + 5);
        assert_eq!((r >> 32) & 0xf, 3);
        assert_ne!(r & PAYLOAD_BIT, 0);
        assert_eq!((r >> 48) as u16 as i16, -2);
        let mut ring = Ring {
            acc: vec![0; 4 * 200],
            stride: 200,
            mask: 3,
        };
        ring.accumulate(&[r, RingWord::NOP.0], 5, 2);
        // Slot (2 + 3) mod 4 = 1; -2 · 5.
        assert_eq!(ring.acc[200 + 112], -10);
        assert_eq!(ring.acc.iter().filter(|&&x| x != 0).count(), 1);
        // The same word through a group's pieces.
        let mut acc = vec![vec![0i32; 50]; 4];
        let mut pieces: Vec<&mut [i32]> = acc.iter_mut().map(|v| v.as_mut_slice()).collect();
        accumulate_piece(&mut pieces, 100, 3, &[r], 5, 2);
        assert_eq!(acc[1][12], -10);
    }
}
