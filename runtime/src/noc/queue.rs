//! The simulator's event queue: a timing wheel with a binary-heap overflow.
//!
//! Packets in flight are almost always scheduled a few cycles ahead, so a
//! ring of 64 per-cycle buckets, with a 64-bit mask of the non-empty ones
//! to skip idle cycles in one step, makes push and pop O(1); events
//! further ahead than the ring wait in a heap keyed by `(cycle, seq)` and
//! move into the ring, in that order, as soon as their cycle enters it.
//! Events of one cycle therefore come out in creation order, exactly as a
//! heap keyed by `(cycle, creation sequence)` would give them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Cycles covered by the ring: one bit of the occupancy mask each.
const WHEEL: usize = 64;

/// Min-queue of `T` by `(cycle, insertion order)`.
#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    /// `buckets[c % WHEEL]` holds the events of cycle `c` for
    /// `now <= c < now + WHEEL`, in insertion order.
    buckets: Vec<Vec<T>>,
    /// Cycle of the bucket being drained; nothing earlier is pending.
    now: u64,
    /// Events of the current bucket already returned.
    pos: usize,
    /// Bit `c % WHEEL` set when the bucket of cycle `c` may hold events.
    occupied: u64,
    /// Events at `now + WHEEL` or later.
    far: BinaryHeap<Reverse<(u64, u64, T)>>,
    /// Insertion counter for the overflow heap.
    seq: u64,
}

impl<T: Copy + Ord> EventQueue<T> {
    /// An empty queue starting at cycle 0.
    pub(crate) fn new() -> EventQueue<T> {
        EventQueue {
            buckets: (0..WHEEL).map(|_| Vec::new()).collect(),
            now: 0,
            pos: 0,
            occupied: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Empties the queue and restarts it at cycle 0, keeping its buffers (a reused simulator
    /// starts every run at cycle 0).
    pub(crate) fn reset(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.now = 0;
        self.pos = 0;
        self.occupied = 0;
        self.far.clear();
        self.seq = 0;
    }

    fn bucket(&mut self, cycle: u64) -> &mut Vec<T> {
        let i = (cycle % WHEEL as u64) as usize;
        // `i < WHEEL == buckets.len()`, so this never falls back.
        let last = self.buckets.len() - 1;
        &mut self.buckets[i.min(last)]
    }

    /// Schedule `item` at `cycle`. Cycles before the current one are
    /// treated as the current one (the simulator never schedules into the
    /// past; this keeps the queue total if a caller did).
    #[inline]
    pub(crate) fn push(&mut self, cycle: u64, item: T) {
        let cycle = cycle.max(self.now);
        if cycle - self.now < WHEEL as u64 {
            self.bucket(cycle).push(item);
            self.occupied |= 1 << (cycle % WHEEL as u64);
        } else {
            self.far.push(Reverse((cycle, self.seq, item)));
            self.seq += 1;
        }
    }

    /// Move overflow events whose cycle entered the ring into it.
    fn refill(&mut self) {
        while let Some(Reverse((c, _, item))) = self.far.peek().copied() {
            if c.saturating_sub(self.now) >= WHEEL as u64 {
                break;
            }
            self.far.pop();
            self.bucket(c).push(item);
            self.occupied |= 1 << (c % WHEEL as u64);
        }
    }

    /// The earliest event with cycle `< limit`, removed, with its cycle.
    /// Never advances the current cycle past `limit`, so the caller may
    /// push events at `limit` or later after a `None`.
    #[inline]
    pub(crate) fn pop_before(&mut self, limit: u64) -> Option<(u64, T)> {
        loop {
            if self.now >= limit {
                return None;
            }
            let now = self.now;
            let pos = self.pos;
            let bucket = self.bucket(now);
            if let Some(item) = bucket.get(pos).copied() {
                self.pos += 1;
                return Some((now, item));
            }
            bucket.clear();
            self.pos = 0;
            let here = (now % WHEEL as u64) as u32;
            self.occupied &= !(1u64 << here);
            // Next non-empty bucket of the ring, else the first far event
            // (always later than every ring event), never past `limit`.
            let ring = match self.occupied {
                0 => u64::MAX,
                mask => now + u64::from(mask.rotate_right(here).trailing_zeros()),
            };
            let far = self.far.peek().map_or(u64::MAX, |Reverse((c, _, _))| *c);
            self.now = ring.min(far).min(limit).max(now);
            self.refill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut EventQueue<u32>) -> Vec<(u64, u32)> {
        std::iter::from_fn(|| q.pop_before(u64::MAX)).collect()
    }

    #[test]
    fn orders_by_cycle_then_insertion() {
        let mut q = EventQueue::new();
        for (c, v) in [(5, 1), (3, 2), (5, 3), (3, 4), (0, 5)] {
            q.push(c, v);
        }
        assert_eq!(drain(&mut q), vec![(0, 5), (3, 2), (3, 4), (5, 1), (5, 3)]);
    }

    #[test]
    fn far_events_keep_their_order_against_near_ones() {
        let mut q = EventQueue::new();
        let far = 10 * WHEEL as u64;
        q.push(far, 1);
        q.push(far + 1, 2);
        q.push(far, 3);
        q.push(2, 4);
        assert_eq!(q.pop_before(u64::MAX), Some((2, 4)));
        // Jump close to `far`, then schedule there after the far events.
        assert_eq!(q.pop_before(far - 5), None);
        q.push(far, 5);
        assert_eq!(
            drain(&mut q),
            vec![(far, 1), (far, 3), (far, 5), (far + 1, 2)]
        );
    }

    #[test]
    fn limit_is_exclusive_and_never_passed() {
        let mut q = EventQueue::new();
        q.push(10, 1);
        q.push(12, 2);
        assert_eq!(q.pop_before(10), None);
        // Scheduling at the limit is still possible, after the events there.
        q.push(10, 3);
        assert_eq!(drain(&mut q), vec![(10, 1), (10, 3), (12, 2)]);
    }

    #[test]
    fn events_pushed_while_draining_a_cycle_follow_it() {
        let mut q = EventQueue::new();
        q.push(4, 1);
        assert_eq!(q.pop_before(u64::MAX), Some((4, 1)));
        q.push(4, 2);
        q.push(1, 3); // the past is clamped to now
        assert_eq!(drain(&mut q), vec![(4, 2), (4, 3)]);
    }
}
