//! Ordered-covering routing-table compression (Mundy, Heathcote and Garside, "On-chip
//! order-exploiting routing table minimization for a multicast supercomputer network",
//! HPSR 2016), written from the paper's description.
//!
//! The table is kept sorted by generality (number of don't-care bits), most specific first,
//! and every entry remembers the original patterns it stands for (its *aliases*). Each step
//! picks the largest set of same-route entries that can be replaced by their covering
//! key/mask, and inserts that cover below every entry of equal or lower generality. A
//! candidate set shrinks until two rules hold:
//! - *up-check*: a member moves down to the insertion point, so no entry between the member
//!   and the insertion point may match one of the member's aliases (it would capture those
//!   keys first). Only the last blocked member is dropped per round, since a smaller cover may
//!   be inserted higher up and unblock the rest;
//! - *down-check*: the cover must not match an alias of any entry below the insertion point,
//!   nor a default-routed range (it would capture those keys). A conflict is resolved by
//!   fixing one don't-care bit of the cover to the value the conflicting pattern does not
//!   have, dropping the members that disagree; the bit dropping fewest members wins.
//!
//! Candidate sets start from all entries of a route (as in the paper) and, because the
//! shrinking is greedy and can miss a valid smaller merge, also from every run of same-route
//! entries adjacent in key order (one population's slices, with population-aligned keys).
//! Steps repeat until the table fits the router or no merge is left. Entries wholly covered by
//! an earlier entry can never match and are removed first.
//!
//! Invariant behind the checks: every original key is first matched by the entry whose aliases
//! hold it (or, for overlapping inputs, by an entry above it), so its route never changes.
//! Guarantee: see the `routing` module docs. Cost: each step is O(n² · aliases) in the worst
//! case, fine for the few hundred entries a router sees; a table that already fits is
//! returned at once.

use std::collections::BTreeMap;

use thiserror::Error;

use super::entry::{KeyMask, RoutingEntry};
use super::route::Route;
use super::table::RoutingTable;

/// Failures of compression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompressError {
    /// The best effort still exceeds the router's capacity.
    #[error(
        "routing table does not fit: {before} entries compressed to {after}, but the router \
         holds {limit}"
    )]
    DoesNotFit {
        /// Entries before compression.
        before: usize,
        /// Entries after the best effort.
        after: usize,
        /// Router capacity.
        limit: usize,
    },
    /// An entry has key bits outside its mask (it could never match).
    #[error("entry {index} ({key:#010x}/{mask:#010x}): key has bits outside the mask")]
    KeyOutsideMask {
        /// Position in the input table.
        index: usize,
        /// Its key.
        key: u32,
        /// Its mask.
        mask: u32,
    },
    /// Two overlapping entries with different routes are ordered more general first, so the
    /// generality order the algorithm needs would change which one wins.
    #[error(
        "entries {first} and {second} overlap with different routes and the more general one \
         comes first: ordered covering cannot reorder them"
    )]
    OrderDependent {
        /// Position of the more general entry (among the entries that can match).
        first: usize,
        /// Position of the more specific entry (among the entries that can match).
        second: usize,
    },
}

/// Compresses `table` to at most `limit` entries.
///
/// A table that already fits is returned unchanged. Otherwise the result is sorted by
/// generality, keeps `default_routing` and `defaulted`, and routes every key of the original
/// entries exactly as before. The same input always gives the same output.
pub fn compress(table: &RoutingTable, limit: usize) -> Result<RoutingTable, CompressError> {
    let before = table.len();
    for (index, e) in table.entries.iter().enumerate() {
        if !e.key_mask().is_canonical() {
            return Err(CompressError::KeyOutsideMask {
                index,
                key: e.key,
                mask: e.mask,
            });
        }
    }
    if before <= limit {
        return Ok(table.clone());
    }
    // Dead entries go first: a general entry above a specific one it wholly covers is not an
    // ordering problem, the specific one just never matches.
    let mut entries = table.entries.clone();
    remove_shadowed(&mut entries);
    check_reorderable(&entries)?;
    // Stable: entries of equal generality keep their relative order.
    entries.sort_by_key(|e| e.key_mask().generality());
    let mut slots: Vec<Slot> = entries
        .into_iter()
        .map(|entry| Slot {
            entry,
            aliases: vec![entry.key_mask()],
        })
        .collect();
    while slots.len() > limit {
        let Some(merge) = best_merge(&slots, &table.defaulted) else {
            break;
        };
        apply_merge(&mut slots, merge);
    }
    let entries: Vec<RoutingEntry> = slots.into_iter().map(|s| s.entry).collect();
    if entries.len() > limit {
        return Err(CompressError::DoesNotFit {
            before,
            after: entries.len(),
            limit,
        });
    }
    Ok(RoutingTable {
        entries,
        default_routing: table.default_routing,
        defaulted: table.defaulted.clone(),
    })
}

/// Sorting by generality is only harmless when no overlapping pair with different routes has
/// its more general entry first.
fn check_reorderable(entries: &[RoutingEntry]) -> Result<(), CompressError> {
    if entries.is_sorted_by_key(|e| e.key_mask().generality()) {
        return Ok(());
    }
    for (first, a) in entries.iter().enumerate() {
        let ga = a.key_mask().generality();
        for (offset, b) in entries.iter().skip(first + 1).enumerate() {
            if b.key_mask().generality() < ga
                && b.route != a.route
                && a.key_mask().intersects(b.key_mask())
            {
                return Err(CompressError::OrderDependent {
                    first,
                    second: first + 1 + offset,
                });
            }
        }
    }
    Ok(())
}

/// Removes entries no key can reach: those wholly covered by an earlier entry.
fn remove_shadowed(entries: &mut Vec<RoutingEntry>) {
    let mut kept: Vec<RoutingEntry> = Vec::with_capacity(entries.len());
    for e in entries.iter() {
        if !kept.iter().any(|k| k.key_mask().covers(e.key_mask())) {
            kept.push(*e);
        }
    }
    *entries = kept;
}

/// A table entry during compression with the original patterns it stands for ("aliases" in
/// the paper). Invariant: every original key of `aliases` is first matched by this entry, so
/// the checks below only need to protect aliases, not whole covers.
#[derive(Debug, Clone)]
struct Slot {
    entry: RoutingEntry,
    aliases: Vec<KeyMask>,
}

impl Slot {
    fn pattern(&self) -> KeyMask {
        self.entry.key_mask()
    }

    fn generality(&self) -> u32 {
        self.pattern().generality()
    }

    /// True when this slot's TCAM pattern would capture one of `other`'s original keys.
    fn captures_any_of(&self, other: &Slot) -> bool {
        let p = self.pattern();
        p.intersects(other.pattern()) && other.aliases.iter().any(|a| p.intersects(*a))
    }
}

/// A chosen merge: member positions (increasing), covering pattern, route.
struct Merge {
    members: Vec<usize>,
    cover: KeyMask,
    route: Route,
}

/// The largest valid merge (ties: lowest route value, then first candidate); `None` when no
/// merge of two or more entries exists.
///
/// Each route is tried from all of its entries (the paper's starting point) and, because the
/// shrinking is greedy and can lose a valid smaller merge on the way, from each run of its
/// entries that are consecutive in key order (typically one population's slices).
fn best_merge(slots: &[Slot], defaulted: &[KeyMask]) -> Option<Merge> {
    let mut by_route: BTreeMap<Route, Vec<Vec<usize>>> = BTreeMap::new();
    for (i, s) in slots.iter().enumerate() {
        let starts = by_route
            .entry(s.entry.route)
            .or_insert_with(|| vec![Vec::new()]);
        if let Some(all) = starts.first_mut() {
            all.push(i);
        }
    }
    let mut key_order: Vec<usize> = (0..slots.len()).collect();
    key_order.sort_by_key(|&i| slots.get(i).map(|s| (s.entry.key, s.entry.mask)));
    let mut run: Vec<usize> = Vec::new();
    let mut run_route = None;
    for i in key_order.into_iter().chain(std::iter::once(usize::MAX)) {
        let route = slots.get(i).map(|s| s.entry.route);
        if route != run_route || route.is_none() {
            if let (Some(r), true) = (run_route, run.len() >= 2) {
                let mut members = std::mem::take(&mut run);
                members.sort_unstable();
                by_route.entry(r).or_default().push(members);
            }
            run.clear();
            run_route = route;
        }
        run.push(i);
    }
    let mut best: Option<Merge> = None;
    for (route, candidates) in by_route {
        for start in candidates {
            // A start no larger than the best merge cannot beat it.
            if start.len() < 2
                || best
                    .as_ref()
                    .is_some_and(|m| m.members.len() >= start.len())
            {
                continue;
            }
            if let Some(merge) = refine_merge(slots, route, start, defaulted) {
                if best
                    .as_ref()
                    .is_none_or(|m| merge.members.len() > m.members.len())
                {
                    best = Some(merge);
                }
            }
        }
    }
    best
}

/// Shrinks `members` (increasing positions of entries with `route`) until the up- and
/// down-checks hold; `None` when fewer than two entries survive.
fn refine_merge(
    slots: &[Slot],
    route: Route,
    mut members: Vec<usize>,
    defaulted: &[KeyMask],
) -> Option<Merge> {
    let mut is_member = vec![false; slots.len()];
    loop {
        if members.len() < 2 {
            return None;
        }
        is_member.iter_mut().for_each(|m| *m = false);
        for &i in &members {
            if let Some(m) = is_member.get_mut(i) {
                *m = true;
            }
        }
        let cover = members
            .iter()
            .filter_map(|&i| slots.get(i).map(Slot::pattern))
            .reduce(|a, b| a.cover(b))?;
        let generality = cover.generality();
        // The table is sorted by generality and members are no more general than the cover,
        // so the insertion point is the first slot more general than the cover.
        let insert_at = slots.partition_point(|s| s.generality() <= generality);

        // Up-check: a member moving down to the insertion point must not pass an entry that
        // would capture one of its original keys. Only the last blocked member leaves per
        // round: a smaller merge has a smaller cover, whose insertion point may move above the
        // entry that blocked the others.
        let blocked = members.iter().rposition(|&i| {
            let Some(member) = slots.get(i) else {
                return true;
            };
            slots
                .iter()
                .enumerate()
                .take(insert_at)
                .skip(i + 1)
                .any(|(j, s)| {
                    !is_member.get(j).copied().unwrap_or(false) && s.captures_any_of(member)
                })
        });
        if let Some(position) = blocked {
            members.remove(position);
            continue;
        }

        // Down-check: the first original pattern below the insertion point (or left to
        // default routing) the cover would capture.
        let conflict = slots
            .iter()
            .skip(insert_at)
            .filter(|s| s.pattern().intersects(cover))
            .flat_map(|s| s.aliases.iter().copied())
            .chain(defaulted.iter().copied())
            .find(|p| p.intersects(cover));
        let Some(conflict) = conflict else {
            return Some(Merge {
                members,
                cover,
                route,
            });
        };
        let (_, bit) = (0..32u32)
            .filter(|b| cover.mask & (1 << b) == 0 && conflict.mask & (1 << b) != 0)
            .map(|b| {
                let dropped = members
                    .iter()
                    .filter(|&&i| slots.get(i).is_some_and(|s| drops(&s.entry, b, conflict)))
                    .count();
                (dropped, b)
            })
            .min()?;
        members.retain(|&i| {
            slots
                .get(i)
                .is_some_and(|s| !drops(&s.entry, bit, conflict))
        });
    }
}

/// True when `entry` must leave the merge for the cover to fix bit `b` to the opposite of
/// `conflict`'s value there: the entry has a don't-care or the conflict's value at `b`.
fn drops(entry: &RoutingEntry, b: u32, conflict: KeyMask) -> bool {
    let bit = 1u32 << b;
    entry.mask & bit == 0 || (entry.key ^ conflict.key) & bit == 0
}

/// Replaces the merge's members by one entry with their cover (and all their aliases),
/// inserted after every entry of equal or lower generality so the table stays sorted.
fn apply_merge(slots: &mut Vec<Slot>, merge: Merge) {
    let mut aliases = Vec::new();
    let mut index = 0usize;
    slots.retain_mut(|s| {
        let member = merge.members.binary_search(&index).is_ok();
        index += 1;
        if member {
            aliases.append(&mut s.aliases);
        }
        !member
    });
    aliases.sort_unstable();
    let generality = merge.cover.generality();
    let at = slots.partition_point(|s| s.generality() <= generality);
    slots.insert(
        at,
        Slot {
            entry: RoutingEntry {
                key: merge.cover.key,
                mask: merge.cover.mask,
                route: merge.route,
            },
            aliases,
        },
    );
}
