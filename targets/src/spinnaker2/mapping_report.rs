//! The mapping report: what the compiler did with the machine, as JSON (serde) and as a human
//! table ([`MappingReport::render`]).
//!
//! It answers the questions issue 4 asks of a mapping: how many PEs against the lower bound,
//! how full each PE's SRAM is, how big the routing tables are before and after compression, how
//! many packets a step is expected to inject and how long the longest path takes. Packet and
//! cycle figures rest on the partition's firing-rate assumption (`max_rate`), stated in the
//! report. The report holds no timings, so it is deterministic like the artifact.

use std::fmt::Write as _;

use serde::Serialize;

use super::partition::Limit;

/// One population's share of the mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationReport {
    pub name: String,
    /// "source" or "lif".
    pub kind: String,
    pub neurons: u64,
    /// Pipeline depth (start tick).
    pub depth: u32,
    /// Slices = PEs.
    pub slices: u32,
    /// Neurons per slice (the last may hold fewer).
    pub slice_size: u32,
    /// What bounded the slice size.
    pub limit: Limit,
    /// False when even one-neuron slices overrun the tick at the assumed rate.
    pub cycles_feasible: bool,
    /// Largest SRAM use of one of its PEs, bytes.
    pub sram_max: u64,
    /// Its synapse sections live in the chips' DRAM.
    pub synapses_dram: bool,
    /// Largest DRAM use (synapse section) of one of its PEs, bytes.
    pub dram_max: u64,
    /// Largest estimated cycles per tick of one of its PEs.
    pub cycles_max: u64,
    /// Synapses stored on its PEs (incoming).
    pub synapses: u64,
}

/// One projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionReport {
    pub name: String,
    pub pre: String,
    pub post: String,
    pub synapses: u64,
    /// Hardware delay, ticks.
    pub delay: u32,
    /// "event" or "mac".
    pub kernel: String,
}

/// Figures of a whole mapping (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingReport {
    pub model: String,
    pub pes_used: u64,
    pub pes_lower_bound: u64,
    pub pes_available: u64,
    pub chips_used: u64,
    pub sram_budget_per_pe: u64,
    pub sram_max_per_pe: u64,
    pub sram_mean_per_pe: f64,
    pub sram_total: u64,
    /// DRAM per chip, bytes.
    pub dram_budget_per_chip: u64,
    /// Largest DRAM use of one chip by synapse sections, bytes.
    pub dram_max_per_chip: u64,
    /// DRAM used by synapse sections over all chips, bytes.
    pub dram_total: u64,
    pub cycles_per_tick_budget: u64,
    pub est_cycles_max_per_pe: u64,
    /// PEs whose estimate exceeds the tick budget (real-time overrun expected).
    pub pes_over_cycle_budget: u64,
    /// Routers holding at least one entry after compression.
    pub routers: u64,
    /// Routers on some multicast tree (including those left with default routing only).
    pub routers_on_trees: u64,
    pub routing_entries_limit: u64,
    pub routing_entries_before_max: u64,
    pub routing_entries_before_total: u64,
    pub routing_entries_after_max: u64,
    pub routing_entries_after_total: u64,
    /// Firing probability per neuron and tick assumed for spiking populations.
    pub max_rate: f64,
    /// Neurons of spiking populations that send (packets per step = this × rate).
    pub spiking_senders: u64,
    /// Elements of payload sources that send (assumed non-zero every step).
    pub payload_senders: u64,
    /// Packets injected per step at `max_rate`.
    pub expected_packets_per_step: f64,
    /// Link traversals per step at `max_rate` (packets × multicast-tree links).
    pub expected_link_traversals_per_step: f64,
    pub longest_path_hops: u32,
    pub longest_path_cycles: u64,
    /// Placement traffic cost (packets × hops per step): final, space-filling start, naive.
    pub placement_cost: f64,
    pub placement_initial_cost: f64,
    pub placement_naive_cost: f64,
    pub placement_swaps: u64,
    /// Pipeline latency, ticks.
    pub latency: u32,
    pub populations: Vec<PopulationReport>,
    pub projections: Vec<ProjectionReport>,
}

impl MappingReport {
    /// Packets injected per step if spiking neurons fire with probability `rate` per step.
    pub fn expected_packets(&self, rate: f64) -> f64 {
        self.payload_senders as f64 + rate * self.spiking_senders as f64
    }

    /// The report as a human-readable table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "mapping report: {}", self.model);
        let mut rows: Vec<(&str, String)> = vec![
            (
                "PEs used / lower bound / available",
                format!(
                    "{} / {} / {} ({} chips)",
                    self.pes_used, self.pes_lower_bound, self.pes_available, self.chips_used
                ),
            ),
            (
                "SRAM per PE max / mean / budget",
                format!(
                    "{} / {:.0} / {} bytes (total {})",
                    self.sram_max_per_pe,
                    self.sram_mean_per_pe,
                    self.sram_budget_per_pe,
                    self.sram_total
                ),
            ),
            (
                "cycles per tick max / budget",
                format!(
                    "{} / {} ({} PEs over budget)",
                    self.est_cycles_max_per_pe,
                    self.cycles_per_tick_budget,
                    self.pes_over_cycle_budget
                ),
            ),
            (
                "routing entries max before / after / limit",
                format!(
                    "{} / {} / {}",
                    self.routing_entries_before_max,
                    self.routing_entries_after_max,
                    self.routing_entries_limit
                ),
            ),
            (
                "routing entries total before / after",
                format!(
                    "{} / {} in {} routers ({} on trees)",
                    self.routing_entries_before_total,
                    self.routing_entries_after_total,
                    self.routers,
                    self.routers_on_trees
                ),
            ),
            (
                "expected packets per step",
                format!(
                    "{:.1} at rate {} ({:.1} link traversals)",
                    self.expected_packets_per_step,
                    self.max_rate,
                    self.expected_link_traversals_per_step
                ),
            ),
            (
                "longest path",
                format!(
                    "{} hops, {} cycles",
                    self.longest_path_hops, self.longest_path_cycles
                ),
            ),
            (
                "placement traffic (packets x hops)",
                format!(
                    "{:.1} (space-filling start {:.1}, naive {:.1}, {} swaps)",
                    self.placement_cost,
                    self.placement_initial_cost,
                    self.placement_naive_cost,
                    self.placement_swaps
                ),
            ),
            ("latency", format!("{} ticks", self.latency)),
        ];
        if self.dram_total > 0 {
            rows.insert(
                2,
                (
                    "DRAM per chip max / budget (synapses)",
                    format!(
                        "{} / {} bytes (total {})",
                        self.dram_max_per_chip, self.dram_budget_per_chip, self.dram_total
                    ),
                ),
            );
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<width$}  {v}");
        }
        let _ = writeln!(
            s,
            "\n  {:<20} {:>6} {:>9} {:>5} {:>6} {:>6} {:<7} {:>9} {:>10} {:>11}",
            "population",
            "kind",
            "neurons",
            "depth",
            "slices",
            "size",
            "limit",
            "sram max",
            "cycles max",
            "synapses"
        );
        for p in &self.populations {
            let limit = match p.limit {
                Limit::Neurons => "neurons",
                Limit::Sram => "sram",
                Limit::Cycles => "cycles",
            };
            let _ = writeln!(
                s,
                "  {:<20} {:>6} {:>9} {:>5} {:>6} {:>6} {:<7} {:>9} {:>10}{} {:>10}",
                p.name,
                p.kind,
                p.neurons,
                p.depth,
                p.slices,
                p.slice_size,
                limit,
                p.sram_max,
                p.cycles_max,
                if p.cycles_feasible { " " } else { "!" },
                p.synapses
            );
        }
        let _ = writeln!(
            s,
            "\n  {:<20} {:<20} {:<20} {:>11} {:>5} {:<6}",
            "projection", "pre", "post", "synapses", "delay", "kernel"
        );
        for p in &self.projections {
            let _ = writeln!(
                s,
                "  {:<20} {:<20} {:<20} {:>11} {:>5} {:<6}",
                p.name, p.pre, p.post, p.synapses, p.delay, p.kernel
            );
        }
        for p in self.populations.iter().filter(|p| p.synapses_dram) {
            let _ = writeln!(
                s,
                "\n  synapses of `{}` in DRAM (largest synapse section {} bytes)",
                p.name, p.dram_max
            );
        }
        if self.populations.iter().any(|p| !p.cycles_feasible) {
            let _ = writeln!(
                s,
                "\n  ! even one-neuron slices exceed the tick budget at the assumed rate: \
                 expect real-time overruns"
            );
        }
        s
    }
}
