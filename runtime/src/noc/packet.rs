//! Packets injected into the NoC and the identifiers of routers and PEs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A router by its global mesh coordinates (chips tiled into one grid:
/// chip `(cx, cy)` holds routers `cx * chip_width .. (cx + 1) * chip_width`
/// in x, likewise in y).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RouterId {
    /// Column, 0 at the west edge.
    pub x: u32,
    /// Row, 0 at the south edge.
    pub y: u32,
}

impl RouterId {
    /// Router at `(x, y)`.
    pub fn new(x: u32, y: u32) -> RouterId {
        RouterId { x, y }
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

/// A processing element: local port `pe` of `router`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeId {
    /// The router the PE hangs off.
    pub router: RouterId,
    /// Local port number at that router.
    pub pe: u8,
}

/// One multicast packet as the source PE emits it. Where it goes is decided
/// hop by hop by the [`super::Router`] from its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Packet {
    /// Routing key (SpiNNaker multicast key: identifies the source neuron).
    pub key: u32,
    /// The PE that sends it.
    pub source: PeId,
    /// Cycle at which it enters its source router.
    pub inject_cycle: u64,
}
