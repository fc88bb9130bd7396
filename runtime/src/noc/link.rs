//! One output port of a router: its FIFO, its bandwidth, and the drop rule.
//!
//! Because the simulator handles packets in time order and every router has
//! the same latency, copies reach a given output port in non-decreasing
//! `ready` cycles. The port can therefore decide at once, when a copy
//! arrives, the cycle it will start crossing the link (FIFO order, fixed
//! rate) or that it is dropped: no per-cycle state or extra event is needed.

use super::params::LinkParams;

/// State of one output port.
///
/// Copies start in FIFO order at a fixed rate, so the copies of a busy
/// period (a run of back-to-back starts) start at
/// `busy_start + j * bandwidth.cycles` (in units of `1 / bandwidth.packets`
/// cycles) for `j = 0, 1, ...`. Which of them are still waiting, and when
/// the copy `queue_capacity` places ahead of a newcomer starts, follow by
/// arithmetic: no per-copy storage.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OutputPort {
    /// Start of the first copy of the current busy period (sub-cycles).
    busy_start: u64,
    /// Earliest start of the next copy (sub-cycles): the end of the
    /// current busy period.
    next_free: u64,
    /// Copies that crossed (or are crossing) the link.
    pub sent: u64,
    /// Copies dropped at this port.
    pub dropped: u64,
}

impl OutputPort {
    /// A copy reaches this port's FIFO at cycle `ready`. Returns the cycle
    /// it starts crossing the link, or `None` if it is dropped.
    ///
    /// Rule: copies leave the FIFO when they start crossing the link, in
    /// arrival order, at most `bandwidth.packets` per `bandwidth.cycles`.
    /// A copy that finds `queue_capacity` copies ahead of it still waiting
    /// waits outside for a slot; the slot frees when the copy
    /// `queue_capacity` places ahead starts. If that is more than
    /// `wait_timeout` cycles after `ready`, the copy is dropped.
    #[inline(always)]
    pub(crate) fn admit(
        &mut self,
        ready: u64,
        link: &LinkParams,
        wait_timeout: Option<u64>,
    ) -> Option<u64> {
        let rate = u64::from(link.bandwidth.packets);
        let step = u64::from(link.bandwidth.cycles);
        let ready_sub = ready.saturating_mul(rate);
        if self.next_free <= ready_sub {
            // Idle link: every admitted copy has started; a new busy
            // period begins now.
            self.busy_start = ready_sub;
            self.next_free = ready_sub.saturating_add(step);
            self.sent += 1;
            return Some(ready);
        }
        // Busy: copy j of the period starts at cycle
        // floor((busy_start + j * step) / rate); it is still waiting iff
        // that is after `ready`, i.e. its sub-cycle start is at least
        // `(ready + 1) * rate`.
        let span = self.next_free - self.busy_start;
        let since = ready_sub
            .saturating_add(rate)
            .saturating_sub(self.busy_start);
        // Division is slow, and local links (the most used) take one copy per cycle.
        let (issued, first_waiting) = if step == 1 {
            (span, since.min(span))
        } else {
            let issued = span / step;
            (issued, since.div_ceil(step).min(issued))
        };
        let waiting = issued - first_waiting;
        let capacity = link.queue_capacity as u64;
        if waiting >= capacity {
            let ahead = issued - capacity;
            let slot_sub = self.busy_start.saturating_add(ahead.saturating_mul(step));
            let slot = if rate == 1 { slot_sub } else { slot_sub / rate };
            if wait_timeout.is_some_and(|t| slot.saturating_sub(ready) > t) {
                self.dropped += 1;
                return None;
            }
        }
        // The copy joins the busy period right after the last one.
        let start_sub = self.next_free;
        self.next_free = start_sub.saturating_add(step);
        self.sent += 1;
        // Division is slow and the common rate is 1 packet per window.
        Some(if rate == 1 {
            start_sub
        } else {
            start_sub / rate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noc::params::Bandwidth;

    fn link(packets: u32, cycles: u32, capacity: usize) -> LinkParams {
        LinkParams {
            latency: 1,
            bandwidth: Bandwidth { packets, cycles },
            queue_capacity: capacity,
        }
    }

    fn starts(
        port: &mut OutputPort,
        l: &LinkParams,
        t: Option<u64>,
        ready: &[u64],
    ) -> Vec<Option<u64>> {
        ready.iter().map(|&r| port.admit(r, l, t)).collect()
    }

    #[test]
    fn one_per_cycle_serialises() {
        let l = link(1, 1, 100);
        let mut p = OutputPort::default();
        let s = starts(&mut p, &l, None, &[0, 0, 0, 0]);
        assert_eq!(s, vec![Some(0), Some(1), Some(2), Some(3)]);
        // An idle link starts a later copy at once.
        assert_eq!(p.admit(10, &l, None), Some(10));
        assert_eq!(p.sent, 5);
    }

    #[test]
    fn fractional_rates_are_exact() {
        let l = link(1, 4, 100);
        let mut p = OutputPort::default();
        assert_eq!(
            starts(&mut p, &l, None, &[0, 0, 0]),
            vec![Some(0), Some(4), Some(8)]
        );
        let l = link(2, 1, 100);
        let mut p = OutputPort::default();
        assert_eq!(
            starts(&mut p, &l, None, &[0, 0, 0, 0, 0]),
            vec![Some(0), Some(0), Some(1), Some(1), Some(2)]
        );
        let l = link(2, 3, 100);
        let mut p = OutputPort::default();
        assert_eq!(
            starts(&mut p, &l, None, &[0, 0, 0, 0]),
            vec![Some(0), Some(1), Some(3), Some(4)]
        );
    }

    #[test]
    fn full_fifo_with_zero_timeout_drops() {
        // Capacity 2: the copy starting now has left the FIFO, two wait, the
        // fourth finds it full and is dropped at once.
        let l = link(1, 1, 2);
        let mut p = OutputPort::default();
        assert_eq!(
            starts(&mut p, &l, Some(0), &[0, 0, 0, 0, 0]),
            vec![Some(0), Some(1), Some(2), None, None]
        );
        assert_eq!((p.sent, p.dropped), (3, 2));
        // One cycle later a slot has freed.
        assert_eq!(p.admit(1, &l, Some(0)), Some(3));
    }

    #[test]
    fn waiting_for_a_slot_up_to_the_timeout() {
        // Capacity 1, timeout 2: copies wait outside for the slot; a copy
        // whose slot frees 3 cycles after it arrived is dropped.
        let l = link(1, 1, 1);
        let mut p = OutputPort::default();
        assert_eq!(
            starts(&mut p, &l, Some(2), &[0, 0, 0, 0, 0]),
            vec![Some(0), Some(1), Some(2), Some(3), None]
        );
        assert_eq!(p.dropped, 1);
        // Without a timeout nothing is dropped.
        let mut p = OutputPort::default();
        let s = starts(&mut p, &l, None, &[0; 6]);
        assert_eq!(s, (0..6).map(Some).collect::<Vec<_>>());
    }

    /// The straightforward model the arithmetic replaces: a FIFO of the
    /// start cycles of admitted copies that have not started.
    #[derive(Default)]
    struct Reference {
        pending: std::collections::VecDeque<u64>,
        next_free: u64,
    }

    impl Reference {
        fn admit(&mut self, ready: u64, link: &LinkParams, timeout: Option<u64>) -> Option<u64> {
            while self.pending.front().is_some_and(|&s| s <= ready) {
                self.pending.pop_front();
            }
            let n = self.pending.len();
            let mut enter = ready;
            if n >= link.queue_capacity {
                let slot = self.pending[n - link.queue_capacity];
                if timeout.is_some_and(|t| slot - ready > t) {
                    return None;
                }
                enter = slot;
            }
            let rate = u64::from(link.bandwidth.packets);
            let start_sub = (enter * rate).max(self.next_free);
            self.next_free = start_sub + u64::from(link.bandwidth.cycles);
            let start = start_sub / rate;
            self.pending.push_back(start);
            Some(start)
        }
    }

    #[test]
    fn arithmetic_matches_the_fifo_model() {
        let mut seed = 12345u64;
        let mut rand = |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        let mut cases = 0;
        for packets in 1..=3 {
            for cycles in 1..=4 {
                for capacity in 1..=4 {
                    for timeout in [None, Some(0), Some(1), Some(3), Some(7)] {
                        let l = link(packets, cycles, capacity);
                        let mut fast = OutputPort::default();
                        let mut slow = Reference::default();
                        let mut ready = 0;
                        for _ in 0..300 {
                            // Bursts (same cycle) and gaps.
                            ready += [0, 0, 0, 1, 1, 2, 5][rand(7) as usize];
                            let a = fast.admit(ready, &l, timeout);
                            let b = slow.admit(ready, &l, timeout);
                            assert_eq!(
                                a, b,
                                "rate {packets}/{cycles} cap {capacity} t {timeout:?} at {ready}"
                            );
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 3 * 4 * 4 * 5 * 300);
    }
}
