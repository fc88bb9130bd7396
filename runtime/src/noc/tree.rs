//! Multicast trees resolved ahead of time, and the simulation loop that follows them.
//!
//! Why: a router's decision depends only on the packet's key and the port it came in on, never
//! on time, so the tree a key's copies follow is fixed once the tables are. The emulator sends
//! the same keys tick after tick; looking their ports up in the tables (a ternary match per
//! router visit) and turning port numbers into links each time was most of the NoC model's
//! cost. A [`TreeSet`] holds each distinct tree once (keys of one source slice usually share
//! theirs) as router visits with their output ports already resolved to links, and
//! [`Simulator::run_trees`] replays exactly the event sequence [`Simulator::run_counting`]
//! produces for the same packets (same queue discipline, same port order, same errors), only
//! without the lookups: the timing rules are those of [`crate::noc`].

use std::collections::HashMap;

use super::error::NocError;
use super::packet::PeId;
use super::params::NocParams;
use super::port::Port;
use super::route::Router;
use super::sim::{CountedRun, Mesh, Simulator, Wire};

/// What an output port of a router visit leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum HopKind {
    /// A mesh link to the visit `next`.
    Router,
    /// The link to a local PE.
    Pe,
    /// A port the router does not have (off the grid, or past its last PE): an error when a
    /// copy is routed there, as in the table-driven loop.
    Invalid,
    /// A mesh link a copy would cross beyond the hop limit: an error once a copy is admitted.
    HopLimit,
}

/// One output port of a router visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Hop {
    kind: HopKind,
    /// The port's index in the simulator's port array (router · ports per router + port);
    /// for [`HopKind::Invalid`] the raw port number the router chose.
    port: u32,
    /// Link class: 0 local, 1 on-chip mesh, 2 chip-to-chip.
    link: u8,
    /// Next visit (relative to the tree's root) for [`HopKind::Router`].
    next: u32,
}

/// One router visit: the router and its hops (`first..first + count` in [`TreeSet::hops`]);
/// no hops means the router had no route (the copy is counted unrouted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Visit {
    router: u32,
    first: u32,
    count: u32,
}

/// Largest number of router visits one tree may have: a bound on what a table set with a
/// multicast loop can make the builder expand (the hop limit bounds depth, not breadth).
const MAX_VISITS: usize = 1 << 20;

/// Distinct multicast trees, each stored once.
#[derive(Clone, Debug, Default)]
pub struct TreeSet {
    visits: Vec<Visit>,
    hops: Vec<Hop>,
    /// A tree's shape (relative indices) → its root, to store each shape once.
    seen: HashMap<TreeShape, u32>,
}

/// A packet for [`Simulator::run_trees`]: its tree's root (from [`TreeSet::add`]), its key
/// (for error messages) and its injection cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreePacket {
    pub root: u32,
    pub key: u32,
    pub inject_cycle: u64,
}

/// A copy arriving at a router visit; the cycle is the event queue's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TreeArrival {
    inject: u64,
    packet: u32,
    visit: u32,
}

impl TreeSet {
    /// An empty set.
    pub fn new() -> TreeSet {
        TreeSet::default()
    }

    /// Number of distinct trees stored.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no tree is stored.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Resolves the tree of `key` sent by `source` through `router` on the mesh of `params`
    /// and returns its root for [`TreePacket::root`] (see [`TreeShape::resolve`] for errors).
    pub fn add<R: Router + ?Sized>(
        &mut self,
        params: &NocParams,
        router: &R,
        source: PeId,
        key: u32,
    ) -> Result<u32, NocError> {
        Ok(self.insert(TreeShape::resolve(params, router, source, key)?))
    }

    /// Stores `shape` (once: an equal shape stored before gives its root) and returns its root.
    pub fn insert(&mut self, shape: TreeShape) -> u32 {
        if let Some(&root) = self.seen.get(&shape) {
            return root;
        }
        let root = self.visits.len() as u32;
        let hop0 = self.hops.len() as u32;
        self.visits.extend(shape.visits.iter().map(|v| Visit {
            first: v.first + hop0,
            ..*v
        }));
        self.hops.extend(shape.hops.iter().map(|h| Hop {
            next: if h.kind == HopKind::Router {
                h.next + root
            } else {
                0
            },
            ..*h
        }));
        self.seen.insert(shape, root);
        root
    }
}

/// One key's tree, resolved but not yet stored: shapes can be resolved in parallel and
/// stored in a fixed order, so the set does not depend on threads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TreeShape {
    visits: Vec<Visit>,
    hops: Vec<Hop>,
}

impl TreeShape {
    /// Resolves the tree of `key` sent by `source` through `router` on the mesh of `params`.
    /// Errors: invalid parameters, a source off the mesh (as [`NocError::BadSource`] with
    /// packet 0), or a tree larger than the builder expands (reported as the hop limit: only a
    /// routing loop makes one).
    pub fn resolve<R: Router + ?Sized>(
        params: &NocParams,
        router: &R,
        source: PeId,
        key: u32,
    ) -> Result<TreeShape, NocError> {
        params.validate()?;
        let mesh = Mesh::new(params);
        let s = source.router;
        if s.x >= mesh.width
            || s.y >= mesh.height
            || usize::from(source.pe) >= params.pes_per_router
        {
            return Err(NocError::BadSource {
                packet: 0,
                router: s,
                pe: source.pe,
                width: mesh.width,
                height: mesh.height,
                pes: params.pes_per_router,
            });
        }
        let ppr = mesh.ports_per_router;
        let mut visits = vec![Visit {
            router: mesh.index(s),
            first: 0,
            count: 0,
        }];
        let mut hops: Vec<Hop> = Vec::new();
        let mut stack: Vec<(usize, Port, u32)> = vec![(0, Port::Local(source.pe), 0)];
        while let Some((vi, in_port, depth)) = stack.pop() {
            let Some(r) = visits.get(vi).map(|v| v.router) else {
                continue;
            };
            let here = mesh.id(r);
            let outs = router.route(here, key, in_port);
            let first = hops.len();
            let base = r as usize * ppr;
            for idx in outs.indices() {
                let wire = (idx < ppr).then(|| mesh.wire(here, idx));
                let hop = match wire {
                    Some(Wire::Pe(_)) => Hop {
                        kind: HopKind::Pe,
                        port: (base + idx) as u32,
                        link: 0,
                        next: 0,
                    },
                    Some(Wire::Router { to, in_port }) => {
                        let link = if mesh.same_chip(here, mesh.id(to)) {
                            1
                        } else {
                            2
                        };
                        if depth + 1 > params.max_hops {
                            Hop {
                                kind: HopKind::HopLimit,
                                port: (base + idx) as u32,
                                link,
                                next: 0,
                            }
                        } else {
                            if visits.len() >= MAX_VISITS {
                                return Err(NocError::HopLimit {
                                    packet: 0,
                                    key,
                                    router: here,
                                    max_hops: params.max_hops,
                                });
                            }
                            let next = visits.len();
                            visits.push(Visit {
                                router: to,
                                first: 0,
                                count: 0,
                            });
                            stack.push((next, in_port, depth + 1));
                            Hop {
                                kind: HopKind::Router,
                                port: (base + idx) as u32,
                                link,
                                next: next as u32,
                            }
                        }
                    }
                    Some(Wire::Off) | None => Hop {
                        kind: HopKind::Invalid,
                        port: idx as u32,
                        link: 0,
                        next: 0,
                    },
                };
                hops.push(hop);
            }
            if let Some(v) = visits.get_mut(vi) {
                v.first = first as u32;
                v.count = (hops.len() - first) as u32;
            }
        }
        Ok(TreeShape { visits, hops })
    }
}

impl Simulator<'_> {
    /// Simulates `packets` along their trees from an idle network and counts deliveries as
    /// [`Simulator::run_counting`] does: the result equals that of `run_counting` on the same
    /// packets (with the router the trees were built from). Errors as `run_counting`'s, plus a
    /// root that is not one of `trees`' (as [`NocError::InvalidParam`]).
    pub fn run_trees(
        &mut self,
        packets: &[TreePacket],
        trees: &TreeSet,
        late_after: u64,
    ) -> Result<CountedRun, NocError> {
        let count =
            u32::try_from(packets.len()).map_err(|_| NocError::TooManyPackets(packets.len()))?;
        if let Some(p) = packets
            .iter()
            .find(|p| p.root as usize >= trees.visits.len())
        {
            return Err(NocError::InvalidParam {
                name: "root",
                reason: format!("no tree {} in the set", p.root),
            });
        }
        let mut order = std::mem::take(&mut self.tree_order);
        order.clear();
        order.extend(
            packets
                .iter()
                .zip(0..count)
                .map(|(p, i)| (p.inject_cycle, i, p.root)),
        );
        order.sort_unstable_by_key(|&(cycle, i, _)| (cycle, i));
        let result = self.replay(packets, trees, &order, late_after);
        self.tree_order = order;
        result
    }

    /// The event loop of [`Simulator::run_trees`] over injections sorted by `(cycle, index)`.
    fn replay(
        &mut self,
        packets: &[TreePacket],
        trees: &TreeSet,
        order: &[(u64, u32, u32)],
        late_after: u64,
    ) -> Result<CountedRun, NocError> {
        self.reset();
        let params = self.mesh.params;
        let links = [&params.local_link, &params.mesh_link, &params.chip_link];
        let ppr = self.mesh.ports_per_router;
        let mut per_packet = vec![0u32; packets.len()];
        let (mut late, mut delivered, mut unrouted) = (0u64, 0u64, 0u64);
        let mut latency_sum = 0u128;
        let (mut max_latency, mut makespan) = (0u64, 0u64);
        let mut cursor = 0usize;
        let queue = &mut self.tree_queue;
        let ports = &mut self.ports;
        let touched = &mut self.touched_ports;
        loop {
            let next = order.get(cursor);
            let limit = next.map_or(u64::MAX, |j| j.0);
            let (cycle, ev) = if let Some(e) = queue.pop_before(limit) {
                e
            } else if let Some(&(inject, packet, visit)) = next {
                cursor += 1;
                let ev = TreeArrival {
                    inject,
                    packet,
                    visit,
                };
                (inject, ev)
            } else {
                break;
            };
            let Some(visit) = trees.visits.get(ev.visit as usize) else {
                continue;
            };
            if visit.count == 0 {
                unrouted += 1;
                continue;
            }
            let ready = cycle.saturating_add(params.router_latency);
            let first = visit.first as usize;
            let hops = trees
                .hops
                .get(first..first + visit.count as usize)
                .unwrap_or(&[]);
            for hop in hops {
                let key = || packets.get(ev.packet as usize).map_or(0, |p| p.key);
                let here = || self.mesh.id(visit.router);
                if hop.kind == HopKind::Invalid {
                    return Err(NocError::InvalidRoute {
                        packet: ev.packet as usize,
                        key: key(),
                        router: here(),
                        port: (hop.port as usize)
                            .lt(&ppr)
                            .then(|| Port::from_index(hop.port as usize))
                            .flatten(),
                    });
                }
                let Some(out) = ports.get_mut(hop.port as usize) else {
                    continue;
                };
                if out.sent == 0 && out.dropped == 0 {
                    touched.push(hop.port);
                }
                let link = links[usize::from(hop.link).min(2)];
                let Some(start) = out.admit(ready, link, params.wait_timeout) else {
                    continue;
                };
                let arrive = start.saturating_add(link.latency);
                match hop.kind {
                    HopKind::Router => queue.push(
                        arrive,
                        TreeArrival {
                            visit: hop.next,
                            ..ev
                        },
                    ),
                    HopKind::Pe => {
                        let latency = arrive.saturating_sub(ev.inject);
                        latency_sum += u128::from(latency);
                        max_latency = max_latency.max(latency);
                        makespan = makespan.max(arrive);
                        delivered += 1;
                        if let Some(c) = per_packet.get_mut(ev.packet as usize) {
                            *c += 1;
                        }
                        late += u64::from(arrive > late_after);
                    }
                    HopKind::HopLimit => {
                        return Err(NocError::HopLimit {
                            packet: ev.packet as usize,
                            key: key(),
                            router: here(),
                            max_hops: params.max_hops,
                        })
                    }
                    HopKind::Invalid => {}
                }
            }
        }
        let stats = self.counted_stats(
            packets.len(),
            delivered,
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
