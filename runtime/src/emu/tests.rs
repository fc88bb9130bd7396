//! End-to-end tests of the emulator on hand-built artifacts, written to a temporary directory and
//! loaded back, against an oracle built from `snnc_ir`'s reference integer semantics
//! (`requant_scale`, `IntLifState`).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use snnc_ir::op::int::{requant_scale, IntLifState};
use snnc_ir::op::{IntLif, ResetMode};
use snnc_ir::{DType, Tensor};
use snnc_targets::spinnaker2::artifact::{
    build_synaptic_matrix, image_path, synapse_word, Artifact, InputEncoding, InputInfo,
    KernelInfo, KernelKind, LoadedArtifact, Manifest, MatrixBlock, ModelRef, NeuronParams,
    OutputInfo, PeImage, PeInfo, PeRole, PopulationInfo, PopulationKind, ProjectionInfo,
    RequantEntry, Resources, RouterEntry, RouterTable, RoutingFile, RoutingInfo, SliceInfo,
};
use snnc_targets::spinnaker2::cost::ring_slots;
use snnc_targets::spinnaker2::machine::{Machine, PeId, QpeCoord};

/// LIF parameters of a test population (one value per neuron).
#[derive(Clone, Debug)]
pub(super) struct TLif {
    pub decay: Vec<i32>,
    pub bias: Vec<i32>,
    pub threshold: Vec<i32>,
    pub v_reset: Vec<i32>,
    pub frac_bits: u32,
    pub state_bits: u32,
    pub subtract: bool,
}

/// A test population: one slice on one PE.
#[derive(Clone, Debug)]
pub(super) struct TPop {
    pub n: usize,
    pub depth: u32,
    /// PEs of the population's slices, in neuron order (equal chunks, at most 16 neurons each).
    pub pes: Vec<u32>,
    /// Key of slice 0; slice `i` uses `key + 16 i` with mask `!0xf`.
    pub key: u32,
    /// `None`: the input (source) population.
    pub lif: Option<TLif>,
}

/// A test projection with dense weights `w[pre][post]` and requant per post neuron.
#[derive(Clone, Debug)]
pub(super) struct TProj {
    pub pre: usize,
    pub post: usize,
    pub recurrent: bool,
    pub extra: u32,
    pub w: Vec<Vec<i32>>,
    pub rq: Vec<RequantEntry>,
}

/// A test network: populations (0 is the input), projections, the output population.
#[derive(Clone, Debug)]
pub(super) struct TNet {
    pub machine: Machine,
    pub encoding: InputEncoding,
    pub pops: Vec<TPop>,
    pub projs: Vec<TProj>,
    pub output: usize,
}

/// Links and local PEs of one routing entry under construction.
type Outputs = (BTreeSet<u32>, BTreeSet<u32>);

fn link_index(from: QpeCoord, to: QpeCoord, m: &Machine) -> u32 {
    let gx = |q: QpeCoord| q.chip_x * m.chip.mesh_width + q.qpe_x;
    let gy = |q: QpeCoord| q.chip_y * m.chip.mesh_height + q.qpe_y;
    if gx(to) > gx(from) {
        0
    } else if gx(to) < gx(from) {
        3
    } else if gy(to) > gy(from) {
        2
    } else {
        5
    }
}

impl TNet {
    fn hw_delay(&self, p: &TProj) -> u32 {
        let d = |i: usize| self.pops.get(i).map_or(0, |p| p.depth);
        d(p.post) - d(p.pre) + u32::from(p.recurrent) + p.extra
    }

    /// Slices of population `pi`: `(pe, first, count, key)`; slice `i` gets key `key + 16 i`.
    fn slices(&self, pi: usize) -> Vec<(u32, usize, usize, u32)> {
        let p = &self.pops[pi];
        let chunk = p.n.div_ceil(p.pes.len());
        p.pes
            .iter()
            .enumerate()
            .map(|(i, &pe)| {
                let first = i * chunk;
                (pe, first, chunk.min(p.n - first), p.key + 16 * i as u32)
            })
            .collect()
    }

    /// The artifact of this network, with dimension-ordered routes for every projection.
    pub(super) fn artifact(&self) -> Artifact {
        let m = &self.machine;
        let payload_input = !matches!(self.encoding, InputEncoding::Spikes);
        let mut images = Vec::new();
        let mut pes = Vec::new();
        let mut populations = Vec::new();
        for (pi, p) in self.pops.iter().enumerate() {
            let incoming: Vec<&TProj> = self.projs.iter().filter(|q| q.post == pi).collect();
            let sends = self.projs.iter().any(|q| q.pre == pi);
            let mut slices = Vec::new();
            for (si, (pe, first, count, key)) in self.slices(pi).into_iter().enumerate() {
                let image = match &p.lif {
                    None => PeImage::source(count as u32, key, first as u32, payload_input, sends),
                    Some(l) => {
                        let max_delay =
                            incoming.iter().map(|q| self.hw_delay(q)).max().unwrap_or(1);
                        let mut blocks = Vec::new();
                        for (k, q) in incoming.iter().enumerate() {
                            let delay = self.hw_delay(q);
                            for (_, pfirst, pcount, pkey) in self.slices(q.pre) {
                                blocks.push(MatrixBlock {
                                    key: pkey,
                                    mask: !0xf,
                                    payload: self.pops[q.pre].lif.is_none() && payload_input,
                                    rows: (pfirst..pfirst + pcount)
                                        .map(|j| {
                                            (first..first + count)
                                                .filter(|&i| q.w[j][i] != 0)
                                                .map(|i| {
                                                    synapse_word(
                                                        (i - first) as u32,
                                                        delay,
                                                        k as u32,
                                                        q.w[j][i],
                                                    )
                                                    .unwrap()
                                                })
                                                .collect()
                                        })
                                        .collect(),
                                });
                            }
                        }
                        let (master, synapses) = build_synaptic_matrix(blocks).unwrap();
                        PeImage {
                            role: PeRole::Lif,
                            n: count as u32,
                            key_base: key,
                            record: pi == self.output,
                            payload: false,
                            reset_subtract: l.subtract,
                            sends,
                            synapses_dram: false,
                            start_tick: p.depth,
                            state_bits: l.state_bits,
                            frac_bits: l.frac_bits,
                            k: incoming.len() as u32,
                            d: ring_slots(max_delay),
                            first: first as u32,
                            neurons: (first..first + count)
                                .map(|i| NeuronParams {
                                    decay: l.decay[i],
                                    bias: l.bias[i],
                                    threshold: l.threshold[i],
                                    v_reset: l.v_reset[i],
                                })
                                .collect(),
                            requant: incoming
                                .iter()
                                .map(|q| q.rq[first..first + count].to_vec())
                                .collect(),
                            master,
                            synapses,
                        }
                    }
                };
                images.push((PeId(pe), image));
                pes.push(PeInfo {
                    pe: PeId(pe),
                    coord: m.pe_coord(PeId(pe)).unwrap(),
                    population: pi,
                    slice: si,
                    image: image_path(PeId(pe)),
                    bytes: 0,
                    digest: String::new(),
                    sram_bytes: 0,
                    dram_bytes: 0,
                    est_cycles_per_tick: 0,
                });
                slices.push(SliceInfo {
                    pe: PeId(pe),
                    first: first as u32,
                    count: count as u32,
                    key,
                    mask: !0xf,
                });
            }
            populations.push(PopulationInfo {
                name: format!("p{pi}"),
                kind: if p.lif.is_some() {
                    PopulationKind::Lif
                } else {
                    PopulationKind::Source
                },
                neurons: p.n,
                depth: p.depth,
                slices,
            });
        }
        pes.sort_by_key(|p| p.pe);
        // Routes: per router, per key block, the links and local PEs of the XY tree.
        let mut tables: BTreeMap<QpeCoord, BTreeMap<(u32, u32), Outputs>> = BTreeMap::new();
        for q in &self.projs {
            for (pre_pe, _, _, pre_key) in self.slices(q.pre) {
                for (post_pe, _, _, _) in self.slices(q.post) {
                    let from = m.pe_coord(PeId(pre_pe)).unwrap();
                    let to = m.pe_coord(PeId(post_pe)).unwrap();
                    let path = m.route_path(from.qpe(), to.qpe());
                    for pair in path.windows(2) {
                        let e = tables
                            .entry(pair[0])
                            .or_default()
                            .entry((pre_key, !0xf))
                            .or_default();
                        e.0.insert(link_index(pair[0], pair[1], m));
                    }
                    let e = tables
                        .entry(to.qpe())
                        .or_default()
                        .entry((pre_key, !0xf))
                        .or_default();
                    e.1.insert(to.pe);
                }
            }
        }
        let routing = RoutingFile {
            routers: tables
                .into_iter()
                .map(|(q, entries)| RouterTable {
                    chip_x: q.chip_x,
                    chip_y: q.chip_y,
                    qpe_x: q.qpe_x,
                    qpe_y: q.qpe_y,
                    default_routing: true,
                    entries_before: entries.len() as u32,
                    entries: entries
                        .into_iter()
                        .map(|((key, mask), (links, pes))| RouterEntry {
                            key,
                            mask,
                            links: links.into_iter().collect(),
                            pes: pes.into_iter().collect(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let manifest = Manifest {
            format: "snnc-spinnaker2".into(),
            format_version: 1,
            snnc_version: "test".into(),
            model: ModelRef {
                file: "test".into(),
                digest: String::new(),
            },
            flags: BTreeMap::new(),
            machine: m.clone(),
            latency: self.pops[self.output].depth,
            steps_note: String::new(),
            input: InputInfo {
                name: "x".into(),
                shape: vec![self.pops[0].n],
                population: 0,
                encoding: self.encoding.clone(),
            },
            output: OutputInfo {
                name: "y".into(),
                shape: vec![self.pops[self.output].n],
                population: self.output,
            },
            populations,
            projections: self
                .projs
                .iter()
                .enumerate()
                .map(|(i, q)| ProjectionInfo {
                    name: format!("q{i}"),
                    pre: q.pre,
                    post: q.post,
                    synapses: q.w.iter().flatten().filter(|&&w| w != 0).count() as u64,
                    delay: self.hw_delay(q),
                    weight_bits: 8,
                    kernel: if self.pops[q.pre].lif.is_none() && payload_input {
                        KernelKind::Mac
                    } else {
                        KernelKind::Event
                    },
                })
                .collect(),
            pes,
            routing: RoutingInfo {
                file: "routing.json".into(),
                digest: String::new(),
                routers: 0,
                entries_before: 0,
                entries_after: 0,
                max_entries: 0,
            },
            resources: Resources {
                pes_used: self.pops.iter().map(|p| p.pes.len() as u64).sum(),
                pes_lower_bound: 1,
                chips_used: 1,
                sram_max_per_pe: 0,
                sram_total: 0,
                dram_max_per_chip: 0,
                dram_total: 0,
                expected_packets_per_step: 0.0,
                longest_path_cycles: 0,
            },
            kernel: KernelInfo {
                files: Vec::new(),
                digest: String::new(),
            },
        };
        Artifact {
            manifest,
            images,
            routing,
        }
    }

    /// Writes the artifact to a temporary directory and builds the emulator from what loads.
    pub(super) fn emulator(&self, opts: EmuOptions) -> Emulator {
        emulator_of(&self.artifact(), opts)
    }

    /// The reference run: per step, every LIF population (in depth order) sums the requantized
    /// accumulators of its projections (forward: this step's pre values; recurrent: last
    /// step's; `extra` steps further back) and takes one `IntLifState` step.
    pub(super) fn reference(&self, input: &[Vec<i64>]) -> Vec<Vec<u8>> {
        let steps = input.len();
        let mut order: Vec<usize> = (1..self.pops.len()).collect();
        order.sort_by_key(|&i| self.pops[i].depth);
        let mut states: Vec<Option<IntLifState>> = self
            .pops
            .iter()
            .map(|p| {
                p.lif.as_ref().map(|l| {
                    let t = |v: &Vec<i32>| {
                        Tensor::from_i64(
                            DType::I64,
                            vec![p.n],
                            v.iter().map(|&x| i64::from(x)).collect(),
                        )
                        .unwrap()
                    };
                    let op = IntLif {
                        decay: t(&l.decay),
                        frac_bits: l.frac_bits as u8,
                        bias: t(&l.bias),
                        threshold: t(&l.threshold),
                        v_reset: t(&l.v_reset),
                        reset: if l.subtract {
                            ResetMode::Subtract
                        } else {
                            ResetMode::ToValue
                        },
                        state_bits: l.state_bits as u8,
                    };
                    IntLifState::new(&op, &[p.n]).unwrap()
                })
            })
            .collect();
        // values[pop][step][i]
        let mut values: Vec<Vec<Vec<i64>>> = vec![Vec::new(); self.pops.len()];
        values[0] = input.to_vec();
        for s in 0..steps {
            for &pi in &order {
                let n = self.pops[pi].n;
                let mut current = vec![0i64; n];
                for q in self.projs.iter().filter(|q| q.post == pi) {
                    let back = u64::from(q.recurrent) + u64::from(q.extra);
                    let Some(src) = (s as u64).checked_sub(back) else {
                        continue;
                    };
                    let Some(pre) = values[q.pre].get(src as usize) else {
                        continue;
                    };
                    for (j, c) in current.iter_mut().enumerate() {
                        let acc: i64 = pre
                            .iter()
                            .zip(&q.w)
                            .map(|(&x, row)| x * i64::from(row[j]))
                            .sum();
                        let r = q.rq[j];
                        let y = requant_scale(acc, i64::from(r.multiplier), r.shift).unwrap()
                            + i64::from(r.zero_point);
                        *c += y.clamp(i64::from(r.lo), i64::from(r.hi));
                    }
                }
                let t = Tensor::from_i64(DType::I64, vec![n], current).unwrap();
                let out = states[pi].as_mut().unwrap().step(&t).unwrap();
                values[pi].push(out.to_i64_vec().unwrap());
            }
        }
        values[self.output]
            .iter()
            .map(|v| v.iter().map(|&x| x as u8).collect())
            .collect()
    }
}

/// Writes `artifact` to a temporary directory, loads it and builds an emulator (every artifact
/// goes through the same writer and loader as `snnc compile` / `snnc run`).
pub(super) fn emulator_of(artifact: &Artifact, opts: EmuOptions) -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("art");
    artifact.write(&out, &[]).unwrap();
    let loaded = LoadedArtifact::load(&out).unwrap();
    Emulator::new(loaded, opts).unwrap()
}

/// Deterministic pseudo-random numbers (xorshift) for test inputs and weights.
pub(super) struct Rng(pub u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn lif(n: usize, threshold: i32, subtract: bool) -> TLif {
    TLif {
        decay: (0..n).map(|i| 200 + 10 * i as i32).collect(),
        bias: (0..n).map(|i| i as i32 - 1).collect(),
        threshold: vec![threshold; n],
        v_reset: vec![0; n],
        frac_bits: 8,
        state_bits: 16,
        subtract,
    }
}

fn rq(n: usize, multiplier: i32, shift: u32) -> Vec<RequantEntry> {
    (0..n)
        .map(|i| RequantEntry {
            multiplier: multiplier + i as i32,
            shift,
            zero_point: 0,
            lo: -32768,
            hi: 32767,
        })
        .collect()
}

fn weights(rng: &mut Rng, pre: usize, post: usize, lo: i32, hi: i32) -> Vec<Vec<i32>> {
    (0..pre)
        .map(|_| {
            (0..post)
                .map(|_| lo + rng.below((hi - lo + 1) as u64) as i32)
                .collect()
        })
        .collect()
}

/// Input spikes `[steps][n]` with probability about 1/3.
fn spikes(rng: &mut Rng, steps: usize, n: usize) -> Vec<Vec<i64>> {
    (0..steps)
        .map(|_| (0..n).map(|_| i64::from(rng.below(3) == 0)).collect())
        .collect()
}

/// Integer spikes/values as the f32 steps the emulator takes.
pub(super) fn as_f32(x: &[Vec<i64>]) -> Vec<Vec<f32>> {
    x.iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect()
}

/// One source PE on QPE (0,0) and one LIF PE on QPE (1,0) of the tiny machine (one hop).
pub(super) fn two_pe_net(seed: u64) -> TNet {
    let mut rng = Rng(seed);
    TNet {
        machine: Machine::tiny(1, 1),
        encoding: InputEncoding::Spikes,
        pops: vec![
            TPop {
                n: 8,
                depth: 0,
                pes: vec![0],
                key: 0x100,
                lif: None,
            },
            TPop {
                n: 5,
                depth: 1,
                pes: vec![4],
                key: 0x200,
                lif: Some(lif(5, 300, false)),
            },
        ],
        projs: vec![TProj {
            pre: 0,
            post: 1,
            recurrent: false,
            extra: 0,
            w: weights(&mut rng, 8, 5, -40, 120),
            rq: rq(5, 3 << 20, 20),
        }],
        output: 1,
    }
}

#[test]
fn two_pes_match_the_reference_step_by_step() {
    for seed in [1u64, 2, 3] {
        let net = two_pe_net(0x9e37_79b9 ^ seed);
        let mut rng = Rng(seed * 7919 + 1);
        let x = spikes(&mut rng, 40, 8);
        let expect = net.reference(&x);
        for noc in [true, false] {
            let emu = net.emulator(EmuOptions {
                noc,
                ..EmuOptions::default()
            });
            let run = emu.run_sample(&as_f32(&x)).unwrap();
            assert_eq!(run.output, expect, "seed {seed} noc {noc}");
            let r = &run.report;
            assert_eq!(r.latency, 1);
            assert_eq!(r.ticks, 41);
            let sent: u64 = x.iter().flatten().sum::<i64>() as u64;
            assert_eq!(r.packets.sent, sent);
            assert_eq!(r.packets.delivered, sent);
            assert_eq!(r.packets.dropped, 0);
            // One mesh hop per packet: QPE (0,0) -> (1,0).
            assert_eq!(r.packets.hops, sent);
            assert!(r.spikes > 0, "the test network should spike");
        }
    }
    // The test is only meaningful if outputs vary.
    let net = two_pe_net(0x9e37_79b9 ^ 1);
    let out = net.reference(&spikes(&mut Rng(7920), 40, 8));
    assert!(out.iter().any(|r| r.contains(&1)));
    assert!(out.iter().any(|r| r.contains(&0)));
}

#[test]
fn cycles_follow_the_cost_model() {
    let net = two_pe_net(5);
    // One input spike on neuron 0 at step 0.
    let mut x = vec![vec![0i64; 8]; 3];
    x[0][0] = 1;
    let emu = net.emulator(EmuOptions::default());
    let run = emu.run_sample(&as_f32(&x)).unwrap();
    let r = &run.report;
    let row_len = net.projs[0].w[0].iter().filter(|&&w| w != 0).count() as u64;
    // Source PE: overhead + 8 elements scanned + 1 spike at tick 0.
    assert_eq!(r.per_pe[0].max, 400 + 8 * 2 + 8);
    // LIF PE at tick 1: overhead + packet (40 + 4 per synapse) + 5 neurons x (24 + 12) + spikes.
    let base = 400 + 40 + 4 * row_len + 5 * 36;
    assert!(r.per_pe[1].max >= base && r.per_pe[1].max <= base + 5 * 8);
    assert_eq!(r.synaptic_events, row_len);
    assert_eq!(r.neuron_updates, 5 * 3);
    assert_eq!(r.overruns, 0);
    // Packet latency: router (2) + mesh link (1) + router (2) + local link (1) = 6 cycles.
    assert_eq!(r.noc_max_latency, 6);
    assert!(r.energy.total_nj > 0.0);
    assert_eq!(r.sram.len(), 2);
    assert!(r.sram_max > 0);
}

/// A LIF population with input from a source and a recurrent self-projection (two synapse
/// types, reset by subtraction), placed on another chip-row QPE.
fn recurrent_net(seed: u64, subtract: bool) -> TNet {
    let mut rng = Rng(seed);
    TNet {
        machine: Machine::tiny(1, 1),
        encoding: InputEncoding::Spikes,
        pops: vec![
            TPop {
                n: 6,
                depth: 0,
                pes: vec![1],
                key: 0x40,
                lif: None,
            },
            TPop {
                n: 7,
                depth: 1,
                pes: vec![13],
                key: 0x80,
                lif: Some(lif(7, 250, subtract)),
            },
        ],
        projs: vec![
            TProj {
                pre: 0,
                post: 1,
                recurrent: false,
                extra: 0,
                w: weights(&mut rng, 6, 7, -20, 150),
                rq: rq(7, 5 << 18, 19),
            },
            TProj {
                pre: 1,
                post: 1,
                recurrent: true,
                extra: 0,
                w: weights(&mut rng, 7, 7, -90, 90),
                rq: rq(7, 7 << 16, 16),
            },
        ],
        output: 1,
    }
}

#[test]
fn recurrent_self_projection_matches_the_reference() {
    for (seed, subtract) in [(11u64, false), (12, true), (13, true)] {
        let net = recurrent_net(seed, subtract);
        let x = spikes(&mut Rng(seed + 100), 50, 6);
        let expect = net.reference(&x);
        assert!(expect.iter().flatten().any(|&v| v == 1));
        for noc in [true, false] {
            let emu = net.emulator(EmuOptions {
                noc,
                ..EmuOptions::default()
            });
            let run = emu.run_sample(&as_f32(&x)).unwrap();
            assert_eq!(run.output, expect, "seed {seed} noc {noc}");
            assert_eq!(run.report.packets.dropped, 0);
        }
    }
}

#[test]
fn delay_two_projection_matches_the_reference() {
    let mut net = two_pe_net(77);
    net.projs[0].extra = 1;
    let x = spikes(&mut Rng(78), 30, 8);
    let expect = net.reference(&x);
    // Different from the delay-1 network, so the delay is really exercised.
    let mut direct = net.clone();
    direct.projs[0].extra = 0;
    assert_ne!(direct.reference(&x), expect);
    let emu = net.emulator(EmuOptions::default());
    assert_eq!(emu.run_sample(&as_f32(&x)).unwrap().output, expect);
}

#[test]
fn a_routing_table_miss_drops_packets_and_changes_results() {
    let net = two_pe_net(21);
    let x = spikes(&mut Rng(22), 30, 8);
    let expect = net.reference(&x);
    let mut art = net.artifact();
    // The source's router loses its entry: locally sourced packets are not default-routed.
    art.routing.routers.retain(|r| (r.qpe_x, r.qpe_y) != (0, 0));
    for noc in [true, false] {
        let emu = emulator_of(
            &art,
            EmuOptions {
                noc,
                ..EmuOptions::default()
            },
        );
        let run = emu.run_sample(&as_f32(&x)).unwrap();
        let sent = x.iter().flatten().sum::<i64>() as u64;
        assert_eq!(run.report.packets.sent, sent);
        assert_eq!(run.report.packets.delivered, 0);
        assert_eq!(run.report.packets.dropped, sent);
        assert_eq!(run.report.packets.dropped_unrouted, sent);
        assert_ne!(run.output, expect);
    }
}

#[test]
fn quantized_payload_input_uses_quantize_linear() {
    let mut net = two_pe_net(31);
    net.encoding = InputEncoding::Quantized {
        scale: 1.0 / 16.0,
        zero_point: 0,
        lo: 0,
        hi: 255,
    };
    net.projs[0].rq = rq(5, 1 << 20, 24);
    let mut rng = Rng(32);
    let xf: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..8).map(|_| rng.below(40) as f32 / 37.0).collect())
        .collect();
    let xq: Vec<Vec<i64>> = xf
        .iter()
        .map(|r| {
            r.iter()
                .map(|&v| i64::from(quantize_linear(v, 1.0 / 16.0, 0, 0, 255)))
                .collect()
        })
        .collect();
    let expect = net.reference(&xq);
    assert!(expect.iter().flatten().any(|&v| v == 1));
    let emu = net.emulator(EmuOptions::default());
    let run = emu.run_sample(&xf).unwrap();
    assert_eq!(run.output, expect);
    // Payload projections go through the MAC-array path of the cost model.
    let nonzero = xq.iter().flatten().filter(|&&v| v != 0).count() as u64;
    assert_eq!(run.report.packets.sent, nonzero);
    // A spike-encoded input must be 0/1, an integer input integral.
    let bad = EmuOptions::default();
    let spiking = two_pe_net(31).emulator(bad);
    assert!(matches!(
        spiking.run_sample(&xf),
        Err(EmuError::InputValue { .. })
    ));
    assert!(matches!(
        spiking.run_sample(&[vec![0.0; 3]]),
        Err(EmuError::InputLength { got: 3, .. })
    ));
}

#[test]
fn batches_are_deterministic_across_thread_counts() {
    let net = recurrent_net(41, true);
    let samples: Vec<Vec<Vec<f32>>> = (0..6)
        .map(|i| as_f32(&spikes(&mut Rng(500 + i), 25, 6)))
        .collect();
    let mut runs = Vec::new();
    for threads in [1usize, 2, 3] {
        let emu = net.emulator(EmuOptions {
            threads: Some(threads),
            trace: true,
            ..EmuOptions::default()
        });
        let mut b = emu.run_batch(&samples).unwrap();
        b.report.wall_seconds = 0.0;
        b.report.events_per_second = 0.0;
        runs.push(b);
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    // Sample order is kept: each output equals the single-sample run.
    let emu = net.emulator(EmuOptions::default());
    for (s, out) in samples.iter().zip(&runs[0].outputs) {
        assert_eq!(&emu.run_sample(s).unwrap().output, out);
    }
    assert_eq!(runs[0].report.samples, 6);
    // Progress reports every sample once, and every tick of a sample.
    let seen = std::sync::Mutex::new(Vec::new());
    let b = emu
        .run_batch_with_progress(&samples, &|d, n| seen.lock().unwrap().push((d, n)))
        .unwrap();
    assert_eq!(b.outputs, runs[0].outputs);
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, (1..=6).map(|d| (d, 6)).collect::<Vec<_>>());
    let ticks = std::sync::Mutex::new(0u64);
    emu.run_sample_with_progress(&samples[0], &|d, n| {
        assert_eq!(n, 26);
        *ticks.lock().unwrap() = d;
    })
    .unwrap();
    assert_eq!(ticks.into_inner().unwrap(), 26);
    assert_eq!(runs[0].report.ticks, 6 * 26);
    let raster = runs[0].rasters.as_ref().unwrap();
    assert_eq!(raster.len(), 6);
    assert!(raster[0].iter().any(|e| e.population == 1));
}

#[test]
fn tiny_ticks_report_overruns_and_late_packets() {
    let mut net = two_pe_net(51);
    // 1 MHz x 100 us = 100 cycles per tick: less than the tick overhead.
    net.machine.chip.clock_hz = 1_000_000;
    net.machine.chip.tick_us = 100;
    let x = spikes(&mut Rng(52), 10, 8);
    let emu = net.emulator(EmuOptions::default());
    let run = emu.run_sample(&as_f32(&x)).unwrap();
    let r = &run.report;
    assert_eq!(r.cycles_per_tick, 100);
    assert_eq!(r.overruns, 2 * 11);
    assert_eq!(r.overrun_ticks, 11);
    let sent = x.iter().flatten().sum::<i64>() as u64;
    assert!(sent > 0);
    assert_eq!(r.packets.late, sent);
    // Late packets are still applied: results unchanged.
    assert_eq!(run.output, net.reference(&x));
}

#[test]
fn congestion_drops_packets_at_a_full_fifo() {
    // The input is split over PEs 0, 1, 2 of QPE (0,0); at step 0 all three inject their first
    // packet in the same cycle towards the LIF PE. With a one-packet FIFO and no waiting, the
    // East link takes the first, queues the second and drops the third.
    let mut net = two_pe_net(61);
    net.pops[0].pes = vec![0, 1, 2];
    let x = spikes(&mut Rng(62), 20, 8);
    let expect = net.reference(&x);
    let plain = net.emulator(EmuOptions::default());
    let run = plain.run_sample(&as_f32(&x)).unwrap();
    assert_eq!(run.output, expect);
    assert_eq!(run.report.packets.dropped, 0);
    let emu = net.emulator(EmuOptions {
        noc_queue_capacity: 1,
        noc_wait_timeout: Some(0),
        ..EmuOptions::default()
    });
    let all = vec![vec![1.0f32; 8]; 2];
    let r = emu.run_sample(&all).unwrap().report;
    assert!(r.packets.dropped_congestion > 0);
    assert_eq!(r.packets.dropped, r.packets.dropped_congestion);
    assert_eq!(r.packets.delivered + r.packets.dropped, r.packets.sent);
}

#[test]
fn corrupted_tables_are_errors() {
    let net = two_pe_net(71);
    let mut art = net.artifact();
    // A diagonal link does not exist on the square mesh.
    art.routing.routers[0].entries[0].links = vec![1];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("art");
    art.write(&out, &[]).unwrap();
    let loaded = LoadedArtifact::load(&out).unwrap();
    assert!(matches!(
        Emulator::new(loaded, EmuOptions::default()),
        Err(EmuError::Route { .. })
    ));
    // A link off the edge of the board.
    let mut art = net.artifact();
    art.routing.routers[0].entries[0].links = vec![3];
    let e = Emulator::from_parts(
        art.manifest.clone(),
        art.images.clone(),
        &art.routing,
        EmuOptions::default(),
    );
    assert!(matches!(e, Err(EmuError::Route { .. })));
    // A link into an empty QPE slot of the default chip's partial last row: a plain router
    // position without a table (docs/spinnaker2.md, "Hop model"), so the link is accepted and
    // the packet goes straight on (here east, off the board: lost, not delivered).
    let mut edge = two_pe_net(72);
    edge.machine = Machine::spinnaker2_default();
    edge.pops[0].pes = vec![148];
    let mut art = edge.artifact();
    let r = art
        .routing
        .routers
        .iter_mut()
        .find(|r| (r.qpe_x, r.qpe_y) == (5, 4))
        .unwrap();
    r.entries[0].links = vec![0];
    let e = Emulator::from_parts(
        art.manifest.clone(),
        art.images.clone(),
        &art.routing,
        EmuOptions::default(),
    );
    let run = e.and_then(|emu| emu.run_sample(&[vec![1.0; 8]])).unwrap();
    let p = &run.report.packets;
    assert_eq!(
        (p.sent, p.delivered, p.dropped_unrouted),
        (8, 0, 8),
        "{p:?}"
    );
    // A plan larger than allowed.
    let art = net.artifact();
    let e = Emulator::from_parts(
        art.manifest.clone(),
        art.images.clone(),
        &art.routing,
        EmuOptions {
            max_plan_bytes: 64,
            ..EmuOptions::default()
        },
    );
    assert!(
        matches!(e, Err(EmuError::TooLarge { limit: 64, .. })),
        "{e:?}"
    );
    // Zero threads.
    let e = Emulator::from_parts(
        art.manifest.clone(),
        art.images.clone(),
        &net.artifact().routing,
        EmuOptions {
            threads: Some(0),
            ..EmuOptions::default()
        },
    );
    assert!(matches!(e, Err(EmuError::Option { .. })));
}

#[test]
fn sliced_populations_across_two_chips_match_the_reference() {
    // Input over two PEs of chip 0, the LIF population (recorded, recurrent) over three PEs on
    // both chips: outputs land at each slice's `first`, packets cross the chip link.
    let mut net = recurrent_net(91, false);
    net.machine = Machine::tiny(2, 1);
    net.pops[0].pes = vec![2, 7];
    net.pops[1].pes = vec![5, 18, 30];
    let x = spikes(&mut Rng(92), 40, 6);
    let expect = net.reference(&x);
    assert!(expect.iter().flatten().any(|&v| v == 1));
    for noc in [true, false] {
        let emu = net.emulator(EmuOptions {
            noc,
            ..EmuOptions::default()
        });
        let run = emu.run_sample(&as_f32(&x)).unwrap();
        assert_eq!(run.output, expect, "noc {noc}");
        assert_eq!(run.report.packets.dropped, 0);
        assert_eq!(run.report.per_pe.len(), 5);
        if noc {
            // A chip-link crossing costs 100 cycles.
            assert!(run.report.noc_max_latency > 100);
        }
    }
}

#[test]
fn a_copy_dropped_on_one_branch_still_reaches_the_other() {
    // Three sources of QPE (1,0) on chip 0 inject together; each packet forks north (on-chip,
    // one packet per cycle) to the LIF slice on PE 12 and east over the slow chip link (one
    // packet per 4 cycles) to the slice on PE 16 of chip 1. With a one-packet FIFO and a
    // 2-cycle wait, the third copy of each burst is dropped on the east branch only.
    let mut net = two_pe_net(81);
    net.machine = Machine::tiny(2, 1);
    net.pops[0].pes = vec![4, 5, 6];
    net.pops[1].pes = vec![12, 16];
    let x: Vec<Vec<i64>> = vec![vec![1; 8]; 12];
    let expect = net.reference(&x);
    let emu = net.emulator(EmuOptions {
        noc_queue_capacity: 1,
        noc_wait_timeout: Some(2),
        ..EmuOptions::default()
    });
    let run = emu.run_sample(&as_f32(&x)).unwrap();
    let p = &run.report.packets;
    assert!(p.dropped_congestion > 0);
    assert_eq!(p.delivered + p.dropped, 2 * p.sent);
    // Slice 0 (neurons 0..3 on PE 12) lost nothing: it matches the reference.
    let first: Vec<Vec<u8>> = run.output.iter().map(|r| r[..3].to_vec()).collect();
    let want: Vec<Vec<u8>> = expect.iter().map(|r| r[..3].to_vec()).collect();
    assert_eq!(first, want);
    // Slice 1 (PE 16) lost input, and here that changes its spikes.
    assert_ne!(run.output, expect);
    // Without drops everything matches.
    let plain = net.emulator(EmuOptions::default());
    assert_eq!(plain.run_sample(&as_f32(&x)).unwrap().output, expect);
}

#[test]
fn rows_in_dram_cost_a_fetch_and_change_nothing_else() {
    let net = two_pe_net(95);
    let x = spikes(&mut Rng(96), 20, 8);
    let mut art = net.artifact();
    let plain = emulator_of(&art, EmuOptions::default())
        .run_sample(&as_f32(&x))
        .unwrap();
    art.images[1].1.synapses_dram = true;
    let dram = emulator_of(&art, EmuOptions::default())
        .run_sample(&as_f32(&x))
        .unwrap();
    assert_eq!(dram.output, plain.output);
    assert_eq!(dram.output, net.reference(&x));
    // Every packet fetched its row: set-up plus (row + count word) bytes over the DMA rate.
    let m = &net.machine.chip;
    let (a, b) = (&plain.report, &dram.report);
    assert_eq!(a.packets.delivered, b.packets.delivered);
    let total = |r: &RunReport| (r.per_pe[1].mean * r.ticks as f64).round() as u64;
    let extra = total(b) - total(a);
    let rows: u64 = x
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, &v)| v == 1)
        .map(|(i, _)| {
            let len = net.projs[0].w[i % 8].iter().filter(|&&w| w != 0).count() as u64;
            snnc_targets::spinnaker2::cost::dram_row_cycles(
                len,
                m.dram_row_setup_cycles,
                m.dram_bytes_per_cycle,
            )
        })
        .sum();
    assert_eq!(extra, rows);
    // The synapse section leaves SRAM for DRAM.
    assert!(b.sram[1].dram_bytes > 0);
    assert_eq!(a.sram[1].dram_bytes, 0);
    assert_eq!(
        a.sram[1].image_bytes - b.sram[1].image_bytes,
        b.sram[1].dram_bytes
    );
}
