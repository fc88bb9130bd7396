//! Per-router table construction: from "keys K/M leave this router through outputs R" requests
//! to an ordered [`RoutingTable`].

use std::collections::BTreeMap;

use thiserror::Error;

use super::entry::{KeyMask, RoutingEntry};
use super::route::{Link, Route};

/// Failures of table construction; each names the offending key/mask.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TableError {
    /// The key has bits outside its mask, so no packet could ever match it.
    #[error("route request {key:#010x}/{mask:#010x}: key has bits outside the mask")]
    KeyOutsideMask {
        /// Requested key.
        key: u32,
        /// Requested mask.
        mask: u32,
    },
    /// A request with no output would drop packets the placement expects to deliver.
    #[error("route request {key:#010x}/{mask:#010x}: empty route")]
    EmptyRoute {
        /// Requested key.
        key: u32,
        /// Requested mask.
        mask: u32,
    },
    /// Two different key ranges overlap: the result would depend on entry order, which key
    /// allocation never produces.
    #[error(
        "route requests {first_key:#010x}/{first_mask:#010x} and \
         {second_key:#010x}/{second_mask:#010x} overlap"
    )]
    Overlap {
        /// Key of the first range.
        first_key: u32,
        /// Mask of the first range.
        first_mask: u32,
        /// Key of the second range.
        second_key: u32,
        /// Mask of the second range.
        second_mask: u32,
    },
    /// The same keys are said to arrive on two different links: a multicast tree enters a
    /// router once.
    #[error("route request {key:#010x}/{mask:#010x}: arrives on both {first:?} and {second:?}")]
    ConflictingArrival {
        /// Requested key.
        key: u32,
        /// Requested mask.
        mask: u32,
        /// Arrival link of an earlier request.
        first: Option<Link>,
        /// Arrival link of a later request.
        second: Option<Link>,
    },
}

/// What one multicast tree needs from one router: packets with keys `key`/`mask`, arriving on
/// `arrival` (`None` when a local PE sends them), leave through `route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteRequest {
    /// Source key block (usually a [`super::KeyRange`]'s base).
    pub key: u32,
    /// Source key mask.
    pub mask: u32,
    /// Outputs at this router.
    pub route: Route,
    /// Link the packets arrive on, `None` for locally sourced packets.
    pub arrival: Option<Link>,
}

/// An ordered router table plus what the router does with packets that match nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingTable {
    /// Entries in priority order (first match wins).
    pub entries: Vec<RoutingEntry>,
    /// When true, a packet matching no entry that arrived on a link leaves through the
    /// opposite link; when false (or for locally sourced packets) it is dropped.
    pub default_routing: bool,
    /// Key ranges left out of `entries` because default routing already sends them straight
    /// through. Compression must keep them unmatched, so they are recorded here (sorted).
    pub defaulted: Vec<KeyMask>,
}

impl RoutingTable {
    /// The route of the first entry matching `key`, or `None` when no entry matches.
    pub fn lookup(&self, key: u32) -> Option<Route> {
        self.entries
            .iter()
            .find(|e| e.matches(key))
            .map(|e| e.route)
    }

    /// Where the router sends a packet with `key` that arrived on `arrival` (`None` = from a
    /// local PE): the matching entry's route, the straight-through link under default routing,
    /// or `None` when the packet is dropped.
    pub fn route_of(&self, key: u32, arrival: Option<Link>) -> Option<Route> {
        match (self.lookup(key), arrival) {
            (Some(route), _) => Some(route),
            (None, Some(link)) if self.default_routing => Some(Route::link(link.opposite())),
            (None, _) => None,
        }
    }

    /// Number of entries (what must fit in the router's TCAM).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Builds one router's table from its requests.
///
/// Requests with the same key/mask are merged (their routes united: one source multicast to
/// several outputs). Different key ranges must be disjoint. Entries are sorted by generality,
/// then key, then mask, so the output does not depend on request order and is already in the
/// order ordered covering expects. With `default_routing`, a request whose only output is the
/// link opposite its arrival link is left out of `entries` and recorded in `defaulted`.
pub fn build_table(
    requests: &[RouteRequest],
    default_routing: bool,
) -> Result<RoutingTable, TableError> {
    let mut merged: BTreeMap<(u32, u32, u32), (Route, Option<Link>)> = BTreeMap::new();
    for req in requests {
        let km = KeyMask {
            key: req.key,
            mask: req.mask,
        };
        if !km.is_canonical() {
            return Err(TableError::KeyOutsideMask {
                key: req.key,
                mask: req.mask,
            });
        }
        if req.route.is_empty() {
            return Err(TableError::EmptyRoute {
                key: req.key,
                mask: req.mask,
            });
        }
        let slot = merged
            .entry((km.generality(), req.key, req.mask))
            .or_insert((Route::EMPTY, req.arrival));
        if slot.1 != req.arrival {
            return Err(TableError::ConflictingArrival {
                key: req.key,
                mask: req.mask,
                first: slot.1,
                second: req.arrival,
            });
        }
        slot.0 = slot.0.union(req.route);
    }
    let patterns: Vec<KeyMask> = merged
        .keys()
        .map(|&(_, key, mask)| KeyMask { key, mask })
        .collect();
    check_disjoint(&patterns)?;
    let mut table = RoutingTable {
        default_routing,
        ..RoutingTable::default()
    };
    for (&(_, key, mask), &(route, arrival)) in &merged {
        let straight = arrival.map(|l| Route::link(l.opposite()));
        if default_routing && straight == Some(route) {
            table.defaulted.push(KeyMask { key, mask });
        } else {
            table.entries.push(RoutingEntry { key, mask, route });
        }
    }
    table.defaulted.sort();
    Ok(table)
}

/// Rejects overlapping patterns. Allocated key blocks are aligned prefixes, which overlap only
/// when one contains the other; sorted by key, a block then overlaps the furthest-reaching
/// block before it, so one linear scan finds it. Other ternary patterns are checked pairwise.
fn check_disjoint(patterns: &[KeyMask]) -> Result<(), TableError> {
    let overlap = |a: KeyMask, b: KeyMask| TableError::Overlap {
        first_key: a.key,
        first_mask: a.mask,
        second_key: b.key,
        second_mask: b.mask,
    };
    let prefix_like = patterns
        .iter()
        .all(|p| p.mask.leading_ones() == p.mask.count_ones());
    if !prefix_like {
        // General ternary patterns: pairwise check (tables are at most a few thousand entries).
        for (i, a) in patterns.iter().enumerate() {
            if let Some(b) = patterns.iter().skip(i + 1).find(|b| a.intersects(**b)) {
                return Err(overlap(*a, *b));
            }
        }
        return Ok(());
    }
    // Prefix blocks: in key order a block can only overlap the furthest-reaching earlier one.
    let mut sorted: Vec<KeyMask> = patterns.to_vec();
    sorted.sort_by_key(|p| (p.key, std::cmp::Reverse(p.mask.count_zeros())));
    let mut reach: Option<(KeyMask, u64)> = None;
    for p in sorted {
        let end = u64::from(p.key) + (1u64 << p.mask.count_zeros());
        if let Some((q, q_end)) = reach {
            if u64::from(p.key) < q_end {
                return Err(overlap(q, p));
            }
        }
        if reach.is_none_or(|(_, q_end)| end > q_end) {
            reach = Some((p, end));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: u32, mask: u32, route: Route, arrival: Option<Link>) -> RouteRequest {
        RouteRequest {
            key,
            mask,
            route,
            arrival,
        }
    }

    fn pe(p: u32) -> Route {
        Route::pe(p).unwrap_or_default()
    }

    #[test]
    fn merges_sorts_and_removes_default_routes() {
        let e = Route::link(Link::East);
        let requests = [
            req(0x100, 0xFFFF_FF00, pe(1), None),
            req(0x000, 0xFFFF_FFF0, e, Some(Link::West)),
            req(0x100, 0xFFFF_FF00, e, None),
            req(0x010, 0xFFFF_FFF0, e, Some(Link::North)),
        ];
        let table = build_table(&requests, true).unwrap_or_default();
        assert_eq!(
            table.entries,
            vec![
                RoutingEntry {
                    key: 0x010,
                    mask: 0xFFFF_FFF0,
                    route: e
                },
                RoutingEntry {
                    key: 0x100,
                    mask: 0xFFFF_FF00,
                    route: e.union(pe(1))
                },
            ]
        );
        assert_eq!(
            table.defaulted,
            vec![KeyMask {
                key: 0,
                mask: 0xFFFF_FFF0
            }]
        );
        // Default routing sends the removed range straight through; a local packet is dropped.
        assert_eq!(table.route_of(0x5, Some(Link::West)), Some(e));
        assert_eq!(table.route_of(0x5, None), None);
        assert_eq!(table.route_of(0x1FF, None), Some(e.union(pe(1))));
        // Without default routing the entry stays.
        let plain = build_table(&requests, false).unwrap_or_default();
        assert_eq!(plain.len(), 3);
        assert!(plain.defaulted.is_empty());
        assert_eq!(plain.route_of(0x5, Some(Link::West)), Some(e));
        assert_eq!(plain.route_of(0x200, Some(Link::West)), None);
    }

    #[test]
    fn order_of_requests_does_not_matter() {
        let mut requests: Vec<RouteRequest> = (0..20u32)
            .map(|i| req(i << 4, 0xFFFF_FFF0, pe(i % 3), None))
            .collect();
        let a = build_table(&requests, false);
        requests.reverse();
        assert_eq!(a, build_table(&requests, false));
        assert_eq!(a.map(|t| t.len()), Ok(20));
    }

    #[test]
    fn bad_requests_are_errors() {
        let e = Route::link(Link::East);
        assert_eq!(
            build_table(&[req(3, 0xFFFF_FFF0, e, None)], false),
            Err(TableError::KeyOutsideMask {
                key: 3,
                mask: 0xFFFF_FFF0
            })
        );
        assert_eq!(
            build_table(&[req(0, 0xFFFF_FFF0, Route::EMPTY, None)], false),
            Err(TableError::EmptyRoute {
                key: 0,
                mask: 0xFFFF_FFF0
            })
        );
        let nested = [
            req(0x40, 0xFFFF_FFF0, e, None),
            req(0x00, 0xFFFF_FF00, e, None),
            req(0x200, 0xFFFF_FF00, e, None),
        ];
        assert_eq!(
            build_table(&nested, false),
            Err(TableError::Overlap {
                first_key: 0,
                first_mask: 0xFFFF_FF00,
                second_key: 0x40,
                second_mask: 0xFFFF_FFF0
            })
        );
        // A block nested two levels deep.
        let deep = [
            req(0x000, 0xFFFF_F000, e, None),
            req(0x100, 0xFFFF_FF00, e, None),
            req(0x800, 0xFFFF_FF00, e, None),
        ];
        assert!(matches!(
            build_table(&deep, false),
            Err(TableError::Overlap { .. })
        ));
        // Non-prefix patterns use the pairwise check.
        let ternary = [req(0b01, 0b11, e, None), req(0b101, 0b101, e, None)];
        assert!(matches!(
            build_table(&ternary, false),
            Err(TableError::Overlap { .. })
        ));
        assert!(build_table(
            &[req(0b01, 0b11, e, None), req(0b010, 0b110, e, None)],
            false
        )
        .is_ok());
        let twice = [
            req(0, 0xFFFF_FFF0, e, Some(Link::West)),
            req(0, 0xFFFF_FFF0, e, Some(Link::North)),
        ];
        assert_eq!(
            build_table(&twice, false),
            Err(TableError::ConflictingArrival {
                key: 0,
                mask: 0xFFFF_FFF0,
                first: Some(Link::West),
                second: Some(Link::North)
            })
        );
    }
}
