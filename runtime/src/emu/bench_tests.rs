//! The emulator on target-level [`Network`]s (the peer benchmark network of
//! `shared/bench/README.md` and layered nets), mapped by a deliberately simple test mapper
//! (fixed slices, PEs in id order, uncompressed dimension-ordered tables) so that these tests
//! and the throughput measurement do not depend on the compiler's mapping stages. The oracle is
//! a direct step-by-step evaluation of the network with `snnc_ir`'s integer semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::tests::{as_f32, emulator_of, Rng};
use super::*;
use snnc_ir::op::int::{requant_scale, IntLifState};
use snnc_ir::op::{IntLif, ResetMode};
use snnc_ir::{DType, Tensor};
use snnc_targets::spinnaker2::artifact::{
    build_synaptic_matrix, image_path, synapse_word, Artifact, InputEncoding as AInputEncoding,
    InputInfo, KernelInfo, Manifest, MatrixBlock, ModelRef, NeuronParams, OutputInfo, PeImage,
    PeInfo, PeRole, PopulationInfo, PopulationKind as APopKind, ProjectionInfo, RequantEntry,
    Resources, RouterEntry, RouterTable, RoutingFile, RoutingInfo, SliceInfo,
};
use snnc_targets::spinnaker2::cost::{kernel_kind, ring_slots};
use snnc_targets::spinnaker2::machine::{Machine, PeId, QpeCoord};
use snnc_targets::spinnaker2::network::{InputEncoding, Network, PopulationKind, Reset};
use snnc_targets::spinnaker2::synthetic;

/// Routing outputs under construction: links and local PEs.
type Outputs = (BTreeSet<u32>, BTreeSet<u32>);

/// Slices of a population: `(pe, first, count)`.
type Slices = Vec<(u32, usize, usize)>;

/// Maps `net` onto `machine` with `per_pe` neurons per slice (at most 1024), PEs in id order.
pub(super) fn map_network(net: &Network, machine: &Machine, per_pe: usize) -> Artifact {
    let schedule = net.schedule().unwrap();
    let mut next_pe = 0u32;
    let slices: Vec<Slices> = net
        .populations
        .iter()
        .map(|p| {
            (0..p.size.div_ceil(per_pe))
                .map(|s| {
                    let pe = next_pe;
                    next_pe += 1;
                    let first = s * per_pe;
                    (pe, first, per_pe.min(p.size - first))
                })
                .collect()
        })
        .collect();
    assert!(
        next_pe <= machine.total_pes(),
        "network too big for the test mapper"
    );
    let key = |pop: usize, s: usize| ((pop as u32 + 1) << 20) | ((s as u32) << 10);
    let payload_input = net.input.encoding.payload();
    let mut images = Vec::new();
    let mut pes = Vec::new();
    let mut populations = Vec::new();
    for (pi, pop) in net.populations.iter().enumerate() {
        let incoming: Vec<usize> = (0..net.projections.len())
            .filter(|&q| net.projections[q].post == pi)
            .collect();
        let sends = net.projections.iter().any(|q| q.pre == pi);
        let mut infos = Vec::new();
        for (si, &(pe, first, count)) in slices[pi].iter().enumerate() {
            let image = match &pop.kind {
                PopulationKind::Source => PeImage::source(
                    count as u32,
                    key(pi, si),
                    first as u32,
                    payload_input,
                    sends,
                ),
                PopulationKind::Lif(l) => {
                    let mut blocks = Vec::new();
                    let mut max_delay = 1;
                    for (k, &qi) in incoming.iter().enumerate() {
                        let q = &net.projections[qi];
                        let delay = schedule.delay[qi];
                        max_delay = max_delay.max(delay);
                        for (ps, &(_, pfirst, pcount)) in slices[q.pre].iter().enumerate() {
                            blocks.push(MatrixBlock {
                                key: key(q.pre, ps),
                                mask: !0x3ff,
                                payload: q.payload,
                                rows: (pfirst..pfirst + pcount)
                                    .map(|j| {
                                        q.rows
                                            .row(j)
                                            .filter(|&(post, _)| {
                                                (first..first + count).contains(&(post as usize))
                                            })
                                            .map(|(post, w)| {
                                                synapse_word(
                                                    post - first as u32,
                                                    delay,
                                                    k as u32,
                                                    w,
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
                        key_base: key(pi, si),
                        record: pi == net.output.population,
                        payload: false,
                        reset_subtract: l.reset == Reset::Subtract,
                        sends,
                        synapses_dram: false,
                        start_tick: schedule.depth[pi],
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
                            .map(|&qi| {
                                let r = &net.projections[qi].requant;
                                (first..first + count)
                                    .map(|i| RequantEntry {
                                        multiplier: r.multiplier[i],
                                        shift: r.shift[i],
                                        zero_point: r.zero_point,
                                        lo: r.lo,
                                        hi: r.hi,
                                    })
                                    .collect()
                            })
                            .collect(),
                        master,
                        synapses,
                    }
                }
            };
            images.push((PeId(pe), image));
            pes.push(PeInfo {
                pe: PeId(pe),
                coord: machine.pe_coord(PeId(pe)).unwrap(),
                population: pi,
                slice: si,
                image: image_path(PeId(pe)),
                bytes: 0,
                digest: String::new(),
                sram_bytes: 0,
                dram_bytes: 0,
                est_cycles_per_tick: 0,
            });
            infos.push(SliceInfo {
                pe: PeId(pe),
                first: first as u32,
                count: count as u32,
                key: key(pi, si),
                mask: !0x3ff,
            });
        }
        populations.push(PopulationInfo {
            name: pop.name.clone(),
            kind: match pop.kind {
                PopulationKind::Source => APopKind::Source,
                PopulationKind::Lif(_) => APopKind::Lif,
            },
            neurons: pop.size,
            depth: schedule.depth[pi],
            slices: infos,
        });
    }
    // Tables: each pre slice reaches the post slices it has synapses into, along XY paths.
    let mut tables: BTreeMap<QpeCoord, BTreeMap<u32, Outputs>> = BTreeMap::new();
    for q in &net.projections {
        for (ps, &(pre_pe, pfirst, pcount)) in slices[q.pre].iter().enumerate() {
            let from = machine.pe_coord(PeId(pre_pe)).unwrap().qpe();
            let mut targets = BTreeSet::new();
            for j in pfirst..pfirst + pcount {
                for (post, _) in q.rows.row(j) {
                    targets.insert(post as usize / per_pe);
                }
            }
            for t in targets {
                let to = machine.pe_coord(PeId(slices[q.post][t].0)).unwrap();
                let path = path_avoiding_empty_slots(machine, from, to.qpe());
                for pair in path.windows(2) {
                    let link = {
                        let g = |c: QpeCoord| {
                            (
                                c.chip_x * machine.chip.mesh_width + c.qpe_x,
                                c.chip_y * machine.chip.mesh_height + c.qpe_y,
                            )
                        };
                        let (a, b) = (g(pair[0]), g(pair[1]));
                        if b.0 > a.0 {
                            0
                        } else if b.0 < a.0 {
                            3
                        } else if b.1 > a.1 {
                            2
                        } else {
                            5
                        }
                    };
                    tables
                        .entry(pair[0])
                        .or_default()
                        .entry(key(q.pre, ps))
                        .or_default()
                        .0
                        .insert(link);
                }
                tables
                    .entry(to.qpe())
                    .or_default()
                    .entry(key(q.pre, ps))
                    .or_default()
                    .1
                    .insert(to.pe);
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
                    .map(|(key, (links, pes))| RouterEntry {
                        key,
                        mask: !0x3ff,
                        links: links.into_iter().collect(),
                        pes: pes.into_iter().collect(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let encoding = match net.input.encoding {
        InputEncoding::Spikes => AInputEncoding::Spikes,
        InputEncoding::Quantized {
            scale,
            zero_point,
            lo,
            hi,
        } => AInputEncoding::Quantized {
            scale,
            zero_point,
            lo,
            hi,
        },
        InputEncoding::Integer { lo, hi } => AInputEncoding::Integer { lo, hi },
    };
    let manifest = Manifest {
        format: "snnc-spinnaker2".into(),
        format_version: 1,
        snnc_version: "test".into(),
        model: ModelRef {
            file: net.name.clone(),
            digest: String::new(),
        },
        flags: BTreeMap::new(),
        machine: machine.clone(),
        latency: schedule.latency,
        steps_note: String::new(),
        input: InputInfo {
            name: net.input.name.clone(),
            shape: net.input.shape.clone(),
            population: net.input.population,
            encoding,
        },
        output: OutputInfo {
            name: net.output.name.clone(),
            shape: net.output.shape.clone(),
            population: net.output.population,
        },
        populations,
        projections: net
            .projections
            .iter()
            .enumerate()
            .map(|(i, q)| ProjectionInfo {
                name: q.name.clone(),
                pre: q.pre,
                post: q.post,
                synapses: q.synapses() as u64,
                delay: schedule.delay[i],
                weight_bits: q.weight_bits,
                kernel: kernel_kind(q.payload, q.weight_bits),
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
            pes_used: u64::from(next_pe),
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

/// The X-then-Y path from `from` to `to`, or, when it crosses an empty QPE slot of a partial
/// last mesh row, one step south first (the compiler's rule for sources on that row).
fn path_avoiding_empty_slots(m: &Machine, from: QpeCoord, to: QpeCoord) -> Vec<QpeCoord> {
    let path = m.route_path(from, to);
    if path.iter().all(|q| m.qpe_index(*q).is_some()) {
        return path;
    }
    let south = if from.qpe_y > 0 {
        QpeCoord {
            qpe_y: from.qpe_y - 1,
            ..from
        }
    } else {
        QpeCoord {
            chip_y: from.chip_y - 1,
            qpe_y: m.chip.mesh_height - 1,
            ..from
        }
    };
    let mut p = vec![from];
    p.extend(m.route_path(south, to));
    p
}

/// Step-by-step reference of `net` on integer inputs `[T][input size]`: every LIF population
/// (in depth order) sums the requantized accumulators of its projections (forward: this step's
/// pre values, recurrent: last step's, `extra_delay` steps further back) and takes one
/// `IntLifState` step. Returns the output population's spikes.
pub(super) fn reference_network(net: &Network, input: &[Vec<i64>]) -> Vec<Vec<u8>> {
    let schedule = net.schedule().unwrap();
    let mut order: Vec<usize> = (0..net.populations.len())
        .filter(|&p| p != net.input.population)
        .collect();
    order.sort_by_key(|&p| schedule.depth[p]);
    let mut states: Vec<Option<IntLifState>> = net
        .populations
        .iter()
        .map(|p| match &p.kind {
            PopulationKind::Source => None,
            PopulationKind::Lif(l) => {
                let t = |v: &Vec<i32>| {
                    Tensor::from_i64(
                        DType::I64,
                        vec![p.size],
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
                    reset: match l.reset {
                        Reset::ToValue => ResetMode::ToValue,
                        Reset::Subtract => ResetMode::Subtract,
                    },
                    state_bits: l.state_bits as u8,
                };
                Some(IntLifState::new(&op, &[p.size]).unwrap())
            }
        })
        .collect();
    let mut values: Vec<Vec<Vec<i64>>> = vec![Vec::new(); net.populations.len()];
    values[net.input.population] = input.to_vec();
    for s in 0..input.len() {
        for &pi in &order {
            let n = net.populations[pi].size;
            let mut current = vec![0i64; n];
            for q in net.projections.iter().filter(|q| q.post == pi) {
                let back = u64::from(q.recurrent) + u64::from(q.extra_delay);
                let Some(src) = (s as u64).checked_sub(back) else {
                    continue;
                };
                let Some(pre) = values[q.pre].get(src as usize) else {
                    continue;
                };
                let mut acc = vec![0i64; n];
                for (j, &x) in pre.iter().enumerate() {
                    if x != 0 {
                        for (post, w) in q.rows.row(j) {
                            acc[post as usize] += x * i64::from(w);
                        }
                    }
                }
                let r = &q.requant;
                for (i, c) in current.iter_mut().enumerate() {
                    let y = requant_scale(acc[i], i64::from(r.multiplier[i]), r.shift[i]).unwrap()
                        + i64::from(r.zero_point);
                    *c += y.clamp(i64::from(r.lo), i64::from(r.hi));
                }
            }
            let t = Tensor::from_i64(DType::I64, vec![n], current).unwrap();
            let out = states[pi].as_mut().unwrap().step(&t).unwrap();
            values[pi].push(out.to_i64_vec().unwrap());
        }
    }
    values[net.output.population]
        .iter()
        .map(|v| v.iter().map(|&x| x as u8).collect())
        .collect()
}

/// Poisson spikes: each of `n` inputs fires with probability `p` per step.
pub(super) fn poisson(rng: &mut Rng, steps: usize, n: usize, p: f64) -> Vec<Vec<i64>> {
    let threshold = (p * u64::MAX as f64) as u64;
    (0..steps)
        .map(|_| (0..n).map(|_| i64::from(rng.next() < threshold)).collect())
        .collect()
}

#[test]
fn small_bench_network_matches_the_reference() {
    // 600 LIF neurons over 3 PEs (+ 4 source PEs), the README's rates scaled up so it spikes.
    let net = synthetic::bench(600, 100, 60, 7);
    let machine = Machine::spinnaker2_default();
    let art = map_network(&net, &machine, 200);
    let x = poisson(&mut Rng(99), 60, 1000, 0.05);
    let expect = reference_network(&net, &x);
    let spikes: usize = expect.iter().flatten().map(|&v| usize::from(v)).sum();
    assert!(spikes > 50, "only {spikes} spikes");
    for noc in [true, false] {
        let emu = Emulator::from_parts(
            art.manifest.clone(),
            art.images.clone(),
            &art.routing,
            EmuOptions {
                noc,
                ..EmuOptions::default()
            },
        )
        .unwrap();
        let run = emu.run_sample(&as_f32(&x)).unwrap();
        assert_eq!(run.output, expect, "noc {noc}");
        assert_eq!(run.report.packets.dropped, 0);
        assert_eq!(run.report.packets.unmatched, 0);
    }
}

#[test]
fn layered_recurrent_network_matches_the_reference() {
    // Three LIF layers (latency 3), a recurrent first layer, slices of 50.
    let net = synthetic::layered(&[40, 120, 90, 30], 3, true);
    let machine = Machine::tiny(2, 2);
    let art = map_network(&net, &machine, 50);
    let x = poisson(&mut Rng(5), 40, 40, 0.3);
    let expect = reference_network(&net, &x);
    assert!(expect.iter().flatten().any(|&v| v == 1));
    let emu = Emulator::from_parts(
        art.manifest.clone(),
        art.images.clone(),
        &art.routing,
        EmuOptions::default(),
    )
    .unwrap();
    assert_eq!(emu.latency(), 3);
    let run = emu.run_sample(&as_f32(&x)).unwrap();
    assert_eq!(run.output, expect);
}

#[test]
fn compiled_networks_match_the_reference() {
    use snnc_targets::spinnaker2::compile::{compile, CompileOptions};
    let cases: Vec<(Network, Machine, Vec<Vec<i64>>)> = vec![
        (
            synthetic::bench(600, 100, 60, 7),
            Machine::spinnaker2_default(),
            poisson(&mut Rng(99), 50, 1000, 0.05),
        ),
        // Small chips force the layered net over several chips.
        (
            synthetic::layered(&[40, 120, 90, 30], 3, true),
            Machine::tiny(2, 2),
            poisson(&mut Rng(5), 40, 40, 0.3),
        ),
    ];
    // A quantized (payload) input layer: values, not spikes, on the MAC-kernel path.
    let mut payload_net = synthetic::layered(&[24, 40, 12], 11, false);
    payload_net.input.encoding = InputEncoding::Quantized {
        scale: 0.05,
        zero_point: 0,
        lo: 0,
        hi: 15,
    };
    payload_net.projections[0].payload = true;
    for r in payload_net.projections[0].requant.shift.iter_mut() {
        *r = 33;
    }
    let mut rng = Rng(17);
    let xq: Vec<Vec<i64>> = (0..30)
        .map(|_| (0..24).map(|_| rng.below(16) as i64).collect())
        .collect();
    let mut cases = cases;
    cases.push((payload_net, Machine::tiny(1, 1), xq));
    for (net, machine, x) in cases {
        let opts = CompileOptions {
            machine,
            ..CompileOptions::default()
        };
        let (art, _report) = compile(&net, &opts).unwrap();
        let expect = reference_network(&net, &x);
        assert!(expect.iter().flatten().any(|&v| v == 1), "{}", net.name);
        for noc in [true, false] {
            let emu = emulator_of(
                &art,
                EmuOptions {
                    noc,
                    ..EmuOptions::default()
                },
            );
            // Quantized inputs are given as real values that quantize back to `x`.
            let input: Vec<Vec<f32>> = match net.input.encoding {
                InputEncoding::Quantized { scale, .. } => x
                    .iter()
                    .map(|r| r.iter().map(|&v| v as f32 * scale).collect())
                    .collect(),
                _ => as_f32(&x),
            };
            let run = emu.run_sample(&input).unwrap();
            assert_eq!(run.output, expect, "{} noc {noc}", net.name);
            assert_eq!(run.report.packets.dropped, 0, "{}", net.name);
            assert_eq!(run.report.packets.unmatched, 0, "{}", net.name);
        }
    }
}

#[test]
fn parallel_ticks_give_the_sequential_results() {
    // Big enough (about 2·10^4 deliveries per tick) that PEs and deliveries of a tick run on
    // several threads; compared with one thread, NoC on and off, outputs and reports.
    let net = synthetic::bench(10_000, 100, 100, 3);
    let art = map_network(&net, &Machine::spinnaker2_default(), 256);
    let x = as_f32(&poisson(&mut Rng(4), 25, 1000, 0.05));
    for noc in [false, true] {
        let emu = Emulator::from_parts(
            art.manifest.clone(),
            art.images.clone(),
            &art.routing,
            EmuOptions {
                noc,
                ..EmuOptions::default()
            },
        )
        .unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut r = pool.install(|| emu.run_sample(&x)).unwrap();
            r.report.wall_seconds = 0.0;
            r.report.events_per_second = 0.0;
            r
        };
        let one = run(1);
        assert!(one.report.packets.delivered > 25 * 4096, "too little work");
        assert_eq!(run(3), one, "noc {noc}");
    }
}

/// Throughput on the peer benchmark network (10^4 LIF neurons, 1000 Poisson inputs at 20 Hz,
/// 1000 steps). Run with
/// `cargo test --release -p snnc-runtime -- --ignored --nocapture bench_throughput`.
#[test]
#[ignore]
fn bench_throughput() {
    let n: usize = std::env::var("SNNC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let steps: usize = std::env::var("SNNC_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let t0 = Instant::now();
    let net = synthetic::bench(n, 100, 100, 1);
    let machine = if n <= 30_000 {
        Machine::spinnaker2_default()
    } else {
        Machine::spinnaker2_board48()
    };
    // SNNC_BENCH_MAPPER=compile maps with the compiler (compressed tables, its placement);
    // otherwise the test mapper (256 neurons per PE, PEs in id order).
    let art = if std::env::var("SNNC_BENCH_MAPPER").as_deref() == Ok("compile") {
        use snnc_targets::spinnaker2::compile::{compile, CompileOptions};
        let machine = Machine::spinnaker2_board48();
        let opts = CompileOptions {
            machine,
            ..CompileOptions::default()
        };
        compile(&net, &opts).unwrap().0
    } else {
        map_network(&net, &machine, 256)
    };
    eprintln!(
        "{} PEs, {} routers, {} entries",
        art.manifest.pes.len(),
        art.routing.routers.len(),
        art.routing.total_entries()
    );
    let x = as_f32(&poisson(&mut Rng(2), steps, 1000, 0.02));
    eprintln!("build: {:.2} s", t0.elapsed().as_secs_f64());
    let modes: Vec<bool> = match std::env::var("SNNC_BENCH_NOC").as_deref() {
        Ok("0") => vec![false],
        Ok("1") => vec![true],
        _ => vec![false, true],
    };
    for noc in modes {
        let emu = Emulator::from_parts(
            art.manifest.clone(),
            art.images.clone(),
            &art.routing,
            EmuOptions {
                noc,
                ..EmuOptions::default()
            },
        )
        .unwrap();
        let run = emu.run_sample(&x).unwrap();
        let r = &run.report;
        eprintln!(
            "noc {noc}: {:.3} s, {} synaptic events, {:.3e} events/s, {} spikes ({:.1} Hz), {} packets, {} deliveries, {} hops, max cycles {}, max latency {}",
            r.wall_seconds,
            r.synaptic_events,
            r.events_per_second,
            r.spikes,
            r.spikes as f64 / n as f64 / (steps as f64 / 1000.0),
            r.packets.sent,
            r.packets.delivered,
            r.packets.hops,
            r.cycles_max,
            r.noc_max_latency
        );
    }
}
