//! The emulator proper: builds per-PE programs and the routing from an artifact, then runs
//! samples tick by tick.
//!
//! # Tick loop
//! A sample of `T` steps runs `T + latency` ticks. Tick `t`:
//! 1. every PE runs its kernel (`pe.rs`): LIF PEs apply the packets that arrived for this tick
//!    and update their neurons; source PEs (at `t < T`) emit their nonzero input elements. Each
//!    emission carries the cycle within the tick at which the kernel would inject it;
//! 2. in PE id order, every emission is recorded (RECORD PEs: output step `t − latency`), traced,
//!    and sent if the PE SENDS: with the NoC model on, all packets of the tick go through the
//!    packet-level simulator together (injected at their cycles, routed hop by hop by the
//!    artifact's tables) and each delivery lands in the target PE's inbox for tick `t + 1` in
//!    arrival order; without it, each packet is copied to the PEs its precomputed multicast tree
//!    reaches, in emission order.
//!
//! Step 1 is independent per PE and runs on rayon when there is enough work; step 2 is
//! sequential, so every inbox is filled in one fixed order and results never depend on threads.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::error::EmuError;
use super::fanout::Plan;
use super::input::encode_step;
use super::options::EmuOptions;
use super::pe::{charge, lif_tick, source_tick, PeState, RunState, Spike};
use super::program::PeProgram;
use super::report::{Counters, Energy, EnergyFigures, Packets, PeCycles, PeSram, RunReport};
use super::ring::{accumulate_piece, RingLayout};
use super::router::TableRouter;
use crate::noc::{
    Bandwidth, Delivery, LinkParams, NocParams, Packet, PeId as NocPeId, Port, RouterId, Simulator,
    TreePacket, TreeSet,
};
use snnc_targets::spinnaker2::artifact::{
    manifest::{FORMAT, FORMAT_VERSION},
    Manifest, PeImage, PeRole, PopulationKind, RoutingFile,
};
use snnc_targets::spinnaker2::cost;
use snnc_targets::spinnaker2::machine::{Machine, PeId};

/// Largest `routers × PEs per router` grid the emulator indexes densely (64 MiB of index).
const MAX_GRID_PORTS: u64 = 1 << 24;

/// Reads one element per cache line of `data`, so that the lines are on their way into the
/// cache while the previous spike is applied (a spike's plan is a few random kilobytes: the
/// apply loop otherwise waits for each line in turn).
#[inline]
fn touch<T: Copy>(data: &[T]) {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for x in data.iter().step_by(step) {
        std::hint::black_box(*x);
    }
}

/// Total work (packets to apply plus neurons to update) of one tick above which the PEs of the
/// tick run in parallel; below it rayon's overhead costs more than it saves.
const PARALLEL_TICK_WORK: usize = 4096;

/// A progress callback: `(done, total)`. `Sync` because batches report from worker threads.
pub type Progress<'a> = dyn Fn(u64, u64) + Sync + 'a;

/// One spike of the raster: tick, population index (manifest order), neuron index in the
/// population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RasterEvent {
    pub tick: u64,
    pub population: u32,
    pub neuron: u32,
}

/// Result of one sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SampleRun {
    /// Output spikes per step, `[T][output size]`, aligned with the reference: step `s` is
    /// tick `s + latency`.
    pub output: Vec<Vec<u8>>,
    /// Every spike of every population (sources: nonzero input elements), when tracing.
    pub raster: Option<Vec<RasterEvent>>,
    pub report: RunReport,
}

/// Result of a batch: per-sample outputs (and rasters) in sample order, one summed report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchRun {
    pub outputs: Vec<Vec<Vec<u8>>>,
    pub rasters: Option<Vec<Vec<RasterEvent>>>,
    pub report: RunReport,
}

/// The cycle-level emulator of one loaded artifact. Immutable once built: every run starts
/// from the t = 0 state, so samples are independent and can run in parallel.
#[derive(Debug)]
pub struct Emulator {
    manifest: Manifest,
    pes: Vec<PeProgram>,
    router: TableRouter,
    noc: NocParams,
    opts: EmuOptions,
    /// Per key: the PEs its multicast tree reaches and their rows.
    plan: Plan,
    /// The distinct multicast trees of the keys, for the NoC model (roots in `plan`).
    trees: TreeSet,
    /// Where each PE's accumulators sit in the run's delay ring.
    ring: RingLayout,
    /// `(router index · pes_per_router + local port)` → PE index, `u32::MAX` for none.
    grid: Vec<u32>,
    pes_per_router: usize,
    input_len: usize,
    output_len: usize,
    latency: u64,
    cycles_per_tick: u64,
    sram: Vec<PeSram>,
    energy: EnergyFigures,
    /// Real-time length of a tick in microseconds (static energy).
    tick_us: u64,
}

/// NoC parameters of `machine` (documented in `docs/spinnaker2.md`, "NoC mapping"): the global
/// QPE grid is the mesh, a QPE's PEs its local ports; router latency from the chip; on-chip
/// links take `noc_link_cycles_per_packet` to cross and accept a packet that often; chip links
/// take the board's latency and rate; local links one cycle.
pub fn noc_params(machine: &Machine, opts: &EmuOptions) -> NocParams {
    let c = &machine.chip;
    let b = &machine.board;
    let link = |latency: u64, cycles: u32| LinkParams {
        latency,
        bandwidth: Bandwidth {
            packets: 1,
            cycles: cycles.max(1),
        },
        queue_capacity: opts.noc_queue_capacity,
    };
    NocParams {
        chip_width: c.mesh_width,
        chip_height: c.mesh_height,
        chips_x: b.chips_x,
        chips_y: b.chips_y,
        pes_per_router: c.pes_per_qpe as usize,
        router_latency: u64::from(c.router_latency_cycles),
        mesh_link: link(
            u64::from(c.noc_link_cycles_per_packet),
            c.noc_link_cycles_per_packet,
        ),
        chip_link: link(
            u64::from(b.chip_link_latency_cycles),
            b.chip_link_cycles_per_packet,
        ),
        local_link: link(1, 1),
        wait_timeout: opts.noc_wait_timeout,
        max_hops: c
            .mesh_width
            .saturating_mul(b.chips_x)
            .saturating_add(c.mesh_height.saturating_mul(b.chips_y))
            .saturating_mul(4)
            .max(16),
    }
}

impl Emulator {
    /// Builds the emulator from an artifact's parts: the manifest, every used PE's decoded image
    /// (any order) and the routing file. Checks that they agree (every manifest PE has an image
    /// at the coordinate the machine gives its id, roles match population kinds, input and
    /// output slices fit the tensors, routing tables only use links the mesh has).
    pub fn from_parts(
        manifest: Manifest,
        images: Vec<(PeId, PeImage)>,
        routing: &RoutingFile,
        opts: EmuOptions,
    ) -> Result<Emulator, EmuError> {
        if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
            return Err(EmuError::artifact(
                "manifest.json",
                format!(
                    "format {} version {} is not {FORMAT} version {FORMAT_VERSION}",
                    manifest.format, manifest.format_version
                ),
            ));
        }
        if opts.threads == Some(0) {
            return Err(EmuError::Option {
                name: "threads",
                reason: "must be at least 1".into(),
            });
        }
        let machine = manifest.machine.clone();
        machine
            .validate("manifest.json machine")
            .map_err(|e| EmuError::artifact("manifest.json", e.to_string()))?;
        let noc = noc_params(&machine, &opts);
        noc.validate()
            .map_err(|source| EmuError::Noc { tick: 0, source })?;
        let router = TableRouter::new(routing, &machine)?;
        let pes_per_router = machine.chip.pes_per_qpe as usize;
        let grid_ports =
            u64::from(router.width()) * u64::from(router.height()) * pes_per_router as u64;
        if grid_ports > MAX_GRID_PORTS {
            return Err(EmuError::artifact(
                "manifest.json machine",
                format!("{grid_ports} PE slots exceed the emulator's limit of {MAX_GRID_PORTS}"),
            ));
        }
        let mut by_id: HashMap<u32, PeImage> = HashMap::with_capacity(images.len());
        for (id, image) in images {
            if by_id.insert(id.0, image).is_some() {
                return Err(EmuError::artifact(format!("PE {}", id.0), "two images"));
            }
        }
        let mut infos = manifest.pes.clone();
        infos.sort_by_key(|p| p.pe);
        let mut pes = Vec::with_capacity(infos.len());
        let mut grid = vec![u32::MAX; grid_ports as usize];
        for info in &infos {
            let what = format!("manifest.json pe {}", info.pe.0);
            let coord = machine
                .pe_coord(info.pe)
                .ok_or_else(|| EmuError::artifact(&what, "PE id beyond the machine"))?;
            if coord != info.coord {
                return Err(EmuError::artifact(
                    &what,
                    format!(
                        "coordinate {:?} is not the machine's {:?}",
                        info.coord, coord
                    ),
                ));
            }
            let image = by_id
                .remove(&info.pe.0)
                .ok_or_else(|| EmuError::artifact(&what, "no image"))?;
            let pop = manifest
                .populations
                .get(info.population)
                .ok_or_else(|| EmuError::artifact(&what, "population index out of range"))?;
            let role_ok = matches!(
                (pop.kind, image.role),
                (PopulationKind::Source, PeRole::Source) | (PopulationKind::Lif, PeRole::Lif)
            );
            if !role_ok {
                return Err(EmuError::artifact(
                    &what,
                    "image role does not match the population kind",
                ));
            }
            let gx = coord.chip_x * machine.chip.mesh_width + coord.qpe_x;
            let gy = coord.chip_y * machine.chip.mesh_height + coord.qpe_y;
            let local = u8::try_from(coord.pe)
                .map_err(|_| EmuError::artifact(&what, "local PE index too large"))?;
            let index = pes.len() as u32;
            let slot = (gy as usize * router.width() as usize + gx as usize) * pes_per_router
                + usize::from(local);
            if let Some(g) = grid.get_mut(slot) {
                *g = index;
            }
            pes.push(PeProgram::new(
                info.pe.0,
                (gx, gy),
                local,
                info.population,
                &image,
                &manifest,
            )?);
        }
        if let Some(extra) = by_id.keys().min() {
            return Err(EmuError::artifact(
                format!("PE {extra}"),
                "image without a manifest entry",
            ));
        }
        let input_len = manifest.input.shape.iter().product::<usize>();
        let output_len = manifest.output.shape.iter().product::<usize>();
        for p in &pes {
            let what = || format!("PE {}", p.pe);
            if !p.lif {
                if p.population != manifest.input.population {
                    return Err(EmuError::artifact(
                        what(),
                        "source PE outside the input population",
                    ));
                }
                if p.first + p.n > input_len {
                    return Err(EmuError::artifact(
                        what(),
                        format!(
                            "source slice {}..{} exceeds the input's {input_len} elements",
                            p.first,
                            p.first + p.n
                        ),
                    ));
                }
            }
            if p.record {
                if p.population != manifest.output.population {
                    return Err(EmuError::artifact(
                        what(),
                        "RECORD PE outside the output population",
                    ));
                }
                if p.first + p.n > output_len {
                    return Err(EmuError::artifact(
                        what(),
                        format!(
                            "recorded slice {}..{} exceeds the output's {output_len} elements",
                            p.first,
                            p.first + p.n
                        ),
                    ));
                }
            }
        }
        let budget = machine.sram_budget_per_pe();
        let sram = pes
            .iter()
            .map(|p| {
                let total = cost::pe_sram_bytes(p.image_bytes / 4, p.state_bytes, p.n as u64);
                PeSram {
                    pe: p.pe,
                    image_bytes: p.image_bytes,
                    dram_bytes: p.dram_bytes,
                    state_bytes: p.state_bytes,
                    total_bytes: total,
                    budget_bytes: budget,
                }
            })
            .collect();
        let mut emu = Emulator {
            latency: u64::from(manifest.latency),
            cycles_per_tick: machine.cycles_per_tick(),
            manifest,
            pes,
            router,
            noc,
            opts,
            plan: Plan::default(),
            trees: TreeSet::new(),
            ring: RingLayout::default(),
            grid,
            pes_per_router,
            input_len,
            output_len,
            sram,
            energy: EnergyFigures::default(),
            tick_us: machine.chip.tick_us,
        };
        emu.ring = RingLayout::new(&emu.pes)?;
        emu.plan = Plan::build(
            &emu.pes,
            &emu.ring,
            &emu.router,
            &emu.grid,
            emu.pes_per_router,
            emu.noc.max_hops,
            &emu.manifest.machine,
            emu.opts.max_plan_bytes,
        )?;
        if emu.opts.noc {
            emu.trees = emu
                .plan
                .build_trees(&emu.pes, &emu.noc, &emu.router)
                .map_err(|source| EmuError::Noc { tick: 0, source })?;
        }
        Ok(emu)
    }

    /// The manifest the emulator was built from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The options it runs with.
    pub fn options(&self) -> &EmuOptions {
        &self.opts
    }

    /// Replaces the energy figures of the estimate (the defaults are documented assumptions).
    pub fn set_energy_figures(&mut self, figures: EnergyFigures) {
        self.energy = figures;
    }

    /// Pipeline latency in ticks (output step `s` is tick `s + latency`).
    pub fn latency(&self) -> u64 {
        self.latency
    }

    /// Elements of one input step and of one output step.
    pub fn io_sizes(&self) -> (usize, usize) {
        (self.input_len, self.output_len)
    }

    /// Runs one sample: `input[s]` is step `s`'s flattened input (as `snnc sim` encodes it),
    /// `T = input.len()` steps. Returns the output spikes of steps `0..T` aligned with the
    /// reference, the raster if tracing, and the report.
    pub fn run_sample(&self, input: &[Vec<f32>]) -> Result<SampleRun, EmuError> {
        self.run_sample_with_progress(input, &|_, _| {})
    }

    /// [`Emulator::run_sample`], calling `progress(ticks done, ticks)` after every tick (for a
    /// progress bar on long runs; it cannot affect results).
    pub fn run_sample_with_progress(
        &self,
        input: &[Vec<f32>],
        progress: &Progress<'_>,
    ) -> Result<SampleRun, EmuError> {
        let start = Instant::now();
        let (output, raster, counters) = match self.opts.threads {
            Some(n) => self.pool(n)?.install(|| self.run_inner(input, progress))?,
            None => self.run_inner(input, progress)?,
        };
        let report = self.finish(&counters, input.len() as u64, start.elapsed().as_secs_f64());
        Ok(SampleRun {
            output,
            raster,
            report,
        })
    }

    /// Runs one sample whose step `s` input is `input(s)`, for `steps` steps.
    pub fn run_steps(
        &self,
        steps: usize,
        input: &dyn Fn(usize) -> Vec<f32>,
    ) -> Result<SampleRun, EmuError> {
        let data: Vec<Vec<f32>> = (0..steps).map(input).collect();
        self.run_sample(&data)
    }

    /// Runs every sample (each a `[T][input size]` sequence) on rayon (`threads` workers if
    /// set), returning outputs in sample order and one report summed over the samples. Results
    /// are identical for any thread count; the first failing sample's error is returned.
    pub fn run_batch(&self, samples: &[Vec<Vec<f32>>]) -> Result<BatchRun, EmuError> {
        self.run_batch_with_progress(samples, &|_, _| {})
    }

    /// [`Emulator::run_batch`], calling `progress(samples done, samples)` as samples finish
    /// (from worker threads, in completion order; it cannot affect results).
    pub fn run_batch_with_progress(
        &self,
        samples: &[Vec<Vec<f32>>],
        progress: &Progress<'_>,
    ) -> Result<BatchRun, EmuError> {
        let start = Instant::now();
        type One = Result<(Vec<Vec<u8>>, Option<Vec<RasterEvent>>, Counters), EmuError>;
        let done = std::sync::atomic::AtomicU64::new(0);
        let total = samples.len() as u64;
        let work = || -> Vec<One> {
            samples
                .par_iter()
                .map(|s| {
                    let r = self.run_inner(s, &|_, _| {});
                    let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(d, total);
                    r
                })
                .collect::<Vec<One>>()
        };
        let results = match self.opts.threads {
            Some(n) => self.pool(n)?.install(work),
            None => work(),
        };
        let mut total = Counters::new(self.pes.len());
        let mut outputs = Vec::with_capacity(samples.len());
        let mut rasters = self.opts.trace.then(Vec::new);
        for r in results {
            let (out, raster, counters) = r?;
            total.merge(&counters);
            outputs.push(out);
            if let (Some(all), Some(one)) = (rasters.as_mut(), raster) {
                all.push(one);
            }
        }
        let steps = samples.iter().map(Vec::len).max().unwrap_or(0) as u64;
        let report = self.finish(&total, steps, start.elapsed().as_secs_f64());
        Ok(BatchRun {
            outputs,
            rasters,
            report,
        })
    }

    /// A rayon pool of `n` workers for runs with [`EmuOptions::threads`] set.
    fn pool(&self, n: usize) -> Result<rayon::ThreadPool, EmuError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| EmuError::Option {
                name: "threads",
                reason: e.to_string(),
            })
    }

    /// The tick loop of one sample (see the module doc).
    #[allow(clippy::type_complexity)]
    fn run_inner(
        &self,
        input: &[Vec<f32>],
        progress: &Progress<'_>,
    ) -> Result<(Vec<Vec<u8>>, Option<Vec<RasterEvent>>, Counters), EmuError> {
        let steps = input.len();
        for (step, values) in input.iter().enumerate() {
            if values.len() != self.input_len {
                return Err(EmuError::InputLength {
                    step,
                    got: values.len(),
                    expected: self.input_len,
                });
            }
        }
        let ticks = steps as u64 + self.latency;
        let mut run = RunState {
            pes: self.pes.iter().map(PeState::new).collect(),
            ring: self.ring.ring(),
        };
        let mut counters = Counters::new(self.pes.len());
        counters.samples = 1;
        let mut output = vec![vec![0u8; self.output_len]; steps];
        let mut raster = self.opts.trace.then(Vec::new);
        let mut encoded: Vec<i32> = Vec::with_capacity(self.input_len);
        let mut packets: Vec<Packet> = Vec::new();
        let mut sends: Vec<(u32, Spike)> = Vec::new();
        let mut sim = if self.opts.noc {
            Some(Simulator::new(&self.noc).map_err(|source| EmuError::Noc { tick: 0, source })?)
        } else {
            None
        };
        for t in 0..ticks {
            let step_values = if (t as usize) < steps {
                let values = input.get(t as usize).map(Vec::as_slice).unwrap_or(&[]);
                encode_step(
                    &self.manifest.input.encoding,
                    t as usize,
                    values,
                    &mut encoded,
                )?;
                Some(encoded.as_slice())
            } else {
                None
            };
            self.compute(&mut run, t, step_values);
            self.account(&run.pes, &mut counters);
            // Emissions: record, trace and send in PE order.
            packets.clear();
            sends.clear();
            for pi in 0..run.pes.len() {
                let (Some(p), Some(s)) = (self.pes.get(pi), run.pes.get_mut(pi)) else {
                    continue;
                };
                let spikes = std::mem::take(&mut s.spikes);
                if p.lif {
                    counters.spikes += spikes.len() as u64;
                }
                if p.record && t >= self.latency {
                    if let Some(row) = output.get_mut((t - self.latency) as usize) {
                        for sp in &spikes {
                            if let Some(o) = row.get_mut(p.first + sp.neuron as usize) {
                                *o = 1;
                            }
                        }
                    }
                }
                if let Some(r) = raster.as_mut() {
                    r.extend(spikes.iter().map(|sp| RasterEvent {
                        tick: t,
                        population: p.population as u32,
                        neuron: (p.first + sp.neuron as usize) as u32,
                    }));
                }
                if p.sends {
                    counters.packets.sent += spikes.len() as u64;
                    if self.opts.noc {
                        let source = NocPeId {
                            router: RouterId::new(p.router.0, p.router.1),
                            pe: p.local,
                        };
                        for sp in &spikes {
                            packets.push(Packet {
                                key: p.key_base.wrapping_add(sp.neuron),
                                source,
                                inject_cycle: sp.cycle,
                            });
                            sends.push((pi as u32, *sp));
                        }
                    } else {
                        sends.extend(spikes.iter().map(|sp| (pi as u32, *sp)));
                    }
                }
                if let Some(s) = run.pes.get_mut(pi) {
                    let mut spikes = spikes;
                    spikes.clear();
                    s.spikes = spikes;
                }
            }
            if self.opts.noc && !packets.is_empty() {
                if let Some(sim) = sim.as_mut() {
                    self.deliver_noc(sim, t, &packets, &sends, &mut run, &mut counters)?;
                }
            } else if !self.opts.noc {
                self.deliver_untimed(t, &sends, &mut run, &mut counters);
            }
            progress(t + 1, ticks);
        }
        counters.ticks = ticks;
        Ok((output, raster, counters))
    }

    /// Step 1 of a tick: every PE's kernel, in parallel when the tick has enough work.
    fn compute(&self, run: &mut RunState, t: u64, values: Option<&[i32]>) {
        let RunState { pes: states, ring } = run;
        let run = |p: &PeProgram, s: &mut PeState, acc: &mut [i32]| {
            if p.lif {
                lif_tick(p, s, acc, t);
            } else {
                let slice = values.and_then(|v| v.get(p.first..p.first + p.n));
                source_tick(p, s, slice);
            }
        };
        let work: usize = states
            .iter()
            .zip(&self.pes)
            .map(|(s, p)| s.pending.packets as usize + if p.lif { p.n } else { 0 })
            .sum();
        let mut regions = ring.slot_regions(&self.ring, t);
        if work >= PARALLEL_TICK_WORK && states.len() > 1 && rayon::current_num_threads() > 1 {
            states
                .par_iter_mut()
                .zip(self.pes.par_iter())
                .zip(regions.par_iter_mut())
                .for_each(|((s, p), acc)| run(p, s, acc));
        } else {
            for ((s, p), acc) in states.iter_mut().zip(&self.pes).zip(regions.iter_mut()) {
                run(p, s, acc);
            }
        }
    }

    /// Adds the tick's per-PE work to the counters.
    fn account(&self, states: &[PeState], c: &mut Counters) {
        let mut over = false;
        for (i, s) in states.iter().enumerate() {
            let w = &s.work;
            if let Some(m) = c.pe_max.get_mut(i) {
                *m = (*m).max(w.cycles);
            }
            if let Some(m) = c.pe_sum.get_mut(i) {
                *m += w.cycles;
            }
            if w.cycles > self.cycles_per_tick {
                over = true;
                if let Some(m) = c.pe_overruns.get_mut(i) {
                    *m += 1;
                }
            }
            c.packets.unmatched += w.unmatched;
            c.synaptic_events += w.synapses;
            c.neuron_updates += w.neuron_updates;
        }
        if over {
            c.overrun_ticks += 1;
        }
    }

    /// Untimed delivery: every spike reaches the PEs of its key's multicast tree.
    fn deliver_untimed(
        &self,
        t: u64,
        sends: &[(u32, Spike)],
        run: &mut RunState,
        c: &mut Counters,
    ) {
        let pk = &mut c.packets;
        for &(pi, sp) in sends {
            let Some(view) = self.plan.key(pi as usize, sp.neuron as usize) else {
                continue;
            };
            let st = view.stats;
            pk.delivered += view.segments.len() as u64;
            pk.dropped_unrouted += u64::from(st.lost);
            pk.dropped_idle_pe += u64::from(st.idle);
            pk.dropped += u64::from(st.lost) + u64::from(st.idle);
            pk.hops += u64::from(st.hops);
        }
        self.apply_sends(t, sends, run);
    }

    /// Applies the whole plan of every send (packets that reached all their targets), in send
    /// order. With several threads and enough work, the PEs are split into one contiguous
    /// group per thread and every thread applies, in send order, the segments whose target is
    /// in its group: each PE sees exactly the sequential order, so results do not change.
    fn apply_sends(&self, t: u64, sends: &[(u32, Spike)], run: &mut RunState) {
        let RunState { pes: states, ring } = run;
        let threads = rayon::current_num_threads();
        let segments: usize = sends
            .iter()
            .filter_map(|&(pi, sp)| self.plan.key(pi as usize, sp.neuron as usize))
            .map(|v| v.segments.len())
            .sum();
        if threads < 2 || states.len() < 2 || segments < PARALLEL_TICK_WORK {
            for (j, &(pi, sp)) in sends.iter().enumerate() {
                if let Some(&(npi, nsp)) = sends.get(j + 1) {
                    if let Some(next) = self.plan.key(npi as usize, nsp.neuron as usize) {
                        touch(next.segments);
                        touch(next.words);
                    }
                }
                if let Some(view) = self.plan.key(pi as usize, sp.neuron as usize) {
                    for seg in view.segments {
                        if let Some(s) = states.get_mut(seg.target() as usize) {
                            charge(&mut s.pending, seg);
                        }
                    }
                    ring.accumulate(view.words, sp.payload, t);
                }
            }
            return;
        }
        let chunk = states.len().div_ceil(threads);
        let groups: Vec<(usize, usize)> = (0..states.len())
            .step_by(chunk)
            .map(|lo| (lo, (lo + chunk).min(states.len())))
            .collect();
        let mask = ring.mask;
        let mut pieces = ring.group_pieces(&self.ring, &groups);
        states
            .par_chunks_mut(chunk)
            .zip(pieces.par_iter_mut())
            .zip(groups.par_iter())
            .for_each(|((part, pieces), &(lo, hi))| {
                let (start, _) = self.ring.span(lo, hi);
                for &(pi, sp) in sends {
                    let Some(view) = self.plan.key(pi as usize, sp.neuron as usize) else {
                        continue;
                    };
                    let mut at = 0usize;
                    for seg in view.segments {
                        let len = seg.len() as usize;
                        let from = at;
                        at += len;
                        let Some(s) = (seg.target() as usize)
                            .checked_sub(lo)
                            .and_then(|i| part.get_mut(i))
                        else {
                            continue;
                        };
                        charge(&mut s.pending, seg);
                        let words = view.words.get(from..from + len).unwrap_or(&[]);
                        accumulate_piece(pieces, start, mask, words, sp.payload, t);
                    }
                }
            });
    }

    /// Timed delivery: the tick's packets on the packet-level NoC. A packet delivered to all
    /// of its tree's PEs (the NoC can only lose copies, never add any) applies its whole plan;
    /// otherwise only the segments of the PEs it reached.
    fn deliver_noc(
        &self,
        sim: &mut Simulator<'_>,
        t: u64,
        packets: &[Packet],
        sends: &[(u32, Spike)],
        run: &mut RunState,
        c: &mut Counters,
    ) -> Result<(), EmuError> {
        let noc_err = |source| EmuError::Noc {
            tick: t as usize,
            source,
        };
        let tree_packets: Option<Vec<TreePacket>> = sends
            .iter()
            .zip(packets)
            .map(|(&(pi, sp), p)| {
                let view = self.plan.key(pi as usize, sp.neuron as usize)?;
                Some(TreePacket {
                    root: view.tree,
                    key: p.key,
                    inject_cycle: p.inject_cycle,
                })
            })
            .collect();
        let counted = match tree_packets {
            Some(tp) if tp.len() == packets.len() => {
                sim.run_trees(&tp, &self.trees, self.cycles_per_tick)
            }
            _ => sim.run_counting(packets, &self.router, self.cycles_per_tick),
        }
        .map_err(noc_err)?;
        let stats = &counted.stats;
        let reached = &counted.per_packet;
        let pk = &mut c.packets;
        pk.late += counted.late;
        let mut partial = false;
        let mut full: Vec<(u32, Spike)> = Vec::with_capacity(sends.len());
        for (i, &(pi, sp)) in sends.iter().enumerate() {
            let Some(view) = self.plan.key(pi as usize, sp.neuron as usize) else {
                continue;
            };
            let got = reached.get(i).copied().unwrap_or(0) as usize;
            if got == view.segments.len() + view.stats.idle as usize {
                full.push((pi, sp));
                pk.delivered += view.segments.len() as u64;
                pk.dropped_idle_pe += u64::from(view.stats.idle);
                pk.dropped += u64::from(view.stats.idle);
            } else {
                partial = true;
            }
        }
        self.apply_sends(t, &full, run);
        if partial {
            // Rare (congestion drops): simulate again, keeping every delivery this time.
            let recorded = sim.run(packets, &self.router, false).map_err(noc_err)?;
            self.apply_partial(t, &recorded.deliveries, sends, reached, run, pk);
        }
        pk.dropped_unrouted += stats.unrouted;
        pk.dropped_congestion += stats.dropped;
        pk.dropped += stats.unrouted + stats.dropped;
        pk.hops += stats
            .links
            .iter()
            .filter(|l| matches!(l.port, Port::Mesh(_)))
            .map(|l| l.packets)
            .sum::<u64>();
        c.max_latency = c.max_latency.max(stats.max_latency);
        Ok(())
    }

    /// The PE index at a NoC delivery's port, `u32::MAX` for a port without a program.
    fn pe_at(&self, pe: NocPeId) -> u32 {
        let slot = (pe.router.y as usize * self.router.width() as usize + pe.router.x as usize)
            * self.pes_per_router
            + usize::from(pe.pe);
        self.grid.get(slot).copied().unwrap_or(u32::MAX)
    }

    /// Applies the packets the NoC delivered to only some of their targets (congestion drops):
    /// each delivered copy applies its target's segment, in packet (emission) order.
    fn apply_partial(
        &self,
        t: u64,
        deliveries: &[Delivery],
        sends: &[(u32, Spike)],
        reached: &[u32],
        run: &mut RunState,
        pk: &mut Packets,
    ) {
        let RunState { pes: states, ring } = run;
        let full = |i: usize| -> Option<super::fanout::KeyView<'_>> {
            let &(pi, sp) = sends.get(i)?;
            let view = self.plan.key(pi as usize, sp.neuron as usize)?;
            let got = reached.get(i).copied().unwrap_or(0) as usize;
            (got != view.segments.len() + view.stats.idle as usize).then_some(view)
        };
        let mut got: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for d in deliveries {
            if full(d.packet as usize).is_some() {
                got.entry(d.packet).or_default().push(self.pe_at(d.pe));
            }
        }
        for (i, mut targets) in got {
            let (Some(view), Some(&(_, sp))) = (full(i as usize), sends.get(i as usize)) else {
                continue;
            };
            let mut at = 0usize;
            for seg in view.segments {
                let len = seg.len() as usize;
                let words = view.words.get(at..at + len).unwrap_or(&[]);
                at += len;
                let Some(pos) = targets.iter().position(|&x| x == seg.target()) else {
                    continue;
                };
                targets.swap_remove(pos);
                if let Some(s) = states.get_mut(seg.target() as usize) {
                    charge(&mut s.pending, seg);
                    ring.accumulate(words, sp.payload, t);
                    pk.delivered += 1;
                }
            }
            pk.dropped_idle_pe += targets.len() as u64;
            pk.dropped += targets.len() as u64;
        }
    }

    /// Turns counters into the report.
    fn finish(&self, c: &Counters, steps: u64, wall: f64) -> RunReport {
        let per_pe: Vec<PeCycles> = self
            .pes
            .iter()
            .enumerate()
            .map(|(i, p)| PeCycles {
                pe: p.pe,
                max: c.pe_max.get(i).copied().unwrap_or(0),
                mean: if c.ticks == 0 {
                    0.0
                } else {
                    c.pe_sum.get(i).copied().unwrap_or(0) as f64 / c.ticks as f64
                },
                overruns: c.pe_overruns.get(i).copied().unwrap_or(0),
            })
            .collect();
        let pe_ticks = c.ticks as f64 * self.pes.len() as f64;
        let cycles_sum: u64 = c.pe_sum.iter().sum();
        let f = self.energy;
        let synaptic_nj = c.synaptic_events as f64 * f.synaptic_event_pj / 1e3;
        let neuron_nj = c.neuron_updates as f64 * f.neuron_update_pj / 1e3;
        let network_nj = (c.packets.hops + c.packets.delivered) as f64 * f.packet_hop_pj / 1e3;
        // mW x us = nJ.
        let static_nj = pe_ticks * f.static_pe_mw * self.tick_us as f64;
        RunReport {
            samples: c.samples,
            steps,
            latency: self.latency,
            ticks: c.ticks,
            cycles_per_tick: self.cycles_per_tick,
            cycles_max: c.pe_max.iter().copied().max().unwrap_or(0),
            cycles_mean: if pe_ticks > 0.0 {
                cycles_sum as f64 / pe_ticks
            } else {
                0.0
            },
            per_pe,
            overruns: c.pe_overruns.iter().sum(),
            overrun_ticks: c.overrun_ticks,
            packets: c.packets.clone(),
            synaptic_events: c.synaptic_events,
            neuron_updates: c.neuron_updates,
            spikes: c.spikes,
            noc: self.opts.noc,
            noc_max_latency: c.max_latency,
            sram_max: self.sram.iter().map(|s| s.total_bytes).max().unwrap_or(0),
            sram: self.sram.clone(),
            energy: Energy {
                figures: f,
                synaptic_nj,
                neuron_nj,
                network_nj,
                static_nj,
                total_nj: synaptic_nj + neuron_nj + network_nj + static_nj,
            },
            wall_seconds: wall,
            events_per_second: if wall > 0.0 {
                c.synaptic_events as f64 / wall
            } else {
                0.0
            },
        }
    }
}
