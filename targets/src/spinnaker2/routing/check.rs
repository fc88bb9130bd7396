//! Equivalence checking of routing tables by enumerating keys: the oracle of compression tests
//! and a cheap self-check the backend can run on small tables.

use thiserror::Error;

use super::entry::KeyMask;
use super::route::Route;
use super::table::RoutingTable;

/// A key two tables route differently (`None` = no entry matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("key {key:#010x}: original table routes it to {original:?}, compressed to {compressed:?}")]
pub struct RouteMismatch {
    /// The key.
    pub key: u32,
    /// Route in the original table.
    pub original: Option<Route>,
    /// Route in the compressed table.
    pub compressed: Option<Route>,
}

/// Checks that every key of `keys` has the same lookup result (same route, or no match in
/// both) in both tables; returns the first key (in `keys` order) that does not.
pub fn routes_equivalent(
    original: &RoutingTable,
    compressed: &RoutingTable,
    keys: &[u32],
) -> Result<(), RouteMismatch> {
    for &key in keys {
        let (a, b) = (original.lookup(key), compressed.lookup(key));
        if a != b {
            return Err(RouteMismatch {
                key,
                original: a,
                compressed: b,
            });
        }
    }
    Ok(())
}

/// All keys of `pattern` in increasing order, or `None` when there are more than `limit`
/// (a pattern with g don't-care bits has 2^g keys).
pub fn entry_keys(pattern: KeyMask, limit: usize) -> Option<Vec<u32>> {
    let free = !pattern.mask;
    let count = 1u64.checked_shl(free.count_ones())?;
    if count > u64::try_from(limit).ok()? {
        return None;
    }
    let mut keys = Vec::with_capacity(usize::try_from(count).ok()?);
    let mut x: u32 = 0;
    loop {
        keys.push(pattern.key | x);
        if x == free {
            return Some(keys);
        }
        // Next subset of `free` in increasing order: carry through the fixed bits.
        x = (x | !free).wrapping_add(1) & free;
    }
}

/// Every key of every entry and every default-routed range of `table`, sorted and
/// deduplicated, or `None` when there are more than `limit`: the key set compression must
/// preserve.
pub fn table_keys(table: &RoutingTable, limit: usize) -> Option<Vec<u32>> {
    let mut keys = Vec::new();
    let patterns = table
        .entries
        .iter()
        .map(|e| e.key_mask())
        .chain(table.defaulted.iter().copied());
    for p in patterns {
        keys.extend(entry_keys(p, limit.saturating_sub(keys.len()))?);
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spinnaker2::routing::{Link, RoutingEntry};

    #[test]
    fn enumerates_ternary_patterns() {
        let p = KeyMask {
            key: 0b1000,
            mask: !0b0101,
        };
        assert_eq!(entry_keys(p, 4), Some(vec![0b1000, 0b1001, 0b1100, 0b1101]));
        assert_eq!(entry_keys(p, 3), None);
        assert_eq!(entry_keys(KeyMask { key: 0, mask: 0 }, 1 << 20), None);
    }

    #[test]
    fn finds_the_first_differing_key() {
        let e = Route::link(Link::East);
        let n = Route::link(Link::North);
        let a = RoutingTable {
            entries: vec![RoutingEntry {
                key: 0,
                mask: !3,
                route: e,
            }],
            ..RoutingTable::default()
        };
        let mut b = a.clone();
        b.entries.insert(
            0,
            RoutingEntry {
                key: 2,
                mask: !0,
                route: n,
            },
        );
        let keys = table_keys(&a, 100).unwrap_or_default();
        assert_eq!(keys, vec![0, 1, 2, 3]);
        assert_eq!(routes_equivalent(&a, &a, &keys), Ok(()));
        assert_eq!(
            routes_equivalent(&a, &b, &keys),
            Err(RouteMismatch {
                key: 2,
                original: Some(e),
                compressed: Some(n)
            })
        );
        assert_eq!(routes_equivalent(&a, &b, &[0, 1, 3, 7]), Ok(()));
    }
}
