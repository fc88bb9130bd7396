//! The artifact's multicast routing tables as a [`crate::noc::Router`], on the global QPE grid.
//!
//! Router `(gx, gy)` of the NoC simulator is QPE router `(chip_x, chip_y, qpe_x, qpe_y)` with
//! `gx = chip_x · mesh_width + qpe_x`, `gy = chip_y · mesh_height + qpe_y`; local port `p` is the
//! QPE's PE `p`. A table entry's links map to mesh ports East → `gx + 1`, West → `gx − 1`,
//! North → `gy + 1`, South → `gy − 1` (the spec's convention, equal to the simulator's). Both
//! the timed NoC and the untimed fan-out walk use this one router, so a key that a table misses
//! is lost in either mode, as on hardware.

use super::error::EmuError;
use crate::noc::{Direction, Port, PortSet, Router, RouterId};
use snnc_targets::spinnaker2::artifact::RoutingFile;
use snnc_targets::spinnaker2::machine::Machine;

/// One router's table, entries in match order as three parallel arrays (keys, masks, outputs)
/// so the first-match search compares eight entries per step without branching (the NoC
/// simulation looks up every packet at every router it crosses). Routers the routing file does
/// not list have no entries and route by default (straight through), which is what the table
/// builder relies on when it leaves out routers whose every route is straight through.
#[derive(Clone, Debug)]
struct Table {
    default_routing: bool,
    keys: Vec<u32>,
    masks: Vec<u32>,
    ports: Vec<PortSet>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            default_routing: true,
            keys: Vec::new(),
            masks: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// Entries compared per step of [`Table::first_match`].
const LANES: usize = 8;

impl Table {
    /// Index of the first entry with `key & mask == entry key`.
    #[inline]
    fn first_match(&self, key: u32) -> Option<usize> {
        let keys = self.keys.chunks_exact(LANES);
        let masks = self.masks.chunks_exact(LANES);
        let (tail_keys, tail_masks) = (keys.remainder(), masks.remainder());
        for (c, (k, m)) in keys.zip(masks).enumerate() {
            let mut hit = 0u32;
            for j in 0..LANES {
                hit |= u32::from(key & m[j] == k[j]) << j;
            }
            if hit != 0 {
                return Some(c * LANES + hit.trailing_zeros() as usize);
            }
        }
        let base = self.keys.len() - tail_keys.len();
        tail_keys
            .iter()
            .zip(tail_masks)
            .position(|(&k, &m)| key & m == k)
            .map(|j| base + j)
    }
}

/// All tables of the board, indexed by `gy · width + gx`.
#[derive(Clone, Debug)]
pub(crate) struct TableRouter {
    width: u32,
    height: u32,
    /// One per grid position. An empty QPE slot of a chip's partial last row is a plain router
    /// position with no table (docs/spinnaker2.md, "Hop model"): it passes packets straight
    /// through, which the compiler's trees rely on when they cross such a row vertically.
    tables: Vec<Table>,
}

/// The mesh direction of a routing-file link index, `None` for the diagonal chip links the square
/// mesh model does not have.
fn link_direction(link: u32) -> Option<Direction> {
    match link {
        0 => Some(Direction::East),
        2 => Some(Direction::North),
        3 => Some(Direction::West),
        5 => Some(Direction::South),
        _ => None,
    }
}

impl TableRouter {
    /// Builds the tables of `routing` for `machine`. Errors: a router off the board, at an
    /// empty QPE slot or listed twice, a diagonal or unknown link, a link off the edge of the
    /// board or into an empty slot, a PE index past the QPE's PEs.
    pub(crate) fn new(routing: &RoutingFile, machine: &Machine) -> Result<TableRouter, EmuError> {
        let width = machine
            .chip
            .mesh_width
            .saturating_mul(machine.board.chips_x);
        let height = machine
            .chip
            .mesh_height
            .saturating_mul(machine.board.chips_y);
        let count = (width as usize).saturating_mul(height as usize);
        let mut tables = vec![Table::default(); count];
        let mut listed = vec![false; count];
        for r in &routing.routers {
            let what = || {
                format!(
                    "routing.json router chip ({}, {}) qpe ({}, {})",
                    r.chip_x, r.chip_y, r.qpe_x, r.qpe_y
                )
            };
            if machine.qpe_index(r.qpe()).is_none() {
                return Err(EmuError::artifact(what(), "no such QPE on the machine"));
            }
            let gx = r.chip_x * machine.chip.mesh_width + r.qpe_x;
            let gy = r.chip_y * machine.chip.mesh_height + r.qpe_y;
            let index = gy as usize * width as usize + gx as usize;
            let (Some(table), Some(seen)) = (tables.get_mut(index), listed.get_mut(index)) else {
                return Err(EmuError::artifact(what(), "outside the board"));
            };
            if *seen {
                return Err(EmuError::artifact(what(), "listed twice"));
            }
            *seen = true;
            table.default_routing = r.default_routing;
            for (i, e) in r.entries.iter().enumerate() {
                let bad = |reason: String| EmuError::Route {
                    x: gx,
                    y: gy,
                    entry: i,
                    reason,
                };
                let mut ports = PortSet::EMPTY;
                for &l in &e.links {
                    let d = link_direction(l).ok_or_else(|| {
                        bad(format!(
                            "link {l} is not one of the square mesh's links (0 E, 2 N, 3 W, 5 S)"
                        ))
                    })?;
                    let (dx, dy) = d.delta();
                    let nx = i64::from(gx) + dx;
                    let ny = i64::from(gy) + dy;
                    if nx < 0 || ny < 0 || nx >= i64::from(width) || ny >= i64::from(height) {
                        return Err(bad(format!("link {d:?} leads off the board")));
                    }
                    ports = ports.with(Port::Mesh(d));
                }
                for &p in &e.pes {
                    if p >= machine.chip.pes_per_qpe {
                        return Err(bad(format!(
                            "local PE {p} but a QPE has {} PEs",
                            machine.chip.pes_per_qpe
                        )));
                    }
                    let p = u8::try_from(p).map_err(|_| bad(format!("local PE {p}")))?;
                    ports = ports.with(Port::Local(p));
                }
                table.keys.push(e.key);
                table.masks.push(e.mask);
                table.ports.push(ports);
            }
        }
        Ok(TableRouter {
            width,
            height,
            tables,
        })
    }

    /// Mesh width in routers (all chips).
    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    /// Mesh height in routers (all chips).
    pub(crate) fn height(&self) -> u32 {
        self.height
    }

    /// Whether `router` has a neighbouring router through `d` (on the board, not an empty
    /// QPE slot).
    fn has_neighbour(&self, router: RouterId, d: Direction) -> bool {
        match d {
            Direction::East => router.x + 1 < self.width,
            Direction::West => router.x > 0,
            Direction::North => router.y + 1 < self.height,
            Direction::South => router.y > 0,
        }
    }
}

impl Router for TableRouter {
    /// First matching entry wins; no match: a packet that came in on a link leaves through the
    /// opposite link if the router routes by default (and that link exists), anything else is
    /// consumed (the simulator counts it as unrouted, the emulator as dropped).
    #[inline]
    fn route(&self, router: RouterId, key: u32, in_port: Port) -> PortSet {
        let index = router.y as usize * self.width as usize + router.x as usize;
        let Some(table) = self.tables.get(index) else {
            return PortSet::EMPTY;
        };
        if let Some(ports) = table.first_match(key).and_then(|i| table.ports.get(i)) {
            return *ports;
        }
        match in_port {
            Port::Mesh(from) if table.default_routing => {
                let out = from.opposite();
                if self.has_neighbour(router, out) {
                    PortSet::single(Port::Mesh(out))
                } else {
                    PortSet::EMPTY
                }
            }
            _ => PortSet::EMPTY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_agrees_with_a_linear_scan() {
        // 21 entries (two full chunks and a tail) with overlapping prefix masks.
        let mut t = Table::default();
        for i in 0..21u32 {
            let mask = !((1u32 << (i % 5)) - 1);
            t.keys.push((i * 7) & mask);
            t.masks.push(mask);
            t.ports.push(PortSet(u64::from(i)));
        }
        for key in 0..200u32 {
            let linear = (0..21).find(|&i| key & t.masks[i] == t.keys[i]);
            assert_eq!(t.first_match(key), linear, "key {key}");
        }
        assert_eq!(Table::default().first_match(5), None);
    }
}
