//! The event-driven simulation loop (timing rules in the module doc of
//! [`crate::noc`]).

use super::error::NocError;
use super::link::OutputPort;
use super::packet::{Packet, PeId, RouterId};
use super::params::{LinkParams, NocParams};
use super::port::{Port, MESH_PORTS};
use super::queue::EventQueue;
use super::route::Router;
use super::stats::{Delivery, LinkStats, NocStats, PeDeliveries};
use super::tree::TreeArrival;

/// A packet (or one copy of it) arriving at a router; its cycle is the
/// event queue's key. `Ord` is only needed by the queue's overflow heap,
/// where a unique sequence number decides first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Arrival {
    /// Injection cycle, carried along so the hot loop never reads the
    /// (large, randomly ordered) input slice.
    inject: u64,
    packet: u32,
    key: u32,
    router: u32,
    hops: u32,
    in_port: Port,
}

/// A packet of the input as the injection schedule holds it: sorted by
/// `(cycle, index)` and read sequentially.
#[derive(Clone, Copy, Debug)]
struct Injection {
    cycle: u64,
    index: u32,
    key: u32,
    router: u32,
    pe: u8,
}

/// Mesh geometry resolved once for the hot loop.
pub(super) struct Mesh<'a> {
    pub(super) params: &'a NocParams,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) ports_per_router: usize,
}

impl<'a> Mesh<'a> {
    pub(super) fn new(params: &'a NocParams) -> Mesh<'a> {
        Mesh {
            params,
            width: params.width(),
            height: params.height(),
            ports_per_router: MESH_PORTS + params.pes_per_router,
        }
    }

    pub(super) fn id(&self, router: u32) -> RouterId {
        RouterId::new(router % self.width, router / self.width)
    }

    pub(super) fn index(&self, r: RouterId) -> u32 {
        r.y * self.width + r.x
    }

    pub(super) fn same_chip(&self, a: RouterId, b: RouterId) -> bool {
        a.x / self.params.chip_width == b.x / self.params.chip_width
            && a.y / self.params.chip_height == b.y / self.params.chip_height
    }

    /// Neighbour of `r` through mesh port `port`, if on the grid.
    fn neighbour(&self, r: RouterId, port: Port) -> Option<RouterId> {
        let Port::Mesh(d) = port else { return None };
        let (dx, dy) = d.delta();
        let x = i64::from(r.x) + dx;
        let y = i64::from(r.y) + dy;
        let x = u32::try_from(x).ok().filter(|&x| x < self.width)?;
        let y = u32::try_from(y).ok().filter(|&y| y < self.height)?;
        Some(RouterId::new(x, y))
    }

    /// Parameters of the link behind `port` of router `r` (`to` is the
    /// neighbour for mesh ports).
    fn link(&self, r: RouterId, to: Option<RouterId>) -> &'a LinkParams {
        match to {
            None => &self.params.local_link,
            Some(n) if self.same_chip(r, n) => &self.params.mesh_link,
            Some(_) => &self.params.chip_link,
        }
    }
}

/// Where one output port leads, precomputed so that the hot loop does no
/// coordinate arithmetic.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wire {
    /// Mesh link to router `to`, arriving there on `in_port`.
    Router { to: u32, in_port: Port },
    /// Link to a local PE.
    Pe(u8),
    /// A mesh port off the edge of the grid.
    Off,
}

/// One output port: its wire and its link parameters.
#[derive(Clone, Copy, Debug)]
struct Slot<'a> {
    wire: Wire,
    link: &'a LinkParams,
}

impl<'a> Mesh<'a> {
    /// Where port `idx` of router `here` leads.
    pub(super) fn wire(&self, here: RouterId, idx: usize) -> Wire {
        match Port::from_index(idx) {
            Some(Port::Local(pe)) => Wire::Pe(pe),
            Some(port @ Port::Mesh(d)) => match self.neighbour(here, port) {
                Some(n) => Wire::Router {
                    to: self.index(n),
                    in_port: Port::Mesh(d.opposite()),
                },
                None => Wire::Off,
            },
            None => Wire::Off,
        }
    }

    /// Slots of every port of every router, router-major.
    fn slots(&self) -> Vec<Slot<'a>> {
        let routers = self.width * self.height;
        let mut slots = Vec::with_capacity(routers as usize * self.ports_per_router);
        for r in 0..routers {
            let here = self.id(r);
            for idx in 0..self.ports_per_router {
                let wire = self.wire(here, idx);
                let link = match wire {
                    Wire::Pe(_) => &self.params.local_link,
                    Wire::Router { to, .. } => self.link(here, Some(self.id(to))),
                    Wire::Off => &self.params.mesh_link,
                };
                slots.push(Slot { wire, link });
            }
        }
        slots
    }
}

/// Per-PE delivery tally while simulating.
#[derive(Clone, Copy, Default)]
struct Tally {
    count: u64,
    first: u64,
    last: u64,
}

/// Simulate `packets` on the mesh described by `params`, routed hop by hop
/// by `router`. Deterministic: the same inputs give the same [`NocStats`].
///
/// Errors: invalid parameters, a packet whose source is off the mesh, a
/// routing decision naming a port the router lacks, or a packet crossing
/// more than `max_hops` links.
pub fn simulate<R: Router + ?Sized>(
    packets: &[Packet],
    params: &NocParams,
    router: &R,
) -> Result<NocStats, NocError> {
    Simulator::new(params)?.run(packets, router, true)
}

/// A simulator for many independent runs on one mesh (the emulator simulates every tick's
/// packets separately). It builds the mesh's wiring once and keeps its buffers between runs,
/// resetting only the ports and PEs a run used, so a run costs in proportion to its traffic
/// rather than to the size of the machine. Each [`Simulator::run`] starts from an idle network
/// and gives exactly what [`simulate`] gives.
pub struct Simulator<'a> {
    pub(super) mesh: Mesh<'a>,
    slots: Vec<Slot<'a>>,
    ids: Vec<RouterId>,
    pub(super) ports: Vec<OutputPort>,
    tallies: Vec<Tally>,
    /// Indices of the ports and tallies the current run touched.
    pub(super) touched_ports: Vec<u32>,
    touched_tallies: Vec<u32>,
    order: Vec<Injection>,
    queue: EventQueue<Arrival>,
    /// Injections `(cycle, index, root)` and queue of [`Simulator::run_trees`].
    pub(super) tree_order: Vec<(u64, u32, u32)>,
    pub(super) tree_queue: EventQueue<TreeArrival>,
}

impl<'a> Simulator<'a> {
    /// A simulator for the mesh of `params` (validated here).
    pub fn new(params: &'a NocParams) -> Result<Simulator<'a>, NocError> {
        params.validate()?;
        let mesh = Mesh::new(params);
        let routers = (mesh.width as usize) * (mesh.height as usize);
        let slots = mesh.slots();
        let ids: Vec<RouterId> = (0..mesh.width * mesh.height).map(|r| mesh.id(r)).collect();
        Ok(Simulator {
            ports: vec![OutputPort::default(); routers * mesh.ports_per_router],
            tallies: vec![Tally::default(); routers * params.pes_per_router],
            mesh,
            slots,
            ids,
            touched_ports: Vec::new(),
            touched_tallies: Vec::new(),
            order: Vec::new(),
            queue: EventQueue::new(),
            tree_order: Vec::new(),
            tree_queue: EventQueue::new(),
        })
    }

    /// Simulates `packets` from an idle network, as [`simulate`] does; with `sort` false the
    /// deliveries stay in the (deterministic) order they were produced instead of being sorted
    /// by cycle, for callers that only aggregate them (the sort is a large share of the cost
    /// when packets fan out to many PEs).
    pub fn run<R: Router + ?Sized>(
        &mut self,
        packets: &[Packet],
        router: &R,
        sort: bool,
    ) -> Result<NocStats, NocError> {
        self.run_mode(packets, router, Mode::Record { sort })
            .map(|c| c.stats)
    }

    /// Simulates `packets` from an idle network keeping only counts of the deliveries: per
    /// packet, and how many arrived after cycle `late_after`. The returned stats have empty
    /// `deliveries` and `per_pe` (everything else as [`simulate`]). For callers that need no
    /// more: recording every delivery dominates the cost when packets fan out to many PEs.
    pub fn run_counting<R: Router + ?Sized>(
        &mut self,
        packets: &[Packet],
        router: &R,
        late_after: u64,
    ) -> Result<CountedRun, NocError> {
        self.run_mode(packets, router, Mode::Count { late_after })
    }

    /// Returns the ports and tallies the previous run used to idle, and empties the queues.
    pub(super) fn reset(&mut self) {
        for &i in &self.touched_ports {
            if let Some(p) = self.ports.get_mut(i as usize) {
                *p = OutputPort::default();
            }
        }
        for &i in &self.touched_tallies {
            if let Some(t) = self.tallies.get_mut(i as usize) {
                *t = Tally::default();
            }
        }
        self.touched_ports.clear();
        self.touched_tallies.clear();
        self.queue.reset();
        self.tree_queue.reset();
    }

    /// Statistics of a counting run (no deliveries or per-PE tallies recorded).
    pub(super) fn counted_stats(
        &self,
        injected: usize,
        delivered: u64,
        unrouted: u64,
        latency_sum: u128,
        max_latency: u64,
        makespan: u64,
    ) -> NocStats {
        collect_stats(
            &self.mesh,
            injected,
            delivered,
            Vec::new(),
            &self.tallies,
            &[],
            &self.ports,
            &self.touched_ports,
            unrouted,
            latency_sum,
            max_latency,
            makespan,
        )
    }

    fn run_mode<R: Router + ?Sized>(
        &mut self,
        packets: &[Packet],
        router: &R,
        mode: Mode,
    ) -> Result<CountedRun, NocError> {
        self.reset();
        let mesh = &self.mesh;
        let params = mesh.params;
        let count =
            u32::try_from(packets.len()).map_err(|_| NocError::TooManyPackets(packets.len()))?;
        let pes = params.pes_per_router;
        for (i, p) in packets.iter().enumerate() {
            let s = p.source;
            if s.router.x >= mesh.width || s.router.y >= mesh.height || usize::from(s.pe) >= pes {
                return Err(NocError::BadSource {
                    packet: i,
                    router: s.router,
                    pe: s.pe,
                    width: mesh.width,
                    height: mesh.height,
                    pes,
                });
            }
        }
        // Injections in (cycle, input index) order; at equal cycles they go
        // before forwarded copies.
        let order = &mut self.order;
        order.clear();
        order.extend(packets.iter().zip(0..count).map(|(p, index)| Injection {
            cycle: p.inject_cycle,
            index,
            key: p.key,
            router: mesh.index(p.source.router),
            pe: p.source.pe,
        }));
        order.sort_unstable_by_key(|j| (j.cycle, j.index));

        let ports = &mut self.ports;
        let tallies = &mut self.tallies;
        let slots = &self.slots;
        let ids = &self.ids;
        let queue = &mut self.queue;
        let record = matches!(mode, Mode::Record { .. });
        let late_after = match mode {
            Mode::Count { late_after } => late_after,
            Mode::Record { .. } => u64::MAX,
        };
        let mut per_packet = if record {
            Vec::new()
        } else {
            vec![0u32; packets.len()]
        };
        let mut late = 0u64;
        let mut delivered = 0u64;
        let mut deliveries: Vec<Delivery> =
            Vec::with_capacity(if record { packets.len() } else { 0 });
        let mut unrouted = 0u64;
        let mut latency_sum = 0u128;
        let mut max_latency = 0u64;
        let mut makespan = 0u64;
        let mut cursor = 0usize;

        loop {
            let next = order.get(cursor);
            let limit = next.map_or(u64::MAX, |j| j.cycle);
            let (cycle, ev) = if let Some(e) = queue.pop_before(limit) {
                e
            } else if let Some(j) = next {
                cursor += 1;
                let ev = Arrival {
                    inject: j.cycle,
                    packet: j.index,
                    key: j.key,
                    router: j.router,
                    hops: 0,
                    in_port: Port::Local(j.pe),
                };
                (j.cycle, ev)
            } else {
                break;
            };
            let Some(&here) = ids.get(ev.router as usize) else {
                continue;
            };
            let outs = router.route(here, ev.key, ev.in_port);
            if outs.is_empty() {
                unrouted += 1;
                continue;
            }
            let ready = cycle.saturating_add(params.router_latency);
            let base = ev.router as usize * mesh.ports_per_router;
            for idx in outs.indices() {
                let found = (idx < mesh.ports_per_router)
                    .then(|| slots.get(base + idx).zip(ports.get_mut(base + idx)))
                    .flatten();
                let (slot, out) = match found {
                    Some((slot, out)) if !matches!(slot.wire, Wire::Off) => (slot, out),
                    _ => {
                        return Err(NocError::InvalidRoute {
                            packet: ev.packet as usize,
                            key: ev.key,
                            router: here,
                            port: Port::from_index(idx),
                        })
                    }
                };
                if out.sent == 0 && out.dropped == 0 {
                    self.touched_ports.push((base + idx) as u32);
                }
                let Some(start) = out.admit(ready, slot.link, params.wait_timeout) else {
                    continue;
                };
                let arrive = start.saturating_add(slot.link.latency);
                match slot.wire {
                    Wire::Router { to, in_port } => {
                        let hops = ev.hops + 1;
                        if hops > params.max_hops {
                            return Err(NocError::HopLimit {
                                packet: ev.packet as usize,
                                key: ev.key,
                                router: here,
                                max_hops: params.max_hops,
                            });
                        }
                        let next = Arrival {
                            router: to,
                            in_port,
                            hops,
                            ..ev
                        };
                        queue.push(arrive, next);
                    }
                    Wire::Pe(pe) => {
                        let latency = arrive.saturating_sub(ev.inject);
                        latency_sum += u128::from(latency);
                        max_latency = max_latency.max(latency);
                        makespan = makespan.max(arrive);
                        delivered += 1;
                        if !record {
                            if let Some(c) = per_packet.get_mut(ev.packet as usize) {
                                *c += 1;
                            }
                            late += u64::from(arrive > late_after);
                            continue;
                        }
                        let ti = ev.router as usize * pes + usize::from(pe);
                        if let Some(t) = tallies.get_mut(ti) {
                            if t.count == 0 {
                                t.first = arrive;
                                self.touched_tallies.push(ti as u32);
                            }
                            t.count += 1;
                            t.last = t.last.max(arrive);
                        }
                        deliveries.push(Delivery {
                            packet: ev.packet,
                            pe: PeId { router: here, pe },
                            cycle: arrive,
                        });
                    }
                    Wire::Off => {}
                }
            }
        }

        if matches!(mode, Mode::Record { sort: true }) {
            deliveries.sort_by_key(|d| d.cycle);
        }
        let stats = collect_stats(
            mesh,
            packets.len(),
            delivered,
            deliveries,
            tallies,
            &self.touched_tallies,
            ports,
            &self.touched_ports,
            unrouted,
            latency_sum,
            max_latency,
            makespan,
        );
        Ok(CountedRun {
            stats,
            per_packet,
            late,
        })
    }
}

/// What [`Simulator`] keeps of each delivery.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Every delivery, sorted by cycle or not.
    Record { sort: bool },
    /// Counts only.
    Count { late_after: u64 },
}

/// Result of [`Simulator::run_counting`].
#[derive(Clone, Debug, PartialEq)]
pub struct CountedRun {
    /// The statistics, with empty `deliveries` and `per_pe`.
    pub stats: NocStats,
    /// Copies delivered per packet (input order).
    pub per_packet: Vec<u32>,
    /// Copies delivered after the `late_after` cycle.
    pub late: u64,
}

/// Turn the simulator's tallies into the sorted, reproducible report.
#[allow(clippy::too_many_arguments)]
fn collect_stats(
    mesh: &Mesh<'_>,
    injected: usize,
    delivered: u64,
    deliveries: Vec<Delivery>,
    tallies: &[Tally],
    touched_tallies: &[u32],
    ports: &[OutputPort],
    touched_ports: &[u32],
    unrouted: u64,
    latency_sum: u128,
    max_latency: u64,
    makespan: u64,
) -> NocStats {
    let pes = mesh.params.pes_per_router;
    let mut per_pe: Vec<PeDeliveries> = touched_tallies
        .iter()
        .filter_map(|&i| Some((i as usize, tallies.get(i as usize)?)))
        .filter(|(_, t)| t.count > 0)
        .map(|(i, t)| PeDeliveries {
            pe: PeId {
                router: mesh.id((i / pes) as u32),
                pe: (i % pes) as u8,
            },
            count: t.count,
            first_cycle: t.first,
            last_cycle: t.last,
        })
        .collect();
    per_pe.sort_by_key(|p| p.pe);
    let window = makespan as f64 + 1.0;
    let mut links: Vec<LinkStats> = touched_ports
        .iter()
        .filter_map(|&i| Some((i as usize, ports.get(i as usize)?)))
        .filter(|(_, p)| p.sent > 0 || p.dropped > 0)
        .filter_map(|(i, p)| {
            let router = mesh.id((i / mesh.ports_per_router) as u32);
            let port = Port::from_index(i % mesh.ports_per_router)?;
            let to = mesh.neighbour(router, port);
            let link = mesh.link(router, to);
            let busy = p.sent as f64 * f64::from(link.bandwidth.cycles)
                / f64::from(link.bandwidth.packets);
            Some(LinkStats {
                router,
                port,
                inter_chip: to.is_some_and(|n| !mesh.same_chip(router, n)),
                packets: p.sent,
                dropped: p.dropped,
                utilisation: busy / window,
            })
        })
        .collect();
    links.sort_by_key(|l| (l.router, l.port));
    NocStats {
        injected: injected as u64,
        delivered,
        deliveries,
        per_pe,
        dropped: touched_ports
            .iter()
            .filter_map(|&i| ports.get(i as usize))
            .map(|p| p.dropped)
            .sum(),
        unrouted,
        max_latency,
        mean_latency: if delivered == 0 {
            0.0
        } else {
            latency_sum as f64 / delivered as f64
        },
        links,
        makespan,
    }
}
