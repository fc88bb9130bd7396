//! Exact prefix merging of a router table before ordered covering.
//!
//! Key allocation hands out aligned prefix blocks, and only keys that pass a router constrain
//! its table: every other key never arrives there. So a router's table may use any key/mask
//! that covers its entries of one route as long as it covers no key routed differently and no
//! default-routed range (which must keep matching nothing). Splitting the key space recursively
//! in halves and emitting one entry for every half whose constrained blocks all share a route
//! gives the smallest disjoint prefix cover, in O(entries × 32). On the peer network a router
//! passing 214 slice blocks of two populations ends up with a handful of entries. Ordered
//! covering ([`super::routing::compress`]) still runs afterwards when a table does not fit.

use super::routing::{Route, RoutingEntry, RoutingTable};

/// What a constrained key block requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Matched with this route.
    Route(Route),
    /// Default-routed: must match no entry.
    Nothing,
}

/// A constrained aligned block: keys `key .. key + 2^bits`.
#[derive(Debug, Clone, Copy)]
struct Block {
    key: u64,
    bits: u32,
    need: Need,
}

fn is_prefix(mask: u32) -> bool {
    mask.leading_ones() + mask.trailing_zeros() == 32
}

fn entry(key: u64, bits: u32, route: Route) -> RoutingEntry {
    let mask = if bits >= 32 { 0 } else { u32::MAX << bits };
    RoutingEntry {
        key: (key as u32) & mask,
        mask,
        route,
    }
}

/// Covers the sorted, disjoint `blocks` lying in the prefix `key`/`bits`.
fn cover(blocks: &[Block], key: u64, bits: u32, out: &mut Vec<RoutingEntry>) {
    let Some(first) = blocks.first() else {
        return;
    };
    if let Need::Route(r) = first.need {
        if blocks.iter().all(|b| b.need == Need::Route(r)) {
            out.push(entry(key, bits, r));
            return;
        }
    }
    if blocks.len() == 1 || bits == 0 {
        // One default-routed block (or a degenerate overlap): keep exact entries only.
        for b in blocks {
            if let Need::Route(r) = b.need {
                out.push(entry(b.key, b.bits, r));
            }
        }
        return;
    }
    // Two or more disjoint blocks: each is smaller than this prefix, so halving separates them.
    let half = bits - 1;
    let split = key + (1u64 << half);
    let mid = blocks.partition_point(|b| b.key < split);
    cover(&blocks[..mid], key, half, out);
    cover(&blocks[mid..], split, half, out);
}

/// The smallest disjoint prefix cover of `table` that routes every key of its entries the same
/// way and leaves its default-routed ranges unmatched. Tables with non-prefix masks are returned
/// unchanged. Entries come out sorted by generality, then key.
pub fn merge_prefixes(table: &RoutingTable) -> RoutingTable {
    let prefix = table.entries.iter().all(|e| is_prefix(e.mask))
        && table.defaulted.iter().all(|d| is_prefix(d.mask));
    if !prefix || table.entries.is_empty() {
        return table.clone();
    }
    let mut blocks: Vec<Block> = table
        .entries
        .iter()
        .map(|e| Block {
            key: u64::from(e.key),
            bits: e.mask.count_zeros(),
            need: Need::Route(e.route),
        })
        .chain(table.defaulted.iter().map(|d| Block {
            key: u64::from(d.key),
            bits: d.mask.count_zeros(),
            need: Need::Nothing,
        }))
        .collect();
    blocks.sort_by_key(|b| (b.key, std::cmp::Reverse(b.bits)));
    let mut entries = Vec::new();
    cover(&blocks, 0, 32, &mut entries);
    entries.sort_by_key(|e| (e.mask.count_zeros(), e.key));
    RoutingTable {
        entries,
        default_routing: table.default_routing,
        defaulted: table.defaulted.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::routing::{routes_equivalent, table_keys, KeyMask, Link};

    fn e(key: u32, mask: u32, route: Route) -> RoutingEntry {
        RoutingEntry { key, mask, route }
    }

    #[test]
    fn merges_same_route_blocks_around_exceptions() {
        let a = Route::link(Link::East);
        let b = Route::pe(1).unwrap_or_default();
        let m = !0xF;
        let table = RoutingTable {
            entries: vec![
                e(0x00, m, a),
                e(0x10, m, a),
                e(0x20, m, a),
                e(0x30, m, b),
                e(0x100, m, a),
            ],
            default_routing: true,
            defaulted: vec![KeyMask { key: 0x40, mask: m }],
        };
        let merged = merge_prefixes(&table);
        let got: Vec<(u32, u32)> = merged.entries.iter().map(|x| (x.key, x.mask)).collect();
        // 0x00-0x1F as one; 0x20 stays (0x30 differs); 0x30; 0x100 grows to 0x100-0x1FF.
        assert_eq!(
            got,
            vec![(0x20, m), (0x30, m), (0x00, !0x1F), (0x100, !0xFF)]
        );
        let keys = table_keys(&table, 1 << 12).unwrap_or_default();
        assert_eq!(routes_equivalent(&table, &merged, &keys), Ok(()));
        // The default-routed range still matches nothing.
        assert_eq!(merged.lookup(0x45), None);
    }

    #[test]
    fn one_route_becomes_one_entry() {
        let a = Route::link(Link::North);
        let table = RoutingTable {
            entries: (0..40u32).map(|i| e(i << 6, !0x3F, a)).collect(),
            default_routing: true,
            defaulted: Vec::new(),
        };
        let merged = merge_prefixes(&table);
        assert_eq!(merged.entries, vec![e(0, 0, a)]);
    }
}
