//! Scenario tests of [`super::simulate`]: latency, multicast, contention,
//! drops, errors and determinism.

use super::*;

fn pe(x: u32, y: u32, pe: u8) -> PeId {
    PeId {
        router: RouterId::new(x, y),
        pe,
    }
}

fn packet(key: u32, source: PeId, inject_cycle: u64) -> Packet {
    Packet {
        key,
        source,
        inject_cycle,
    }
}

/// Deterministic pseudo-random numbers for traffic (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn single_packet_latency_is_hops_times_router_plus_links() {
    let mut params = NocParams::single_chip(8, 8, 4);
    params.router_latency = 3;
    params.mesh_link.latency = 2;
    params.local_link.latency = 1;
    let mut r = XyRouter::new();
    r.add_group(1, RouterId::new(0, 0), vec![pe(4, 3, 2)]);
    let stats = simulate(&[packet(1, pe(0, 0, 0), 100)], &params, &r).unwrap();
    // 7 mesh hops, 8 routers, 7 mesh links, 1 local link.
    let expected = 100 + 8 * 3 + 7 * 2 + 1;
    assert_eq!(stats.delivered, 1);
    assert_eq!(
        stats.deliveries,
        vec![Delivery {
            packet: 0,
            pe: pe(4, 3, 2),
            cycle: expected
        }]
    );
    assert_eq!(stats.max_latency, expected - 100);
    assert_eq!(stats.mean_latency, (expected - 100) as f64);
    assert_eq!(stats.makespan, expected);
    // 7 mesh links and 1 local link carried it once each.
    assert_eq!(stats.links.len(), 8);
    assert!(stats.links.iter().all(|l| l.packets == 1 && l.dropped == 0));
}

#[test]
fn inter_chip_links_add_their_own_latency() {
    let mut params = NocParams {
        chips_x: 2,
        ..NocParams::single_chip(4, 4, 2)
    };
    params.router_latency = 2;
    params.chip_link.latency = 10;
    let mut r = XyRouter::new();
    r.add_group(9, RouterId::new(1, 1), vec![pe(6, 1, 1)]);
    let stats = simulate(&[packet(9, pe(1, 1, 0), 0)], &params, &r).unwrap();
    // 5 hops: 4 on-chip (latency 1) and 3 -> 4 across the chip boundary.
    assert_eq!(stats.deliveries[0].cycle, 6 * 2 + 4 + 10 + 1);
    let crossing: Vec<_> = stats.links.iter().filter(|l| l.inter_chip).collect();
    assert_eq!(crossing.len(), 1);
    assert_eq!(crossing[0].router, RouterId::new(3, 1));
    assert_eq!(crossing[0].port, Port::Mesh(Direction::East));
}

#[test]
fn multicast_reaches_every_destination_exactly_once() {
    let params = NocParams::single_chip(6, 5, 4);
    let targets = vec![
        pe(0, 0, 0),
        pe(5, 4, 3),
        pe(2, 2, 0),
        pe(2, 2, 1),
        pe(2, 2, 2),
        pe(4, 0, 1),
        pe(0, 4, 2),
        pe(3, 2, 0),
    ];
    let mut r = XyRouter::new();
    r.add_group(0xabcd, RouterId::new(2, 2), targets.clone());
    let stats = simulate(&[packet(0xabcd, pe(2, 2, 3), 5)], &params, &r).unwrap();
    let mut reached: Vec<PeId> = stats.deliveries.iter().map(|d| d.pe).collect();
    reached.sort();
    let mut expected = targets;
    expected.sort();
    assert_eq!(reached, expected);
    assert_eq!(stats.per_pe.len(), expected.len());
    assert!(stats.per_pe.iter().all(|p| p.count == 1));
    assert_eq!(stats.unrouted, 0);
    assert_eq!(stats.dropped, 0);
    // Each mesh link of the tree carries one copy, however many targets
    // lie beyond it.
    assert!(stats.links.iter().all(|l| l.packets == 1));
}

#[test]
fn contention_on_one_link_serialises_packets() {
    let k = 6u8;
    let params = NocParams {
        wait_timeout: None,
        ..NocParams::single_chip(2, 1, usize::from(k))
    };
    let mut r = XyRouter::new();
    let packets: Vec<Packet> = (0..k)
        .map(|i| {
            r.add_group(u32::from(i), RouterId::new(0, 0), vec![pe(1, 0, 0)]);
            packet(u32::from(i), pe(0, 0, i), 0)
        })
        .collect();
    let stats = simulate(&packets, &params, &r).unwrap();
    // Uncontended arrival is 0 + 2 routers + 2 links = 4; the east link
    // starts one copy per cycle, so they arrive over k cycles.
    let cycles: Vec<u64> = stats.deliveries.iter().map(|d| d.cycle).collect();
    assert_eq!(cycles, (4..4 + u64::from(k)).collect::<Vec<_>>());
    let order: Vec<u32> = stats.deliveries.iter().map(|d| d.packet).collect();
    assert_eq!(order, (0..u32::from(k)).collect::<Vec<_>>());
    let east = stats
        .links
        .iter()
        .find(|l| l.port == Port::Mesh(Direction::East))
        .unwrap();
    assert_eq!(east.packets, u64::from(k));
    assert_eq!(stats.max_latency, 3 + u64::from(k));
    // Busy k cycles out of makespan + 1 = k + 4.
    assert!((east.utilisation - f64::from(k) / f64::from(k + 4)).abs() < 1e-12);
}

#[test]
fn slow_links_space_packets_by_their_rate() {
    let mut params = NocParams {
        chips_x: 2,
        wait_timeout: None,
        ..NocParams::single_chip(1, 1, 3)
    };
    params.chip_link.bandwidth = Bandwidth {
        packets: 1,
        cycles: 4,
    };
    let mut r = XyRouter::new();
    r.add_group(0, RouterId::new(0, 0), vec![pe(1, 0, 0)]);
    let packets: Vec<Packet> = (0..3).map(|i| packet(0, pe(0, 0, i), 0)).collect();
    let stats = simulate(&packets, &params, &r).unwrap();
    let cycles: Vec<u64> = stats.deliveries.iter().map(|d| d.cycle).collect();
    assert_eq!(cycles, vec![4, 8, 12]);
}

/// `n` packets from distinct PEs of router (0, 0), all to PE 0 of (1, 0).
fn burst(n: u8, params: &NocParams) -> NocStats {
    let mut r = XyRouter::new();
    r.add_group(0, RouterId::new(0, 0), vec![pe(1, 0, 0)]);
    let packets: Vec<Packet> = (0..n).map(|i| packet(0, pe(0, 0, i), 0)).collect();
    simulate(&packets, params, &r).unwrap()
}

#[test]
fn full_queue_drops_after_the_timeout_and_counts() {
    let mut params = NocParams::single_chip(2, 1, 8);
    params.mesh_link.queue_capacity = 2;
    params.wait_timeout = Some(0);
    // One starts at once, two wait in the FIFO, the rest are dropped.
    let stats = burst(8, &params);
    assert_eq!((stats.delivered, stats.dropped), (3, 5));
    let east = stats
        .links
        .iter()
        .find(|l| l.port == Port::Mesh(Direction::East))
        .unwrap();
    assert_eq!((east.packets, east.dropped), (3, 5));
    // The first packets win; the dropped ones are the last in input order.
    let kept: Vec<u32> = stats.deliveries.iter().map(|d| d.packet).collect();
    assert_eq!(kept, vec![0, 1, 2]);

    // Waiting up to 3 cycles for a slot: the slot of copy i frees when
    // copy i - 2 starts, i - 2 cycles after ready, so copies 0..=5 get in.
    params.wait_timeout = Some(3);
    let stats = burst(8, &params);
    assert_eq!((stats.delivered, stats.dropped), (6, 2));

    // No timeout: nothing is dropped, only delayed.
    params.wait_timeout = None;
    let stats = burst(8, &params);
    assert_eq!((stats.delivered, stats.dropped), (8, 0));
    assert_eq!(stats.max_latency, 4 + 7);
}

#[test]
fn a_dropped_copy_does_not_affect_the_other_branches() {
    let mut params = NocParams::single_chip(2, 1, 4);
    params.mesh_link.queue_capacity = 1;
    params.wait_timeout = Some(0);
    // At (0, 0): east and local PE 3; at (1, 0): local PE 0.
    let fork = |r: RouterId, _: u32, _: Port| {
        if r.x == 0 {
            [Port::Mesh(Direction::East), Port::Local(3)]
                .into_iter()
                .collect()
        } else {
            PortSet::single(Port::Local(0))
        }
    };
    let packets: Vec<Packet> = (0..4).map(|i| packet(i, pe(0, 0, i as u8), 0)).collect();
    let stats = simulate(&packets, &params, &fork).unwrap();
    let count = |p: PeId| stats.per_pe.iter().find(|d| d.pe == p).map(|d| d.count);
    // The local branch (FIFO of 8) takes all four; the east FIFO of 1
    // passes two and drops two.
    assert_eq!(count(pe(0, 0, 3)), Some(4));
    assert_eq!(count(pe(1, 0, 0)), Some(2));
    assert_eq!((stats.delivered, stats.dropped), (6, 2));
}

#[test]
fn empty_routes_are_counted_as_unrouted() {
    let params = NocParams::single_chip(2, 2, 1);
    let r = XyRouter::new();
    let stats = simulate(&[packet(3, pe(1, 1, 0), 0)], &params, &r).unwrap();
    assert_eq!((stats.delivered, stats.unrouted, stats.dropped), (0, 1, 0));
    assert_eq!(stats.makespan, 0);
    assert_eq!(stats.mean_latency, 0.0);
}

#[test]
fn invalid_routes_and_sources_are_errors() {
    let params = NocParams::single_chip(2, 2, 2);
    let off_edge = |_: RouterId, _: u32, _: Port| PortSet::single(Port::Mesh(Direction::West));
    let err = simulate(&[packet(1, pe(0, 1, 0), 0)], &params, &off_edge).unwrap_err();
    assert_eq!(
        err,
        NocError::InvalidRoute {
            packet: 0,
            key: 1,
            router: RouterId::new(0, 1),
            port: Some(Port::Mesh(Direction::West)),
        }
    );
    let no_pe = |_: RouterId, _: u32, _: Port| PortSet::single(Port::Local(2));
    let err = simulate(&[packet(1, pe(0, 0, 0), 0)], &params, &no_pe).unwrap_err();
    assert!(matches!(
        err,
        NocError::InvalidRoute {
            port: Some(Port::Local(2)),
            ..
        }
    ));
    let err = simulate(&[packet(1, pe(2, 0, 0), 0)], &params, &no_pe).unwrap_err();
    assert!(matches!(err, NocError::BadSource { packet: 0, .. }));
    let err = simulate(&[packet(1, pe(0, 0, 2), 0)], &params, &no_pe).unwrap_err();
    assert!(matches!(err, NocError::BadSource { pe: 2, .. }));
}

/// A router that bounces every packet between routers (0, 0) and (1, 0) forever.
fn ping_pong(r: RouterId, _: u32, _: Port) -> PortSet {
    let d = if r.x == 0 {
        Direction::East
    } else {
        Direction::West
    };
    PortSet::single(Port::Mesh(d))
}

#[test]
fn routing_loops_hit_the_hop_limit() {
    let params = NocParams {
        max_hops: 10,
        ..NocParams::single_chip(2, 1, 1)
    };
    let err = simulate(&[packet(4, pe(0, 0, 0), 0)], &params, &ping_pong).unwrap_err();
    assert!(matches!(
        err,
        NocError::HopLimit {
            packet: 0,
            key: 4,
            max_hops: 10,
            ..
        }
    ));
}

/// Random multicast traffic: `n` packets from random PEs, each key sent to
/// `fanout` random PEs, injected over `span` cycles. With `radius`, the
/// targets lie within that many routers of the source in x and y (the
/// traffic a locality-aware placement produces); otherwise anywhere.
fn random_traffic(
    params: &NocParams,
    n: usize,
    fanout: usize,
    span: u64,
    radius: Option<u32>,
    seed: u64,
) -> (Vec<Packet>, XyRouter) {
    let mut rng = Lcg(seed);
    let (w, h) = (params.width(), params.height());
    let pes = params.pes_per_router as u64;
    let near = |rng: &mut Lcg, c: u32, size: u32| match radius {
        Some(r) => {
            let lo = c.saturating_sub(r);
            let hi = (c + r).min(size - 1);
            lo + rng.next(u64::from(hi - lo + 1)) as u32
        }
        None => rng.next(u64::from(size)) as u32,
    };
    // One key per source PE.
    let sources: Vec<PeId> = (0..u64::from(w * h) * pes)
        .map(|i| {
            let r = (i / pes) as u32;
            pe(r % w, r / w, (i % pes) as u8)
        })
        .collect();
    let mut router = XyRouter::new();
    for (key, s) in sources.iter().enumerate() {
        let mut targets: Vec<PeId> = (0..fanout)
            .map(|_| {
                let x = near(&mut rng, s.router.x, w);
                let y = near(&mut rng, s.router.y, h);
                pe(x, y, rng.next(pes) as u8)
            })
            .collect();
        targets.sort();
        targets.dedup();
        router.add_group(key as u32, s.router, targets);
    }
    let packets = (0..n)
        .map(|_| {
            let key = rng.next(sources.len() as u64) as usize;
            packet(key as u32, sources[key], rng.next(span))
        })
        .collect();
    (packets, router)
}

#[test]
fn same_input_gives_same_output() {
    // 2 x 2 chips of 3 x 3 routers, slower links between chips.
    let mut params = NocParams {
        chips_x: 2,
        chips_y: 2,
        ..NocParams::single_chip(3, 3, 4)
    };
    params.mesh_link.queue_capacity = 2;
    params.chip_link = LinkParams {
        latency: 4,
        bandwidth: Bandwidth {
            packets: 1,
            cycles: 2,
        },
        queue_capacity: 4,
    };
    params.wait_timeout = Some(2);
    let (packets, router) = random_traffic(&params, 3000, 5, 300, None, 42);
    let a = simulate(&packets, &params, &router).unwrap();
    let b = simulate(&packets, &params, &router).unwrap();
    assert_eq!(a, b);
    // Heavy enough to exercise contention and drops.
    assert!(a.dropped > 0, "no drops: {}", a.dropped);
    assert!(a.delivered > 1000);
    // Conservation: every copy reaching a local port is delivered or dropped.
    let local: u64 = a
        .links
        .iter()
        .filter(|l| matches!(l.port, Port::Local(_)))
        .map(|l| l.packets)
        .sum();
    assert_eq!(local, a.delivered);
    assert_eq!(a.per_pe.iter().map(|p| p.count).sum::<u64>(), a.delivered);
    assert!(a.links.iter().any(|l| l.inter_chip && l.dropped > 0));
    assert!(a.deliveries.windows(2).all(|w| w[0].cycle <= w[1].cycle));
    assert!(a.per_pe.windows(2).all(|w| w[0].pe < w[1].pe));
}

#[test]
fn reused_unsorted_runs_keep_every_delivery_and_statistic() {
    let mut params = NocParams::single_chip(4, 4, 4);
    params.mesh_link.queue_capacity = 2;
    params.wait_timeout = Some(1);
    let (packets, router) = random_traffic(&params, 2000, 6, 200, None, 7);
    let sorted = simulate(&packets, &params, &router).unwrap();
    let mut sim = Simulator::new(&params).unwrap();
    let mut unsorted = sim.run(&packets, &router, false).unwrap();
    assert!(sorted.dropped > 0);
    // Not in cycle order, but the same deliveries once sorted (the sort is stable).
    assert!(unsorted
        .deliveries
        .windows(2)
        .any(|w| w[0].cycle > w[1].cycle));
    unsorted.deliveries.sort_by_key(|d| d.cycle);
    assert_eq!(unsorted, sorted);
    // A reused simulator starts every run from an idle network at cycle 0, even after a run
    // that ended late.
    let (mut other, _) = random_traffic(&params, 500, 3, 100, Some(1), 8);
    let late: Vec<Packet> = other
        .iter()
        .map(|p| packet(p.key, p.source, p.inject_cycle + 5000))
        .collect();
    sim.run(&late, &router, false).unwrap();
    other.truncate(300);
    let fresh = simulate(&other, &params, &router).unwrap();
    assert_eq!(sim.run(&other, &router, true).unwrap(), fresh);
    assert_eq!(sim.run(&packets, &router, true).unwrap(), sorted);
    // Counting only: the same statistics without the delivery lists, and the same counts.
    let late_after = 150;
    let counted = sim.run_counting(&packets, &router, late_after).unwrap();
    let mut per_packet = vec![0u32; packets.len()];
    for d in &sorted.deliveries {
        per_packet[d.packet as usize] += 1;
    }
    assert_eq!(counted.per_packet, per_packet);
    let late = sorted
        .deliveries
        .iter()
        .filter(|d| d.cycle > late_after)
        .count() as u64;
    assert!(late > 0);
    assert_eq!(counted.late, late);
    let mut stripped = sorted.clone();
    stripped.deliveries.clear();
    stripped.per_pe.clear();
    assert_eq!(counted.stats, stripped);
}

#[test]
fn ties_follow_input_order() {
    let params = NocParams {
        wait_timeout: None,
        ..NocParams::single_chip(2, 1, 2)
    };
    let mut r = XyRouter::new();
    r.add_group(0, RouterId::new(0, 0), vec![pe(1, 0, 0)]);
    r.add_group(1, RouterId::new(0, 0), vec![pe(1, 0, 0)]);
    let a = packet(0, pe(0, 0, 0), 0);
    let b = packet(1, pe(0, 0, 1), 0);
    let first = |ps: &[Packet]| {
        let s = simulate(ps, &params, &r).unwrap();
        ps[s.deliveries[0].packet as usize].key
    };
    assert_eq!(first(&[a, b]), 0);
    assert_eq!(first(&[b, a]), 1);
}

/// 10^6 packets spread over one simulated second at 150 MHz on a 16x16
/// mesh with 4 PEs per router, each multicast to 4 random PEs: anywhere on
/// the mesh (worst case, about 35 link crossings per packet), and within 2
/// routers of the source (what a locality-aware placement gives). Routing
/// is a dense `(key, router)` table precomputed from [`XyRouter`], the
/// shape of a compiled routing table, so the figure is the simulator's own
/// cost; the `XyRouter` run adds its per-call path computation.
/// Run with `cargo test -p snnc-runtime --release perf_one -- --ignored --nocapture`.
#[test]
#[ignore]
fn perf_one_second_of_traffic() {
    let params = NocParams::single_chip(16, 16, 4);
    for radius in [None, Some(2)] {
        let (packets, xy) = random_traffic(&params, 1_000_000, 4, 150_000_000, radius, 7);
        let (w, h) = (params.width(), params.height());
        let routers = (w * h) as usize;
        let keys = routers * params.pes_per_router;
        let mut table = vec![PortSet::EMPTY; keys * routers];
        for (key, row) in table.chunks_mut(routers).enumerate() {
            for (i, cell) in row.iter_mut().enumerate() {
                let r = RouterId::new(i as u32 % w, i as u32 / w);
                *cell = xy.route(r, key as u32, Port::Local(0));
            }
        }
        let dense = |r: RouterId, key: u32, _: Port| {
            table
                .get(key as usize * routers + (r.y * w + r.x) as usize)
                .copied()
                .unwrap_or(PortSet::EMPTY)
        };
        for (name, router) in [("dense table", &dense as &dyn Router), ("XyRouter", &xy)] {
            let t = std::time::Instant::now();
            let stats = simulate(&packets, &params, router).unwrap();
            let elapsed = t.elapsed();
            let copies: u64 = stats.links.iter().map(|l| l.packets).sum();
            eprintln!(
                "radius {radius:?}, {name}: {} packets, {copies} link crossings, {} deliveries, \
                 {} dropped, mean latency {:.1}, makespan {}: {elapsed:?}",
                stats.injected, stats.delivered, stats.dropped, stats.mean_latency, stats.makespan,
            );
            assert!(stats.delivered > 3_000_000);
        }
    }
}

/// [`Simulator::run_trees`] on trees built from `router` gives what
/// [`Simulator::run_counting`] gives with the router itself.
fn trees_agree<R: Router>(
    packets: &[Packet],
    params: &NocParams,
    router: &R,
    late_after: u64,
) -> Result<CountedRun, NocError> {
    let mut trees = TreeSet::new();
    let tree_packets: Vec<TreePacket> = packets
        .iter()
        .map(|p| TreePacket {
            root: trees.add(params, router, p.source, p.key).unwrap(),
            key: p.key,
            inject_cycle: p.inject_cycle,
        })
        .collect();
    let mut sim = Simulator::new(params).unwrap();
    let want = sim.run_counting(packets, router, late_after);
    // Twice on the same simulator: a run starts from an idle network.
    for _ in 0..2 {
        assert_eq!(sim.run_trees(&tree_packets, &trees, late_after), want);
    }
    want
}

#[test]
fn precomputed_trees_replay_the_table_driven_run() {
    let mut congested = NocParams::single_chip(4, 3, 4);
    congested.mesh_link.queue_capacity = 2;
    congested.local_link.queue_capacity = 1;
    congested.wait_timeout = Some(3);
    congested.mesh_link.bandwidth = Bandwidth {
        packets: 1,
        cycles: 3,
    };
    let mut boards = NocParams::single_chip(3, 2, 4);
    boards.chips_x = 2;
    boards.chips_y = 2;
    boards.chip_link.latency = 20;
    boards.chip_link.bandwidth = Bandwidth {
        packets: 2,
        cycles: 5,
    };
    let (mut dropped, mut late, mut chip_hops) = (0, 0, 0);
    for (i, params) in [NocParams::single_chip(4, 4, 4), congested, boards]
        .iter()
        .enumerate()
    {
        for (fanout, span) in [(1, 1000), (6, 50), (20, 5)] {
            let (packets, router) = random_traffic(params, 400, fanout, span, None, 7 + i as u64);
            let run = trees_agree(&packets, params, &router, span / 2).unwrap();
            dropped += run.stats.dropped;
            late += run.late;
            chip_hops += run.stats.links.iter().filter(|l| l.inter_chip).count();
        }
    }
    // The cases exercise congestion drops, late copies and chip links.
    assert!(
        dropped > 0 && late > 0 && chip_hops > 0,
        "{dropped} {late} {chip_hops}"
    );
}

#[test]
fn precomputed_trees_keep_the_errors_and_unrouted_counts() {
    let params = NocParams {
        max_hops: 10,
        ..NocParams::single_chip(2, 1, 2)
    };
    let err = trees_agree(&[packet(4, pe(0, 0, 0), 3)], &params, &ping_pong, 0);
    assert!(matches!(err, Err(NocError::HopLimit { key: 4, .. })));
    let off_grid = |_: RouterId, _: u32, _: Port| PortSet::single(Port::Mesh(Direction::North));
    let err = trees_agree(&[packet(1, pe(0, 0, 1), 0)], &params, &off_grid, 0);
    assert!(matches!(err, Err(NocError::InvalidRoute { key: 1, .. })));
    let no_route = |_: RouterId, _: u32, _: Port| PortSet::EMPTY;
    let run = trees_agree(
        &[packet(1, pe(0, 0, 1), 0), packet(2, pe(1, 0, 0), 1)],
        &params,
        &no_route,
        0,
    );
    assert_eq!(run.map(|r| r.stats.unrouted), Ok(2));
    // Keys of one source with the same route share one stored tree.
    let mut r = XyRouter::new();
    r.add_group(0, RouterId::new(0, 0), vec![pe(1, 0, 1)]);
    r.add_group(1, RouterId::new(0, 0), vec![pe(1, 0, 1)]);
    let mut trees = TreeSet::new();
    let a = trees.add(&params, &r, pe(0, 0, 0), 0).unwrap();
    let b = trees.add(&params, &r, pe(0, 0, 0), 1).unwrap();
    assert_eq!((a, b, trees.len()), (0, 0, 1));
}
