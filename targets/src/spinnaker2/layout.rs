//! Routing layout: key blocks for every slice and the multicast tables of every QPE router.
//!
//! Keys: each population's slices get one population-aligned block
//! (`KeyAllocator::allocate_population`), so routers that forward a whole population one way
//! compress it to one entry. Neuron `i` of a slice sends `key.base + i`.
//!
//! Trees: a slice's packets go to every PE holding a slice of a population it projects to (the
//! PE's master table then picks the synapses, or counts the packet unmatched). Routing is
//! dimension-ordered (X then Y, `Machine::route_path`) on the global QPE grid, so the tree of a
//! source at `(sx, sy)` is the row segment of `sy` spanning every destination column plus, per
//! destination column, the vertical segment from `sy` to its farthest destination. Building it
//! from per-column destination lists costs O(tree routers), not O(destinations × hops).
//!
//! Tables: one [`RouteRequest`] per tree router; each router's requests become a table with
//! default routing on (entries that only go straight through are dropped), compressed by
//! ordered covering to `chip.routing_entries` when larger. Routers are independent, so tables
//! are built in parallel (rayon) and collected in router order: the result does not depend on
//! the thread count.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::error::Spinnaker2Error;
use super::machine::{Machine, PeId, QpeCoord};
use super::network::Network;
use super::partition::{NetInfo, Partition};
use super::prefix_merge::merge_prefixes;
use super::routing::{
    build_table, compress, routes_equivalent, table_keys, KeyAllocator, KeyRange, Link, Route,
    RouteRequest, RoutingTable,
};

/// Most route requests (one per slice and tree router, 32 bytes each) layout materialises:
/// beyond it the per-slice tables would not fit the 8 GB compile budget, so layout fails early.
pub const MAX_ROUTE_REQUESTS: u64 = 100_000_000;

/// Keys above this many per table are not enumerated by the debug-build equivalence check.
const CHECK_KEY_LIMIT: usize = 1 << 18;

/// One router's table after compression.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterResult {
    /// The router's QPE slot (possibly an empty slot a route passes).
    pub qpe: QpeCoord,
    /// The table as shipped (compressed when it did not fit).
    pub table: RoutingTable,
    /// Entries a plain table would hold: one per key block through the router, before
    /// default-route removal and compression.
    pub entries_before: usize,
}

/// Keys and routing tables of a placed network.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// `keys[pop][slice]`: the key block of every slice.
    pub keys: Vec<Vec<KeyRange>>,
    /// Routers with at least one request, sorted by `(chip_y, chip_x, qpe_y, qpe_x)`.
    pub routers: Vec<RouterResult>,
    /// Longest contention-free source-to-destination latency in cycles over all trees.
    pub longest_path_cycles: u64,
    /// Longest source-to-destination path in hops.
    pub longest_path_hops: u32,
    /// Link traversals per tick if every slice sent `size × rate` packets (tree size × packets).
    pub expected_link_traversals: f64,
}

/// Allocates the key blocks of every population (network order, slices in order).
pub fn allocate_keys(
    net: &Network,
    part: &Partition,
) -> Result<Vec<Vec<KeyRange>>, Spinnaker2Error> {
    let mut alloc = KeyAllocator::new();
    (0..net.populations.len())
        .map(|pop| {
            let plan = part.plans.get(pop);
            let sizes: Vec<u64> = (0..plan.map_or(0, |p| p.slices))
                .map(|s| u64::from(part.slice_range(net, pop, s).map_or(0, |(_, c)| c)))
                .collect();
            alloc
                .allocate_population(&sizes)
                .map_err(|e| Spinnaker2Error::TooBig {
                    reason: format!(
                        "routing keys for population `{}`: {e}",
                        net.populations.get(pop).map_or("", |p| p.name.as_str())
                    ),
                })
        })
        .collect()
}

/// Global grid geometry of the machine.
#[derive(Debug, Clone, Copy)]
struct Grid {
    w: u32,
    h: u32,
    gx: u32,
    gy: u32,
}

impl Grid {
    fn new(m: &Machine) -> Grid {
        Grid {
            w: m.chip.mesh_width,
            h: m.chip.mesh_height,
            gx: m.board.chips_x * m.chip.mesh_width,
            gy: m.board.chips_y * m.chip.mesh_height,
        }
    }

    fn xy(&self, q: QpeCoord) -> (u32, u32) {
        (q.chip_x * self.w + q.qpe_x, q.chip_y * self.h + q.qpe_y)
    }

    fn qpe(&self, x: u32, y: u32) -> QpeCoord {
        QpeCoord {
            chip_x: x / self.w,
            chip_y: y / self.h,
            qpe_x: x % self.w,
            qpe_y: y % self.h,
        }
    }

    /// Router index in file order: chip row, chip column, then QPE row, QPE column.
    fn order(&self, x: u32, y: u32) -> u64 {
        let q = self.qpe(x, y);
        ((u64::from(q.chip_y) * u64::from(self.gx / self.w.max(1)) + u64::from(q.chip_x))
            * u64::from(self.h)
            + u64::from(q.qpe_y))
            * u64::from(self.w)
            + u64::from(q.qpe_x)
    }
}

/// The destination QPEs of one sending population, by column: `cols[x]` = `(y, local PEs)`
/// sorted by y.
struct Destinations {
    cols: BTreeMap<u32, Vec<(u32, Route)>>,
}

impl Destinations {
    fn new(grid: &Grid, machine: &Machine, pes: &[PeId]) -> Result<Destinations, Spinnaker2Error> {
        let mut at: BTreeMap<(u32, u32), Route> = BTreeMap::new();
        for &pe in pes {
            let c = machine
                .pe_coord(pe)
                .ok_or_else(|| Spinnaker2Error::Mapping {
                    what: "routing".into(),
                    reason: format!("{pe} is not on the machine"),
                })?;
            let local = Route::pe(c.pe).ok_or_else(|| Spinnaker2Error::Mapping {
                what: "routing".into(),
                reason: format!(
                    "{} PEs per QPE do not fit a route",
                    machine.chip.pes_per_qpe
                ),
            })?;
            let slot = at.entry(grid.xy(c.qpe())).or_insert(Route::EMPTY);
            *slot = slot.union(local);
        }
        let mut cols: BTreeMap<u32, Vec<(u32, Route)>> = BTreeMap::new();
        for ((x, y), r) in at {
            cols.entry(x).or_default().push((y, r));
        }
        Ok(Destinations { cols })
    }
}

/// The row a source's packets travel along: its own row (plain X-then-Y), except for sources
/// on the partial last QPE row of a chip whose row segment would pass the row's empty slots.
/// Those slots hold no router table in the artifact, so such trees first step one row south
/// (always a full row, in every chip alike) and travel there; a packet crossing an empty slot
/// vertically goes straight through, which default routing does without an entry.
fn trunk_row(grid: &Grid, machine: &Machine, sy: u32, lo_x: u32, hi_x: u32) -> u32 {
    let filled = machine.chip.qpes % grid.w.max(1);
    let partial = filled != 0 && grid.h >= 2 && sy % grid.h == grid.h - 1;
    if partial && sy > 0 && (lo_x..=hi_x).any(|x| x % grid.w >= filled) {
        sy - 1
    } else {
        sy
    }
}

/// Appends one tree router's request unless its route is empty.
fn push(
    out: &mut Vec<(u64, RouteRequest)>,
    grid: &Grid,
    key: KeyRange,
    (x, y): (u32, u32),
    route: Route,
    arrival: Option<Link>,
) {
    if !route.is_empty() {
        out.push((
            grid.order(x, y),
            RouteRequest {
                key: key.base,
                mask: key.mask,
                route,
                arrival,
            },
        ));
    }
}

/// Local PEs of destination column `col` at row `y`.
fn local_at(col: Option<&Vec<(u32, Route)>>, y: u32) -> Route {
    col.and_then(|c| {
        c.binary_search_by_key(&y, |(yy, _)| *yy)
            .ok()
            .and_then(|i| c.get(i))
    })
    .map_or(Route::EMPTY, |(_, r)| *r)
}

/// Requests of a vertical segment in column `x` from row `from` (exclusive, where the packet
/// already is) to row `far` (inclusive); returns its links.
fn vertical(
    out: &mut Vec<(u64, RouteRequest)>,
    grid: &Grid,
    key: KeyRange,
    x: u32,
    (from, far): (u32, u32),
    col: Option<&Vec<(u32, Route)>>,
) -> u64 {
    let north = far > from;
    let (step, arrival) = if north {
        (Link::North, Link::South)
    } else {
        (Link::South, Link::North)
    };
    let mut y = from;
    let mut links = 0;
    while y != far {
        y = if north { y + 1 } else { y - 1 };
        links += 1;
        let mut route = local_at(col, y);
        if y != far {
            route = route.union(Route::link(step));
        }
        push(out, grid, key, (x, y), route, Some(arrival));
    }
    links
}

/// Requests of the tree from a source at `(sx, sy)` with key block `key`, appended to `out` as
/// `(router order, request)`; returns (tree links, longest path in hops, longest latency).
///
/// Shape: when the trunk row differs from the source row ([`trunk_row`]), the source's column
/// north to its northernmost destination and one step south; then the trunk row across every
/// destination column, and in each destination column the vertical segments from the trunk to
/// its farthest destinations north and south. Without a detour this is exactly the union of
/// the X-then-Y paths (`Machine::route_path`).
fn tree(
    grid: &Grid,
    machine: &Machine,
    dest: &Destinations,
    (sx, sy): (u32, u32),
    key: KeyRange,
    out: &mut Vec<(u64, RouteRequest)>,
) -> (u64, u32, u64) {
    let (Some(&min_x), Some(&max_x)) = (dest.cols.keys().next(), dest.cols.keys().next_back())
    else {
        return (0, 0, 0);
    };
    let lo_x = min_x.min(sx);
    let hi_x = max_x.max(sx);
    let t = trunk_row(grid, machine, sy, lo_x, hi_x);
    let detour = t != sy;
    let mut links = 0u64;
    let src_col = dest.cols.get(&sx);
    let src_north = src_col
        .and_then(|c| c.last())
        .map(|(y, _)| *y)
        .filter(|&y| y > sy);
    if detour {
        let mut route = local_at(src_col, sy).union(Route::link(Link::South));
        if src_north.is_some() {
            route = route.union(Route::link(Link::North));
        }
        push(out, grid, key, (sx, sy), route, None);
        if let Some(far) = src_north {
            links += vertical(out, grid, key, sx, (sy, far), src_col);
        }
        links += 1;
    }
    for x in lo_x..=hi_x {
        let col = dest.cols.get(&x);
        // In the source column of a detour, the source router already serves rows >= sy.
        let north = col
            .and_then(|c| c.last())
            .map(|(y, _)| *y)
            .filter(|&y| y > t && !(detour && x == sx));
        let south = col
            .and_then(|c| c.first())
            .map(|(y, _)| *y)
            .filter(|&y| y < t);
        let mut route = local_at(col, t);
        if x >= sx && x < hi_x {
            route = route.union(Route::link(Link::East));
        }
        if x <= sx && x > lo_x {
            route = route.union(Route::link(Link::West));
        }
        if north.is_some() {
            route = route.union(Route::link(Link::North));
        }
        if south.is_some() {
            route = route.union(Route::link(Link::South));
        }
        let arrival = match x.cmp(&sx) {
            std::cmp::Ordering::Equal if detour => Some(Link::North),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(Link::West),
            std::cmp::Ordering::Less => Some(Link::East),
        };
        push(out, grid, key, (x, t), route, arrival);
        if x != sx {
            links += 1;
        }
        for far in [north, south].into_iter().flatten() {
            links += vertical(out, grid, key, x, (t, far), col);
        }
    }
    // Path lengths: straight legs source -> trunk corner -> column -> destination.
    let src = grid.qpe(sx, sy);
    let corner = grid.qpe(sx, t);
    let mut longest_hops = 0u32;
    let mut longest_cycles = 0u64;
    for (&x, col) in &dest.cols {
        for &(y, _) in col {
            let to = grid.qpe(x, y);
            let legs = if detour && !(x == sx && y >= sy) {
                let turn = grid.qpe(x, t);
                vec![(src, corner), (corner, turn), (turn, to)]
            } else {
                vec![(src, to)]
            };
            let (mut hops, mut cycles) = (0u32, 0u64);
            for (a, b) in legs {
                let h = machine.qpe_hops(a, b);
                hops += h.total();
                cycles += machine.hop_latency_cycles(h);
            }
            longest_hops = longest_hops.max(hops);
            longest_cycles = longest_cycles.max(cycles);
        }
    }
    (links, longest_hops, longest_cycles)
}

/// Builds the keys and every router's table (see the module docs).
pub fn layout(
    net: &Network,
    info: &NetInfo,
    part: &Partition,
    pes: &[Vec<PeId>],
    machine: &Machine,
) -> Result<Layout, Spinnaker2Error> {
    layout_limited(net, info, part, pes, machine, MAX_ROUTE_REQUESTS)
}

/// [`layout`] with a given bound on route requests (tests use a small one).
fn layout_limited(
    net: &Network,
    info: &NetInfo,
    part: &Partition,
    pes: &[Vec<PeId>],
    machine: &Machine,
    max_requests: u64,
) -> Result<Layout, Spinnaker2Error> {
    let keys = allocate_keys(net, part)?;
    let grid = Grid::new(machine);
    let mut requests: Vec<(u64, RouteRequest)> = Vec::new();
    let mut longest_path_cycles = 0;
    let mut longest_path_hops = 0;
    let mut traversals = 0.0;
    let mut budget = 0u64;
    for (pop, out) in info.outgoing.iter().enumerate() {
        let mut targets: Vec<usize> = out
            .iter()
            .filter_map(|&j| net.projections.get(j).map(|p| p.post))
            .collect();
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            continue;
        }
        let dest_pes: Vec<PeId> = targets
            .iter()
            .flat_map(|&t| pes.get(t).into_iter().flatten().copied())
            .collect();
        let dest = Destinations::new(&grid, machine, &dest_pes)?;
        // Bound the requests before making them: a tree holds at most a grid row, one step of
        // detour and a whole grid column per destination column.
        let per_tree = u64::from(grid.gx) + 1 + dest.cols.len() as u64 * u64::from(grid.gy);
        let trees = pes.get(pop).map_or(0, |v| v.len() as u64);
        budget = budget.saturating_add(per_tree.saturating_mul(trees));
        if budget > max_requests {
            return Err(Spinnaker2Error::TooBig {
                reason: format!(
                    "routing needs up to {budget} per-slice route requests (more than \
                     {max_requests}): {trees} slices of population `{}` each multicast to \
                     {} PEs; per-population routing is not implemented",
                    net.populations.get(pop).map_or("", |p| p.name.as_str()),
                    dest_pes.len()
                ),
            });
        }
        let rate = info.rate.get(pop).copied().unwrap_or(1.0);
        for (s, (&pe, &key)) in pes
            .get(pop)
            .into_iter()
            .flatten()
            .zip(keys.get(pop).into_iter().flatten())
            .enumerate()
        {
            let c = machine
                .pe_coord(pe)
                .ok_or_else(|| Spinnaker2Error::Mapping {
                    what: "routing".into(),
                    reason: format!("{pe} is not on the machine"),
                })?;
            let (links, hops, cycles) =
                tree(&grid, machine, &dest, grid.xy(c.qpe()), key, &mut requests);
            longest_path_hops = longest_path_hops.max(hops);
            longest_path_cycles = longest_path_cycles.max(cycles);
            let n = part.slice_range(net, pop, s as u32).map_or(0, |(_, n)| n);
            traversals += links as f64 * f64::from(n) * rate;
        }
    }
    requests.sort_by_key(|(r, _)| *r);
    let mut groups: Vec<(u64, &[(u64, RouteRequest)])> = Vec::new();
    let mut start = 0;
    while start < requests.len() {
        let r = requests[start].0;
        let end = start + requests[start..].partition_point(|(x, _)| *x == r);
        groups.push((r, &requests[start..end]));
        start = end;
    }
    let limit = machine.chip.routing_entries as usize;
    let w = u64::from(grid.w.max(1));
    let h = u64::from(grid.h.max(1));
    let chips_x = u64::from(machine.board.chips_x.max(1));
    let routers = groups
        .par_iter()
        .map(|&(order, reqs)| {
            let qpe_x = (order % w) as u32;
            let qpe_y = ((order / w) % h) as u32;
            let chip = order / (w * h);
            let qpe = QpeCoord {
                chip_x: (chip % chips_x) as u32,
                chip_y: (chip / chips_x) as u32,
                qpe_x,
                qpe_y,
            };
            router_table(qpe, reqs, limit)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Layout {
        keys,
        routers,
        longest_path_cycles,
        longest_path_hops,
        expected_link_traversals: traversals,
    })
}

/// Name of a router in errors.
pub fn router_name(q: QpeCoord) -> String {
    format!(
        "chip ({}, {}) QPE ({}, {})",
        q.chip_x, q.chip_y, q.qpe_x, q.qpe_y
    )
}

/// Builds and compresses one router's table.
fn router_table(
    qpe: QpeCoord,
    reqs: &[(u64, RouteRequest)],
    limit: usize,
) -> Result<RouterResult, Spinnaker2Error> {
    let list: Vec<RouteRequest> = reqs.iter().map(|(_, r)| *r).collect();
    let err = |reason: String| Spinnaker2Error::RoutingTable {
        router: router_name(qpe),
        reason,
    };
    let original = build_table(&list, true).map_err(|e| err(e.to_string()))?;
    let merged = merge_prefixes(&original);
    let table = compress(&merged, limit).map_err(|e| err(e.to_string()))?;
    if cfg!(debug_assertions) && table != original {
        if let Some(keys) = table_keys(&original, CHECK_KEY_LIMIT) {
            routes_equivalent(&original, &table, &keys)
                .map_err(|e| err(format!("compression changed a route: {e}")))?;
        }
    }
    Ok(RouterResult {
        qpe,
        entries_before: original.len() + original.defaulted.len(),
        table,
    })
}

/// Follows a packet with `key` from the router of `from` through the tables (hop by hop,
/// default routing for routers without a match or without a table) and returns the PEs it is
/// delivered to, sorted, or `None` if it loops, leaves the grid or is dropped mid-way. The
/// oracle of the layout tests; the emulator's NoC does the same with timing.
pub fn deliver(layout: &Layout, machine: &Machine, from: PeId, key: u32) -> Option<Vec<PeId>> {
    let grid = Grid::new(machine);
    let tables: BTreeMap<(u32, u32), &RoutingTable> = layout
        .routers
        .iter()
        .map(|r| (grid.xy(r.qpe), &r.table))
        .collect();
    let start = machine.pe_coord(from)?;
    let mut queue = vec![(grid.xy(start.qpe()), None::<Link>)];
    let mut delivered = Vec::new();
    let mut visits = 0usize;
    let empty = RoutingTable {
        default_routing: true,
        ..RoutingTable::default()
    };
    while let Some(((x, y), arrival)) = queue.pop() {
        visits += 1;
        if visits > (grid.gx as usize + 1) * (grid.gy as usize + 1) * 4 {
            return None;
        }
        let table = tables.get(&(x, y)).copied().unwrap_or(&empty);
        let route = table.route_of(key, arrival)?;
        let q = grid.qpe(x, y);
        for pe in route.pes() {
            let c = super::machine::PeCoord {
                chip_x: q.chip_x,
                chip_y: q.chip_y,
                qpe_x: q.qpe_x,
                qpe_y: q.qpe_y,
                pe,
            };
            delivered.push(machine.pe_id(c)?);
        }
        for link in route.links() {
            let next = match link {
                Link::East if x + 1 < grid.gx => (x + 1, y),
                Link::West if x > 0 => (x - 1, y),
                Link::North if y + 1 < grid.gy => (x, y + 1),
                Link::South if y > 0 => (x, y - 1),
                _ => return None,
            };
            queue.push((next, Some(link.opposite())));
        }
    }
    delivered.sort_unstable();
    Some(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::partition::{analyse, partition};
    use crate::spinnaker2::place::place;
    use crate::spinnaker2::synthetic;

    fn mapped(net: &Network, m: &Machine) -> (NetInfo, Partition, Vec<Vec<PeId>>, Layout) {
        let Ok(s) = net.schedule() else {
            panic!("schedule")
        };
        let Ok(info) = analyse(net, &s, 0.1) else {
            panic!("analyse")
        };
        let Ok(p) = partition(net, &info, m, 0.1) else {
            panic!("partition")
        };
        let Ok(pl) = place(net, &info, &p, &s.depth, m) else {
            panic!("place")
        };
        let l = layout(net, &info, &p, &pl.pes, m);
        let Ok(l) = l else { panic!("{:?}", l.err()) };
        (info, p, pl.pes, l)
    }

    #[test]
    fn every_key_reaches_exactly_its_destinations() {
        for m in [Machine::tiny(2, 2), Machine::spinnaker2_default()] {
            let net = synthetic::layered(&[40, 300, 60, 20], 4, true);
            let (info, part, pes, l) = mapped(&net, &m);
            assert!(!l.routers.is_empty());
            for (pop, out) in info.outgoing.iter().enumerate() {
                if out.is_empty() {
                    continue;
                }
                let mut want: Vec<PeId> = out
                    .iter()
                    .map(|&j| net.projections[j].post)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .flat_map(|t| pes[t].iter().copied())
                    .collect();
                want.sort_unstable();
                for (s, &pe) in pes[pop].iter().enumerate() {
                    let key = l.keys[pop][s];
                    let n = part.slice_range(&net, pop, s as u32).map_or(0, |r| r.1);
                    for i in [0, n - 1] {
                        let got = deliver(&l, &m, pe, key.base + i);
                        assert_eq!(got.as_ref(), Some(&want), "pop {pop} slice {s} neuron {i}");
                    }
                }
            }
            // The output population sends nothing, so no tree carries its keys (merged entries
            // may cover them: keys that never travel are don't-cares).
            let out = net.output.population;
            assert!(info.outgoing[out].is_empty());
            assert!(l.longest_path_hops >= 1);
            assert!(l.longest_path_cycles >= 2);
        }
    }

    #[test]
    fn partial_mesh_rows_need_no_tables_in_empty_slots() {
        // 3 x 2 mesh with 5 QPEs: slot (2, 1) of every chip is empty.
        let mut m = Machine::tiny(2, 2);
        m.chip.mesh_width = 3;
        m.chip.qpes = 5;
        assert!(m.validate("test").is_ok());
        let net = synthetic::layered(&[40, 300, 60, 20], 4, true);
        let (info, part, pes, l) = mapped(&net, &m);
        assert!(part.total_slices() > 20, "{}", part.total_slices());
        // Some sender sits on a partial row, so some tree takes the detour.
        let on_partial_row = info.outgoing.iter().enumerate().any(|(pop, out)| {
            !out.is_empty()
                && pes[pop]
                    .iter()
                    .any(|&pe| m.pe_coord(pe).is_some_and(|c| c.qpe_y == 1))
        });
        assert!(on_partial_row);
        for r in &l.routers {
            if m.qpe_index(r.qpe).is_none() {
                assert!(r.table.is_empty(), "entries at empty slot {:?}", r.qpe);
            }
        }
        for (pop, out) in info.outgoing.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            let mut want: Vec<PeId> = out
                .iter()
                .map(|&j| net.projections[j].post)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .flat_map(|t| pes[t].iter().copied())
                .collect();
            want.sort_unstable();
            for (s, &pe) in pes[pop].iter().enumerate() {
                let got = deliver(&l, &m, pe, l.keys[pop][s].base);
                assert_eq!(got.as_ref(), Some(&want), "pop {pop} slice {s} on {pe}");
            }
        }
    }

    #[test]
    fn request_budget_fails_early_with_numbers() {
        let net = synthetic::layered(&[40, 300, 60, 20], 4, true);
        let m = Machine::tiny(2, 2);
        let Ok(s) = net.schedule() else { panic!() };
        let Ok(info) = analyse(&net, &s, 0.1) else {
            panic!()
        };
        let Ok(p) = partition(&net, &info, &m, 0.1) else {
            panic!()
        };
        let Ok(pl) = place(&net, &info, &p, &s.depth, &m) else {
            panic!()
        };
        assert!(layout_limited(&net, &info, &p, &pl.pes, &m, 100_000).is_ok());
        let e = layout_limited(&net, &info, &p, &pl.pes, &m, 50)
            .err()
            .map(|e| e.to_string());
        let msg = e.unwrap_or_default();
        assert!(
            msg.contains("per-slice route requests (more than 50)"),
            "{msg}"
        );
        assert!(msg.contains("slices of population `lif1`"), "{msg}");
    }

    #[test]
    fn routers_are_sorted_and_within_limit() {
        let m = Machine::tiny(2, 2);
        let net = synthetic::layered(&[40, 300, 60, 20], 4, true);
        let (_, _, _, l) = mapped(&net, &m);
        let order: Vec<_> = l
            .routers
            .iter()
            .map(|r| (r.qpe.chip_y, r.qpe.chip_x, r.qpe.qpe_y, r.qpe.qpe_x))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted);
        assert!(l
            .routers
            .iter()
            .all(|r| r.table.len() <= m.chip.routing_entries as usize));
    }

    #[test]
    fn tables_are_compressed_or_rejected() {
        let net = synthetic::layered(&[40, 300, 60, 20], 4, true);
        let mut m = Machine::tiny(2, 2);
        let (_, _, _, full) = mapped(&net, &m);
        let max_before = full
            .routers
            .iter()
            .map(|r| r.entries_before)
            .max()
            .unwrap_or(0);
        assert!(max_before > 4, "{max_before}");
        // A limit a little below the largest table: compression makes it fit and keeps routes.
        m.chip.routing_entries = (max_before - 1) as u32;
        let (info, part, pes, l) = mapped(&net, &m);
        assert!(l.routers.iter().all(|r| r.table.len() < max_before));
        assert!(l.routers.iter().any(|r| r.table.len() < r.entries_before));
        for (pop, out) in info.outgoing.iter().enumerate() {
            if out.is_empty() {
                continue;
            }
            let a = deliver(&full, &m, pes[pop][0], l.keys[pop][0].base);
            let b = deliver(&l, &m, pes[pop][0], l.keys[pop][0].base);
            assert_eq!(a, b);
        }
        let _ = part;
        // One entry per router cannot hold several populations' distinct routes.
        m.chip.routing_entries = 1;
        let Ok(s) = net.schedule() else { panic!() };
        let Ok(info) = analyse(&net, &s, 0.1) else {
            panic!()
        };
        let Ok(p) = partition(&net, &info, &m, 0.1) else {
            panic!()
        };
        let Ok(pl) = place(&net, &info, &p, &s.depth, &m) else {
            panic!()
        };
        let e = layout(&net, &info, &p, &pl.pes, &m)
            .err()
            .map(|e| e.to_string());
        let msg = e.unwrap_or_default();
        assert!(msg.contains("does not fit"), "{msg}");
        assert!(msg.contains("the router holds 1"), "{msg}");
    }
}
