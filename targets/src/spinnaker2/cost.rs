//! The cycle and memory cost model of a spinnaker2 PE (issue 4, docs/spinnaker2.md "Cost model").
//!
//! One set of constants and functions serves the compiler (partitioning under the
//! cycles-per-tick limit, the mapping report) and the emulator (cycles per PE per tick), so the
//! two can never disagree on what a tick costs. The figures are assumptions in the spirit of
//! published Cortex-M4F event-driven kernels (tens of cycles per packet for the master-table
//! lookup and DMA set-up, a few cycles per synapse word), not measurements on silicon.

use super::artifact::manifest::KernelKind;

/// Fixed cost of one tick on every PE: timer interrupt, loop set-up, DMA bookkeeping.
pub const TICK_OVERHEAD_CYCLES: u64 = 400;
/// Per received packet: interrupt entry, master-table search, row-pointer fetch.
pub const PACKET_CYCLES: u64 = 40;
/// Per synapse word processed by the event-driven kernel (decode, ring index, accumulate).
pub const EVENT_SYNAPSE_CYCLES: u64 = 4;
/// Per packet handled by the MAC-array kernel, on top of the row's MAC cycles (set-up).
pub const MAC_PACKET_OVERHEAD_CYCLES: u64 = 10;
/// Per neuron and tick: the IntLif update (leak multiply, rounding, clamp, threshold).
pub const NEURON_UPDATE_CYCLES: u64 = 24;
/// Per neuron, tick and synapse type: one requantization of an accumulator.
pub const SYNAPSE_TYPE_CYCLES: u64 = 12;
/// Per spike sent: building and injecting one multicast packet.
pub const SPIKE_SENT_CYCLES: u64 = 8;
/// Per input element a source PE scans each tick (zero elements send nothing).
pub const SOURCE_ELEMENT_CYCLES: u64 = 2;
/// Widest weights the 8-bit MAC array multiplies directly.
pub const MAC_MAX_WEIGHT_BITS: u32 = 8;
/// Bytes per neuron of the outgoing spike buffer a PE keeps beside its image and state (one
/// key word per neuron, the worst case of every neuron spiking in one tick).
pub const SPIKE_BUFFER_BYTES_PER_NEURON: u64 = 4;

/// Which kernel processes a projection's packets: the MAC array for payload (value) packets
/// with weights of at most 8 bits (converted/quantized ANN layers), the event-driven path for
/// everything else (spikes, or weights too wide for the 8-bit multipliers).
pub fn kernel_kind(payload: bool, weight_bits: u32) -> KernelKind {
    if payload && weight_bits <= MAC_MAX_WEIGHT_BITS {
        KernelKind::Mac
    } else {
        KernelKind::Event
    }
}

/// Kernel of the master entries of one pre population on a post PE: their rows hold the
/// synapses of every projection between the two populations, so the MAC array is used only when
/// all of those projections qualify ([`kernel_kind`]); no projection means the event path.
pub fn group_kernel(kinds: impl IntoIterator<Item = KernelKind>) -> KernelKind {
    let mut any = false;
    for k in kinds {
        if k != KernelKind::Mac {
            return KernelKind::Event;
        }
        any = true;
    }
    if any {
        KernelKind::Mac
    } else {
        KernelKind::Event
    }
}

/// Cycles of processing one row of `row_len` synapses, without the per-packet cost: 4 per
/// synapse event-driven, `ceil(row_len / macs_per_cycle) + 10` on the MAC array.
pub fn row_cycles(kernel: KernelKind, row_len: u64, macs_per_cycle: u32) -> u64 {
    match kernel {
        KernelKind::Event => row_len.saturating_mul(EVENT_SYNAPSE_CYCLES),
        KernelKind::Mac => {
            row_len.div_ceil(u64::from(macs_per_cycle.max(1))) + MAC_PACKET_OVERHEAD_CYCLES
        }
    }
}

/// Cycles of one received packet whose row has `row_len` synapses (the packet cost plus the
/// row). A packet that matches no master entry costs [`PACKET_CYCLES`] alone.
pub fn packet_cycles(kernel: KernelKind, row_len: u64, macs_per_cycle: u32) -> u64 {
    PACKET_CYCLES + row_cycles(kernel, row_len, macs_per_cycle)
}

/// Extra cycles of one received packet whose row lives in the chip's DRAM
/// (`SYNAPSES_DRAM` images): one DMA read of the row (its count word and `row_len` synapse
/// words) costs `setup_cycles` plus the bytes over `bytes_per_cycle`, rounded up. The row
/// pointer (or bitmap word) is assumed to arrive in the same transfer. Rows in SRAM cost
/// nothing extra; a packet that matches no row reads nothing.
pub fn dram_row_cycles(row_len: u64, setup_cycles: u32, bytes_per_cycle: u32) -> u64 {
    let bytes = row_len.saturating_add(1).saturating_mul(4);
    u64::from(setup_cycles).saturating_add(bytes.div_ceil(u64::from(bytes_per_cycle.max(1))))
}

/// Cycles of one received packet with a row of `row_len` synapses, DRAM fetch included when
/// `dram` ([`packet_cycles`] + [`dram_row_cycles`] with the machine's DMA figures).
pub fn packet_cycles_on(
    machine: &super::machine::Machine,
    kernel: KernelKind,
    row_len: u64,
    dram: bool,
) -> u64 {
    let c = &machine.chip;
    let base = packet_cycles(kernel, row_len, c.macs_per_cycle);
    if dram {
        base.saturating_add(dram_row_cycles(
            row_len,
            c.dram_row_setup_cycles,
            c.dram_bytes_per_cycle,
        ))
    } else {
        base
    }
}

/// Cycles of updating `n` LIF neurons with `types` synapse types in one tick.
pub fn neuron_cycles(n: u64, types: u32) -> u64 {
    n.saturating_mul(NEURON_UPDATE_CYCLES + SYNAPSE_TYPE_CYCLES * u64::from(types))
}

/// Cycles of sending `spikes` packets.
pub fn spike_cycles(spikes: u64) -> u64 {
    spikes.saturating_mul(SPIKE_SENT_CYCLES)
}

/// Cycles of a source PE scanning its `n` input elements.
pub fn source_cycles(n: u64) -> u64 {
    n.saturating_mul(SOURCE_ELEMENT_CYCLES)
}

/// Runtime state of a LIF PE in bytes: `v[n]` and `acc[D][K][n]` (i32 each). Sources keep none.
pub fn lif_state_bytes(n: u64, slots: u32, types: u32) -> u64 {
    4 * n * (1 + u64::from(slots) * u64::from(types))
}

/// Runtime state of a source PE in bytes: the step's input values for its `n` elements (i32).
pub fn source_state_bytes(n: u64) -> u64 {
    4 * n
}

/// SRAM a PE needs at run time: its data image, runtime state and the outgoing spike buffer.
/// The partitioner keeps this under `Machine::sram_budget_per_pe()`.
pub fn pe_sram_bytes(image_words: u64, state_bytes: u64, n: u64) -> u64 {
    image_words
        .saturating_mul(4)
        .saturating_add(state_bytes)
        .saturating_add(n.saturating_mul(SPIKE_BUFFER_BYTES_PER_NEURON))
}

/// Delay-ring slots for a largest delay of `max_delay` ticks: the next power of two at or above
/// it (so the kernel indexes the ring with a mask), at least 1.
pub fn ring_slots(max_delay: u32) -> u32 {
    max_delay.max(1).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_choice() {
        assert_eq!(kernel_kind(true, 8), KernelKind::Mac);
        assert_eq!(kernel_kind(true, 2), KernelKind::Mac);
        assert_eq!(kernel_kind(true, 9), KernelKind::Event);
        assert_eq!(kernel_kind(false, 4), KernelKind::Event);
        assert_eq!(
            group_kernel([KernelKind::Mac, KernelKind::Mac]),
            KernelKind::Mac
        );
        assert_eq!(
            group_kernel([KernelKind::Mac, KernelKind::Event]),
            KernelKind::Event
        );
        assert_eq!(group_kernel([]), KernelKind::Event);
    }

    #[test]
    fn cycle_figures() {
        assert_eq!(packet_cycles(KernelKind::Event, 10, 64), 40 + 40);
        assert_eq!(packet_cycles(KernelKind::Mac, 128, 64), 40 + 2 + 10);
        assert_eq!(packet_cycles(KernelKind::Mac, 129, 64), 40 + 3 + 10);
        assert_eq!(packet_cycles(KernelKind::Mac, 0, 64), 40 + 10);
        assert_eq!(neuron_cycles(100, 2), 100 * (24 + 24));
        assert_eq!(spike_cycles(3), 24);
        assert_eq!(source_cycles(64), 128);
        // 10 synapses + count = 44 bytes at 4 per cycle = 11, plus 100 set-up.
        assert_eq!(dram_row_cycles(10, 100, 4), 111);
        assert_eq!(dram_row_cycles(0, 100, 3), 102);
        let m = crate::spinnaker2::machine::Machine::spinnaker2_default();
        assert_eq!(packet_cycles_on(&m, KernelKind::Event, 10, false), 80);
        assert_eq!(packet_cycles_on(&m, KernelKind::Event, 10, true), 80 + 111);
    }

    #[test]
    fn memory_figures() {
        assert_eq!(lif_state_bytes(10, 4, 2), 4 * 10 * 9);
        assert_eq!(pe_sram_bytes(100, 360, 10), 400 + 360 + 40);
        assert_eq!(ring_slots(0), 1);
        assert_eq!(ring_slots(1), 1);
        assert_eq!(ring_slots(3), 4);
        assert_eq!(ring_slots(8), 8);
        assert_eq!(ring_slots(9), 16);
    }
}
