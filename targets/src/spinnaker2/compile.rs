//! The mapping pipeline from a [`Network`] to an [`Artifact`] and its [`MappingReport`]:
//! schedule → analyse → partition → place → keys and routing tables → data images → manifest.
//!
//! Every stage is deterministic (ordered iteration, no hash-map order, parallel stages collect
//! in index order), so compiling the same network with the same options twice gives equal
//! artifacts. Digests and byte counts of the files are left to the artifact writer
//! (`Artifact::render`), which computes them from the bytes it writes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::artifact::manifest::{
    InputInfo, KernelInfo, Manifest, ModelRef, OutputInfo, PeInfo, PopulationInfo,
    PopulationKind as MPopulationKind, ProjectionInfo, Resources, RoutingInfo, SliceInfo, FORMAT,
    FORMAT_VERSION,
};
use super::artifact::{image_path, Artifact, RouterTable, RoutingFile, ROUTING_FILE};
use super::build::{build_images, dram_per_chip, BuiltSlice};
use super::cost;
use super::error::Spinnaker2Error;
use super::layout::{layout, Layout};
use super::machine::Machine;
use super::mapping_report::{MappingReport, PopulationReport, ProjectionReport};
use super::network::{Network, PopulationKind, Schedule};
use super::partition::{
    analyse, partition_with, NetInfo, Partition, SynapseStorage, DEFAULT_MAX_RATE,
};
use super::place::{naive, place, traffic_cost, Placement};

/// Options of a spinnaker2 compile that are not part of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileOptions {
    /// The machine to map onto (default: one SpiNNaker2 chip).
    pub machine: Machine,
    /// Assumed firing probability per neuron and tick for cycle and traffic estimates
    /// (default [`DEFAULT_MAX_RATE`]); see `partition` for why an assumption is needed.
    pub max_rate: f64,
    /// Options recorded in the manifest (passes, dt, reset, machine file, ...).
    pub flags: BTreeMap<String, String>,
    /// Model file as given by the user (recorded in the manifest).
    pub model_file: String,
    /// `fnv1a64:<16 hex>` of the model file.
    pub model_digest: String,
    /// Where LIF populations keep their synapses: PE SRAM, the chip's DRAM, or `Auto` (the
    /// default: DRAM only for large populations SRAM would cut into small slices; see
    /// `partition`).
    pub synapses: SynapseStorage,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            machine: Machine::spinnaker2_default(),
            max_rate: DEFAULT_MAX_RATE,
            flags: BTreeMap::new(),
            model_file: String::new(),
            model_digest: String::new(),
            synapses: SynapseStorage::Auto,
        }
    }
}

/// Maps `net` onto `opts.machine`: the artifact (digests to be filled by its writer) and the
/// mapping report.
pub fn compile(
    net: &Network,
    opts: &CompileOptions,
) -> Result<(Artifact, MappingReport), Spinnaker2Error> {
    compile_timed(net, opts).map(|(a, r, _)| (a, r))
}

/// Wall time of each mapping stage, in pipeline order (kept out of the report, which must be
/// deterministic).
pub type StageTimes = Vec<(&'static str, Duration)>;

/// [`compile`], also returning how long each stage took (for `--timings` and benchmarks).
pub fn compile_timed(
    net: &Network,
    opts: &CompileOptions,
) -> Result<(Artifact, MappingReport, StageTimes), Spinnaker2Error> {
    let mut times: StageTimes = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, times: &mut StageTimes| {
        let now = Instant::now();
        times.push((name, now - clock));
        clock = now;
    };
    let machine = &opts.machine;
    machine.validate("machine")?;
    let schedule = net.schedule()?;
    let info = analyse(net, &schedule, opts.max_rate)?;
    lap("analyse", &mut times);
    let part = partition_with(net, &info, machine, opts.max_rate, opts.synapses)?;
    lap("partition", &mut times);
    let placement = place(net, &info, &part, &schedule.depth, machine)?;
    lap("place", &mut times);
    let lay = layout(net, &info, &part, &placement.pes, machine)?;
    lap("keys+route+compress", &mut times);
    let built = build_images(
        net,
        &info,
        &part,
        &schedule,
        &lay.keys,
        &placement.pes,
        machine,
    )?;
    lap("data images", &mut times);
    let manifest = manifest(net, opts, &schedule, &info, &part, &placement, &lay, &built)?;
    let report = report(net, opts, &schedule, &info, &part, &placement, &lay, &built);
    let mut routing = RoutingFile {
        routers: lay
            .routers
            .iter()
            .map(|r| {
                let before = u32::try_from(r.entries_before).unwrap_or(u32::MAX);
                RouterTable::from_table(r.qpe, &r.table, before)
            })
            .collect(),
    };
    routing.normalize();
    let images = built.into_iter().map(|b| (b.pe, b.image)).collect();
    lap("manifest+report", &mut times);
    Ok((
        Artifact {
            manifest,
            images,
            routing,
        },
        report,
        times,
    ))
}

/// Packets injected per step at the assumed rates.
fn packets_per_step(net: &Network, info: &NetInfo) -> f64 {
    net.populations
        .iter()
        .enumerate()
        .filter(|(i, _)| !info.outgoing[*i].is_empty())
        .map(|(i, p)| p.size as f64 * info.rate[i])
        .sum()
}

/// Chips holding at least one used PE.
fn chips_used(machine: &Machine, built: &[BuiltSlice]) -> u64 {
    built
        .iter()
        .filter_map(|b| machine.pe_coord(b.pe))
        .map(|c| (c.chip_x, c.chip_y))
        .collect::<BTreeSet<_>>()
        .len() as u64
}

#[allow(clippy::too_many_arguments)]
fn manifest(
    net: &Network,
    opts: &CompileOptions,
    schedule: &Schedule,
    info: &NetInfo,
    part: &Partition,
    placement: &Placement,
    lay: &Layout,
    built: &[BuiltSlice],
) -> Result<Manifest, Spinnaker2Error> {
    let machine = &opts.machine;
    let populations = net
        .populations
        .iter()
        .enumerate()
        .map(|(pop, p)| PopulationInfo {
            name: p.name.clone(),
            kind: match p.kind {
                PopulationKind::Source => MPopulationKind::Source,
                PopulationKind::Lif(_) => MPopulationKind::Lif,
            },
            neurons: p.size,
            depth: schedule.depth[pop],
            slices: placement.pes[pop]
                .iter()
                .enumerate()
                .map(|(s, &pe)| {
                    let (first, count) = part.slice_range(net, pop, s as u32).unwrap_or((0, 0));
                    let key = lay.keys[pop][s];
                    SliceInfo {
                        pe,
                        first,
                        count,
                        key: key.base,
                        mask: key.mask,
                    }
                })
                .collect(),
        })
        .collect();
    let projections = net
        .projections
        .iter()
        .enumerate()
        .map(|(j, p)| ProjectionInfo {
            name: p.name.clone(),
            pre: p.pre,
            post: p.post,
            synapses: p.synapses() as u64,
            delay: schedule.delay[j],
            weight_bits: p.weight_bits,
            kernel: cost::kernel_kind(p.payload, p.weight_bits),
        })
        .collect();
    let mut pes = built
        .iter()
        .map(|b| {
            let coord = machine
                .pe_coord(b.pe)
                .ok_or_else(|| Spinnaker2Error::Mapping {
                    what: "manifest".into(),
                    reason: format!("{} is not on the machine", b.pe),
                })?;
            Ok(PeInfo {
                pe: b.pe,
                coord,
                population: b.population,
                slice: b.slice,
                image: image_path(b.pe),
                bytes: 0,
                digest: String::new(),
                sram_bytes: b.sram_bytes,
                dram_bytes: b.dram_bytes,
                est_cycles_per_tick: b.est_cycles_per_tick,
            })
        })
        .collect::<Result<Vec<_>, Spinnaker2Error>>()?;
    pes.sort_by_key(|p| p.pe);
    let after: Vec<usize> = lay.routers.iter().map(|r| r.table.len()).collect();
    Ok(Manifest {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        snnc_version: env!("CARGO_PKG_VERSION").to_string(),
        model: ModelRef {
            file: opts.model_file.clone(),
            digest: opts.model_digest.clone(),
        },
        flags: opts.flags.clone(),
        machine: machine.clone(),
        latency: schedule.latency,
        steps_note: format!(
            "a run of T steps executes T + {} ticks; output step s is the output population's \
             spikes at tick s + {}",
            schedule.latency, schedule.latency
        ),
        input: InputInfo {
            name: net.input.name.clone(),
            shape: net.input.shape.clone(),
            population: net.input.population,
            encoding: net.input.encoding.clone(),
        },
        output: OutputInfo {
            name: net.output.name.clone(),
            shape: net.output.shape.clone(),
            population: net.output.population,
        },
        populations,
        projections,
        pes,
        routing: RoutingInfo {
            file: ROUTING_FILE.to_string(),
            digest: String::new(),
            routers: after.iter().filter(|&&n| n > 0).count(),
            entries_before: lay
                .routers
                .iter()
                .filter(|r| !r.table.is_empty())
                .map(|r| r.entries_before as u64)
                .sum(),
            entries_after: after.iter().map(|&n| n as u64).sum(),
            max_entries: after.iter().copied().max().unwrap_or(0) as u32,
        },
        resources: Resources {
            pes_used: built.len() as u64,
            pes_lower_bound: part.lower_bound,
            chips_used: chips_used(machine, built),
            sram_max_per_pe: built.iter().map(|b| b.sram_bytes).max().unwrap_or(0),
            sram_total: built.iter().map(|b| b.sram_bytes).sum(),
            dram_max_per_chip: dram_per_chip(built, machine)
                .values()
                .copied()
                .max()
                .unwrap_or(0),
            dram_total: built.iter().map(|b| b.dram_bytes).sum(),
            expected_packets_per_step: packets_per_step(net, info),
            longest_path_cycles: lay.longest_path_cycles,
        },
        kernel: KernelInfo {
            files: Vec::new(),
            digest: String::new(),
        },
    })
}

#[allow(clippy::too_many_arguments)]
fn report(
    net: &Network,
    opts: &CompileOptions,
    schedule: &Schedule,
    info: &NetInfo,
    part: &Partition,
    placement: &Placement,
    lay: &Layout,
    built: &[BuiltSlice],
) -> MappingReport {
    let machine = &opts.machine;
    let budget = machine.cycles_per_tick();
    let sram_total: u64 = built.iter().map(|b| b.sram_bytes).sum();
    let senders = |payload: bool| -> u64 {
        net.populations
            .iter()
            .enumerate()
            .filter(|(i, _)| !info.outgoing[*i].is_empty() && info.payload[*i] == payload)
            .map(|(_, p)| p.size as u64)
            .sum()
    };
    let populations = net
        .populations
        .iter()
        .enumerate()
        .map(|(pop, p)| {
            let mine = built.iter().filter(|b| b.population == pop);
            let plan = &part.plans[pop];
            PopulationReport {
                name: p.name.clone(),
                kind: match p.kind {
                    PopulationKind::Source => "source".into(),
                    PopulationKind::Lif(_) => "lif".into(),
                },
                neurons: p.size as u64,
                depth: schedule.depth[pop],
                slices: plan.slices,
                slice_size: plan.slice_size,
                limit: plan.limit,
                cycles_feasible: plan.cycles_feasible,
                sram_max: mine.clone().map(|b| b.sram_bytes).max().unwrap_or(0),
                synapses_dram: plan.dram,
                dram_max: mine.clone().map(|b| b.dram_bytes).max().unwrap_or(0),
                cycles_max: mine
                    .clone()
                    .map(|b| b.est_cycles_per_tick)
                    .max()
                    .unwrap_or(0),
                synapses: mine.map(|b| b.synapses).sum(),
            }
        })
        .collect();
    let projections = net
        .projections
        .iter()
        .enumerate()
        .map(|(j, p)| ProjectionReport {
            name: p.name.clone(),
            pre: net.populations[p.pre].name.clone(),
            post: net.populations[p.post].name.clone(),
            synapses: p.synapses() as u64,
            delay: schedule.delay[j],
            kernel: match cost::kernel_kind(p.payload, p.weight_bits) {
                super::artifact::manifest::KernelKind::Mac => "mac".into(),
                super::artifact::manifest::KernelKind::Event => "event".into(),
            },
        })
        .collect();
    let before: Vec<u64> = lay
        .routers
        .iter()
        .map(|r| r.entries_before as u64)
        .collect();
    let after: Vec<u64> = lay.routers.iter().map(|r| r.table.len() as u64).collect();
    MappingReport {
        model: net.name.clone(),
        pes_used: built.len() as u64,
        pes_lower_bound: part.lower_bound,
        pes_available: u64::from(machine.total_pes()),
        chips_used: chips_used(machine, built),
        sram_budget_per_pe: machine.sram_budget_per_pe(),
        sram_max_per_pe: built.iter().map(|b| b.sram_bytes).max().unwrap_or(0),
        sram_mean_per_pe: if built.is_empty() {
            0.0
        } else {
            sram_total as f64 / built.len() as f64
        },
        sram_total,
        dram_budget_per_chip: machine.chip.dram_bytes,
        dram_max_per_chip: dram_per_chip(built, machine)
            .values()
            .copied()
            .max()
            .unwrap_or(0),
        dram_total: built.iter().map(|b| b.dram_bytes).sum(),
        cycles_per_tick_budget: budget,
        est_cycles_max_per_pe: built
            .iter()
            .map(|b| b.est_cycles_per_tick)
            .max()
            .unwrap_or(0),
        pes_over_cycle_budget: built
            .iter()
            .filter(|b| b.est_cycles_per_tick > budget)
            .count() as u64,
        routers: after.iter().filter(|&&n| n > 0).count() as u64,
        routers_on_trees: lay.routers.len() as u64,
        routing_entries_limit: u64::from(machine.chip.routing_entries),
        routing_entries_before_max: before.iter().copied().max().unwrap_or(0),
        routing_entries_before_total: before.iter().sum(),
        routing_entries_after_max: after.iter().copied().max().unwrap_or(0),
        routing_entries_after_total: after.iter().sum(),
        max_rate: part.max_rate,
        spiking_senders: senders(false),
        payload_senders: senders(true),
        expected_packets_per_step: packets_per_step(net, info),
        expected_link_traversals_per_step: lay.expected_link_traversals,
        longest_path_hops: lay.longest_path_hops,
        longest_path_cycles: lay.longest_path_cycles,
        placement_cost: placement.cost,
        placement_initial_cost: placement.initial_cost,
        placement_naive_cost: traffic_cost(net, info, part, machine, &naive(part)),
        placement_swaps: placement.swaps,
        latency: schedule.latency,
        populations,
        projections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::synthetic;

    #[test]
    fn manifest_and_report_describe_the_mapping() {
        let net = synthetic::layered(&[64, 96, 10], 1, true);
        let opts = CompileOptions {
            model_file: "m.nir".into(),
            model_digest: "fnv1a64:0000000000000001".into(),
            ..CompileOptions::default()
        };
        let Ok((a, r)) = compile(&net, &opts) else {
            panic!("compile")
        };
        let m = &a.manifest;
        assert_eq!(m.format, FORMAT);
        assert_eq!(m.model.file, "m.nir");
        assert_eq!(m.latency, 2);
        assert_eq!(m.populations.len(), 3);
        assert_eq!(m.pes.len(), 3);
        assert_eq!(a.images.len(), 3);
        assert_eq!(m.resources.pes_used, 3);
        assert_eq!(r.pes_used, 3);
        assert_eq!(r.pes_lower_bound, 3);
        // Spiking senders: 64 inputs + 96 hidden at rate 0.1; the output sends nothing.
        assert_eq!(r.spiking_senders, 160);
        assert!((r.expected_packets_per_step - 16.0).abs() < 1e-9);
        assert!((r.expected_packets(0.5) - 80.0).abs() < 1e-9);
        assert_eq!(m.projections[1].delay, 1);
        assert_eq!(m.resources.longest_path_cycles, r.longest_path_cycles);
        let text = r.render();
        for needle in [
            "PEs used / lower bound / available",
            "3 / 3 / 152",
            "rec1",
            "lif2",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(json.contains("\"routing_entries_limit\":16384"), "{json}");
        // Timings cover every stage.
        let Ok((_, _, times)) = compile_timed(&net, &opts) else {
            panic!("compile")
        };
        assert_eq!(times.len(), 6);
    }

    #[test]
    fn bad_options_are_errors() {
        let net = synthetic::layered(&[8, 4], 1, false);
        let mut opts = CompileOptions {
            max_rate: 1.5,
            ..CompileOptions::default()
        };
        let e = compile(&net, &opts).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("max_rate")));
        opts.max_rate = 0.1;
        opts.machine.chip.qpes = 0;
        let e = compile(&net, &opts).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("chip.qpes")));
    }
}
