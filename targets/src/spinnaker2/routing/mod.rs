//! Multicast routing for the spinnaker2 target: routing-key allocation, per-router table
//! construction and ordered-covering table compression.
//!
//! # Router model
//! A router holds an ordered list of [`RoutingEntry`]s (a TCAM). An entry matches a 32-bit key
//! when `key & entry.mask == entry.key`; entries are checked in order and the first match wins,
//! so a more specific entry placed above a more general one overrides it. The matched entry's
//! [`Route`] is the set of outputs the packet is replicated to (links to neighbouring routers
//! plus local PEs).
//!
//! A key that matches no entry is *dropped*, unless the table was built with default routing
//! ([`RoutingTable::default_routing`]): then a packet that arrived on a link leaves through the
//! opposite link ("straight through", SpiNNaker's default routing), and a locally sourced packet
//! is still dropped. This is why entries whose route is exactly "straight through" can be left
//! out of a table (see [`build_table`]).
//!
//! # Why order matters for compression
//! Compression ([`compress`]) merges entries with the same route into one covering entry
//! (Mundy, Heathcote, Garside, "On-chip order-exploiting routing table minimization for a
//! multicast supercomputer network", HPSR 2016). Because the first match wins, a merged entry
//! may cover keys of other entries as long as those entries stay above it.
//!
//! # Guarantee
//! Every key matched by an entry of the original table is routed identically by the compressed
//! table, and keys the original table left to default routing (the table's `defaulted` ranges)
//! still match nothing. Keys that matched nothing and are not in `defaulted` may match a merged
//! entry afterwards: only keys handed out by key allocation ([`KeyAllocator`]) are ever sent,
//! and every one of them that reaches a router has an entry or a `defaulted` range there, so
//! such keys never travel on the network. [`routes_equivalent`] checks the guarantee key by key.
//!
//! # Keys
//! [`KeyAllocator::allocate_population`] gives all slices of a population one aligned block
//! (slice `i` at offset `i · 2^stride`, neuron `n` of it at `+ n`), so a router that forwards a
//! whole population one way compresses it to a single entry; [`KeyAllocator::allocate`] places
//! single blocks. Both are deterministic (request order) and fail with
//! [`KeyError::Exhausted`] when the 32-bit key space runs out.

mod check;
mod compress;
mod entry;
mod keys;
mod route;
mod table;

#[cfg(test)]
mod compress_tests;

pub use check::{entry_keys, routes_equivalent, table_keys, RouteMismatch};
pub use compress::{compress, CompressError};
pub use entry::{KeyMask, RoutingEntry};
pub use keys::{allocate_keys, KeyAllocator, KeyError, KeyRange};
pub use route::{Link, Route, MAX_LOCAL_PES};
pub use table::{build_table, RouteRequest, RoutingTable, TableError};
