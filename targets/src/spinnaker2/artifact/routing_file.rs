//! `routing.json`: every router's multicast table as the artifact ships it.
//!
//! Links and local PEs are listed as index arrays rather than a bitset so the file stays readable
//! and independent of the in-memory [`Route`] representation. Routers are sorted by
//! `(chip_y, chip_x, qpe_y, qpe_x)` and only routers with entries are listed.

use serde::{Deserialize, Serialize};

use crate::spinnaker2::machine::QpeCoord;
use crate::spinnaker2::routing::{Link, Route, RoutingEntry, RoutingTable, MAX_LOCAL_PES};

/// The whole `routing.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    pub routers: Vec<RouterTable>,
}

/// The table of one QPE router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterTable {
    pub chip_x: u32,
    pub chip_y: u32,
    pub qpe_x: u32,
    pub qpe_y: u32,
    /// Packets arriving on a link that match no entry leave through the opposite link.
    pub default_routing: bool,
    /// Entries before compression (the mapping report's figure).
    pub entries_before: u32,
    /// Entries in match order (first match wins).
    pub entries: Vec<RouterEntry>,
}

/// One router entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterEntry {
    pub key: u32,
    pub mask: u32,
    /// Output link indices ([`Link::index`]: 0 East, 1 NorthEast, 2 North, 3 West, 4 SouthWest,
    /// 5 South), ascending.
    pub links: Vec<u32>,
    /// Local PE indices (`PeCoord::pe`) of this QPE, ascending.
    pub pes: Vec<u32>,
}

/// Why a [`RouterEntry`] cannot be turned back into a [`Route`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteDecodeError {
    #[error("link index {0} is not 0..=5")]
    Link(u32),
    #[error("local PE index {0} is not below {MAX_LOCAL_PES}")]
    Pe(u32),
    #[error("key 0x{key:08x} has bits outside mask 0x{mask:08x}")]
    NotCanonical { key: u32, mask: u32 },
}

impl RouterEntry {
    /// The file form of a routing entry.
    pub fn from_entry(e: &RoutingEntry) -> RouterEntry {
        RouterEntry {
            key: e.key,
            mask: e.mask,
            links: e.route.links().into_iter().map(Link::index).collect(),
            pes: e.route.pes(),
        }
    }

    /// The in-memory form, validating indices (the file is user input).
    pub fn to_entry(&self) -> Result<RoutingEntry, RouteDecodeError> {
        if self.key & !self.mask != 0 {
            return Err(RouteDecodeError::NotCanonical {
                key: self.key,
                mask: self.mask,
            });
        }
        let mut route = Route::EMPTY;
        for &l in &self.links {
            let link = Link::ALL
                .into_iter()
                .find(|x| x.index() == l)
                .ok_or(RouteDecodeError::Link(l))?;
            route = route.union(Route::link(link));
        }
        for &p in &self.pes {
            route = route.union(Route::pe(p).ok_or(RouteDecodeError::Pe(p))?);
        }
        Ok(RoutingEntry {
            key: self.key,
            mask: self.mask,
            route,
        })
    }
}

impl RouterTable {
    /// The file form of `table`, the table of the router of `qpe`; `entries_before` is the
    /// uncompressed size for the report.
    pub fn from_table(qpe: QpeCoord, table: &RoutingTable, entries_before: u32) -> RouterTable {
        RouterTable {
            chip_x: qpe.chip_x,
            chip_y: qpe.chip_y,
            qpe_x: qpe.qpe_x,
            qpe_y: qpe.qpe_y,
            default_routing: table.default_routing,
            entries_before,
            entries: table.entries.iter().map(RouterEntry::from_entry).collect(),
        }
    }

    /// The router's QPE.
    pub fn qpe(&self) -> QpeCoord {
        QpeCoord {
            chip_x: self.chip_x,
            chip_y: self.chip_y,
            qpe_x: self.qpe_x,
            qpe_y: self.qpe_y,
        }
    }

    /// The in-memory table (without `defaulted` ranges, which only matter to the compressor).
    pub fn to_table(&self) -> Result<RoutingTable, RouteDecodeError> {
        let entries = self
            .entries
            .iter()
            .map(RouterEntry::to_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RoutingTable {
            entries,
            default_routing: self.default_routing,
            defaulted: Vec::new(),
        })
    }

    /// Sort key of the file's router order.
    pub fn order_key(&self) -> (u32, u32, u32, u32) {
        (self.chip_y, self.chip_x, self.qpe_y, self.qpe_x)
    }
}

impl RoutingFile {
    /// Sorts routers into the file order and drops routers without entries, so a writer cannot
    /// produce a non-canonical file by accident.
    pub fn normalize(&mut self) {
        self.routers.retain(|r| !r.entries.is_empty());
        self.routers.sort_by_key(RouterTable::order_key);
    }

    /// Total entries over all routers.
    pub fn total_entries(&self) -> u64 {
        self.routers.iter().map(|r| r.entries.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip() {
        let route = Route::link(Link::West)
            .union(Route::link(Link::North))
            .union(Route::pe(2).unwrap_or_default());
        let e = RoutingEntry {
            key: 0x100,
            mask: 0xffff_ff00,
            route,
        };
        let f = RouterEntry::from_entry(&e);
        assert_eq!(f.links, vec![2, 3]);
        assert_eq!(f.pes, vec![2]);
        assert_eq!(f.to_entry(), Ok(e));
    }

    #[test]
    fn bad_entries_rejected() {
        let mut f = RouterEntry {
            key: 1,
            mask: 0xffff_ffff,
            links: vec![6],
            pes: vec![],
        };
        assert_eq!(f.to_entry(), Err(RouteDecodeError::Link(6)));
        f.links.clear();
        f.pes = vec![58];
        assert_eq!(f.to_entry(), Err(RouteDecodeError::Pe(58)));
        f.pes.clear();
        f.mask = 0xffff_fff0;
        assert!(matches!(
            f.to_entry(),
            Err(RouteDecodeError::NotCanonical { .. })
        ));
    }
}
