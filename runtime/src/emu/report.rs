//! What a run reports: cycles, packets, SRAM, energy and speed, as JSON-serialisable structs.
//!
//! Everything except the wall-clock fields is a pure function of the artifact, the input and
//! the options, so two runs of one input give equal reports up to `wall_seconds` and
//! `events_per_second`.

use serde::Serialize;

/// Energy figures of the estimate. The defaults are assumptions (no per-operation energies of
/// SpiNNaker2 were found published); `docs/spinnaker2.md` ("Emulator", "Energy") derives them
/// and names the published figures they are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EnergyFigures {
    /// Per synaptic event (one synapse word applied): 4 cost-model cycles at 10 pJ per cycle.
    pub synaptic_event_pj: f64,
    /// Per neuron update (IntLif step plus one requant): 36 cycles at 10 pJ per cycle.
    pub neuron_update_pj: f64,
    /// Per packet copy crossing one link (router traversal + wire), local links included.
    pub packet_hop_pj: f64,
    /// Static power (leakage, clock, timer tick) of one used PE, in milliwatts; charged for the
    /// tick's real-time length whether or not the PE is busy.
    pub static_pe_mw: f64,
}

impl Default for EnergyFigures {
    fn default() -> Self {
        EnergyFigures {
            synaptic_event_pj: 40.0,
            neuron_update_pj: 360.0,
            packet_hop_pj: 10.0,
            static_pe_mw: 1.0,
        }
    }
}

/// The energy estimate of a run, by component, in nanojoules.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Energy {
    pub figures: EnergyFigures,
    pub synaptic_nj: f64,
    pub neuron_nj: f64,
    pub network_nj: f64,
    pub static_nj: f64,
    pub total_nj: f64,
}

/// Cycles of one PE over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeCycles {
    /// Global PE id.
    pub pe: u32,
    /// Largest cycles of any tick.
    pub max: u64,
    /// Mean cycles per tick.
    pub mean: f64,
    /// Ticks whose cycles exceeded the tick budget.
    pub overruns: u64,
}

/// SRAM of one PE: its data image plus runtime state plus spike buffer (the cost model's
/// `pe_sram_bytes`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeSram {
    pub pe: u32,
    /// The image minus a synapse section kept in DRAM.
    pub image_bytes: u64,
    /// The synapse section when the image keeps it in the chip's DRAM (not in `total_bytes`).
    pub dram_bytes: u64,
    pub state_bytes: u64,
    pub total_bytes: u64,
    /// The machine's per-PE budget (SRAM minus the code/stack reserve).
    pub budget_bytes: u64,
}

/// Packet counts. A multicast packet is `sent` once and `delivered` once per PE copy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Packets {
    pub sent: u64,
    /// Copies that reached a PE running a program.
    pub delivered: u64,
    /// Copies lost: consumed by a router without a route for the key (table miss, no default
    /// route) or dropped at a full NoC FIFO after the wait timeout, or sent to an idle PE.
    /// Results can differ from the reference when this is nonzero.
    pub dropped: u64,
    /// Of `dropped`: copies a routing table did not route.
    pub dropped_unrouted: u64,
    /// Of `dropped`: copies the NoC dropped at a full FIFO.
    pub dropped_congestion: u64,
    /// Of `dropped`: copies delivered to a PE with no program.
    pub dropped_idle_pe: u64,
    /// Copies delivered after the end of their tick (real-time violation; still applied at the
    /// next tick, so results are unchanged).
    pub late: u64,
    /// Delivered copies that matched no master entry at the PE (routed there needlessly).
    pub unmatched: u64,
    /// Link crossings of all copies between routers (mesh and chip links).
    pub hops: u64,
}

/// The report of a run (one sample, or a batch summed over samples).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// Samples in this report.
    pub samples: u64,
    /// Steps per sample and the pipeline latency: each sample ran `steps + latency` ticks.
    pub steps: u64,
    pub latency: u64,
    /// Ticks over all samples.
    pub ticks: u64,
    /// PE cycles available per tick (clock × tick).
    pub cycles_per_tick: u64,
    /// Largest PE cycles of any tick.
    pub cycles_max: u64,
    /// Mean PE cycles per PE per tick.
    pub cycles_mean: f64,
    /// Per PE, in PE id order.
    pub per_pe: Vec<PeCycles>,
    /// PE-ticks over budget, and ticks in which at least one PE was over budget.
    pub overruns: u64,
    pub overrun_ticks: u64,
    pub packets: Packets,
    pub synaptic_events: u64,
    pub neuron_updates: u64,
    /// Spikes of LIF neurons (source packets not included).
    pub spikes: u64,
    /// Whether the packet-level NoC model timed the packets.
    pub noc: bool,
    /// Largest packet latency (injection to delivery), cycles; 0 without the NoC model.
    pub noc_max_latency: u64,
    pub sram: Vec<PeSram>,
    pub sram_max: u64,
    pub energy: Energy,
    /// Host wall time of the run and synaptic events per second of it (not deterministic).
    pub wall_seconds: f64,
    pub events_per_second: f64,
}

/// Raw counters of a run, summed deterministically (in sample order) by batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counters {
    pub samples: u64,
    pub ticks: u64,
    pub pe_max: Vec<u64>,
    pub pe_sum: Vec<u64>,
    pub pe_overruns: Vec<u64>,
    pub overrun_ticks: u64,
    pub packets: Packets,
    pub synaptic_events: u64,
    pub neuron_updates: u64,
    pub spikes: u64,
    pub max_latency: u64,
}

impl Counters {
    /// Zero counters for `pes` PEs.
    pub(crate) fn new(pes: usize) -> Counters {
        Counters {
            pe_max: vec![0; pes],
            pe_sum: vec![0; pes],
            pe_overruns: vec![0; pes],
            ..Counters::default()
        }
    }

    /// Adds `other` (another sample's counters over the same PEs).
    pub(crate) fn merge(&mut self, other: &Counters) {
        self.samples += other.samples;
        self.ticks += other.ticks;
        for (a, b) in self.pe_max.iter_mut().zip(&other.pe_max) {
            *a = (*a).max(*b);
        }
        for (a, b) in self.pe_sum.iter_mut().zip(&other.pe_sum) {
            *a += b;
        }
        for (a, b) in self.pe_overruns.iter_mut().zip(&other.pe_overruns) {
            *a += b;
        }
        self.overrun_ticks += other.overrun_ticks;
        let (p, q) = (&mut self.packets, &other.packets);
        p.sent += q.sent;
        p.delivered += q.delivered;
        p.dropped += q.dropped;
        p.dropped_unrouted += q.dropped_unrouted;
        p.dropped_congestion += q.dropped_congestion;
        p.dropped_idle_pe += q.dropped_idle_pe;
        p.late += q.late;
        p.unmatched += q.unmatched;
        p.hops += q.hops;
        self.synaptic_events += other.synaptic_events;
        self.neuron_updates += other.neuron_updates;
        self.spikes += other.spikes;
        self.max_latency = self.max_latency.max(other.max_latency);
    }
}
