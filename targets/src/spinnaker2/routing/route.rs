//! Output sets of a router entry: which links and which local PEs a packet is copied to.

use std::fmt;

/// Number of local targets a single router can deliver to: the bits of a [`Route`] left after
/// the six links. A SpiNNaker2 QPE router serves 4 PEs and the chip's multicast router 38 QPEs;
/// a router with more than 58 local targets would need a wider route type.
pub const MAX_LOCAL_PES: u32 = 58;

/// Number of link bits at the bottom of a [`Route`].
const LINK_COUNT: u32 = 6;

/// A link between neighbouring routers.
///
/// Numbering follows SpiNNaker's link order (0 = East … 5 = South): real SpiNNaker2 chips keep
/// six chip-to-chip links in a triangular board mesh (datasheet, see docs/spinnaker2.md). The
/// machine model routes X then Y on a square grid, so it only uses [`Link::East`],
/// [`Link::North`], [`Link::West`] and [`Link::South`]; the diagonals are kept so a table can
/// describe a real board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// Link 0.
    East,
    /// Link 1 (chip-to-chip only).
    NorthEast,
    /// Link 2.
    North,
    /// Link 3.
    West,
    /// Link 4 (chip-to-chip only).
    SouthWest,
    /// Link 5.
    South,
}

impl Link {
    /// All links in bit order, so iteration over them is deterministic.
    pub const ALL: [Link; 6] = [
        Link::East,
        Link::NorthEast,
        Link::North,
        Link::West,
        Link::SouthWest,
        Link::South,
    ];

    /// Bit index of this link in a [`Route`].
    pub fn index(self) -> u32 {
        match self {
            Link::East => 0,
            Link::NorthEast => 1,
            Link::North => 2,
            Link::West => 3,
            Link::SouthWest => 4,
            Link::South => 5,
        }
    }

    /// The link a packet leaves on when it goes straight through a router it entered by `self`:
    /// default routing sends a packet that arrived from the west out of the east link, etc.
    pub fn opposite(self) -> Link {
        match self {
            Link::East => Link::West,
            Link::NorthEast => Link::SouthWest,
            Link::North => Link::South,
            Link::West => Link::East,
            Link::SouthWest => Link::NorthEast,
            Link::South => Link::North,
        }
    }
}

/// A set of router outputs as a `u64` bitset.
///
/// Bits 0–5 are the links in [`Link`] order; bit `6 + p` is local target `p` of this router
/// (`p < MAX_LOCAL_PES`): a PE of a QPE router, or a QPE of the chip router. A bitset makes "same route" a single integer comparison, which the
/// compressor does constantly, and unions (multicast fan-out) a single OR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Route(pub u64);

impl Route {
    /// The empty route (a packet with it goes nowhere).
    pub const EMPTY: Route = Route(0);

    /// A route to one link.
    pub fn link(link: Link) -> Route {
        Route(1 << link.index())
    }

    /// A route to local target `pe` (a PE or QPE, see [`Route`]), or `None` when `pe` does not
    /// fit in the bitset.
    pub fn pe(pe: u32) -> Option<Route> {
        (pe < MAX_LOCAL_PES).then(|| Route(1 << (LINK_COUNT + pe)))
    }

    /// Union of two routes (multicast to both).
    pub fn union(self, other: Route) -> Route {
        Route(self.0 | other.0)
    }

    /// True when the route has no output.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the route contains `link`.
    pub fn has_link(self, link: Link) -> bool {
        self.0 & (1 << link.index()) != 0
    }

    /// Links of this route in bit order.
    pub fn links(self) -> Vec<Link> {
        Link::ALL
            .into_iter()
            .filter(|l| self.has_link(*l))
            .collect()
    }

    /// Local targets of this route in increasing order.
    pub fn pes(self) -> Vec<u32> {
        (0..MAX_LOCAL_PES)
            .filter(|p| self.0 & (1 << (LINK_COUNT + p)) != 0)
            .collect()
    }

    /// Number of outputs (links + PEs) a packet is replicated to.
    pub fn fan_out(self) -> u32 {
        self.0.count_ones()
    }
}

/// Renders as e.g. `E+N+pe0+pe3`, or `-` for the empty route (used in reports and snapshots).
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let names = ["E", "NE", "N", "W", "SW", "S"];
        let mut parts: Vec<String> = Vec::new();
        for link in self.links() {
            let name = names.get(link.index() as usize).copied().unwrap_or("?");
            parts.push(name.to_string());
        }
        for pe in self.pes() {
            parts.push(format!("pe{pe}"));
        }
        f.write_str(&parts.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_display() {
        let r = Route::link(Link::East)
            .union(Route::link(Link::South))
            .union(Route::pe(0).unwrap_or_default())
            .union(Route::pe(57).unwrap_or_default());
        assert_eq!(r.0, 0b10_0001 | 1 << 6 | 1 << 63);
        assert_eq!(r.to_string(), "E+S+pe0+pe57");
        assert_eq!(r.fan_out(), 4);
        assert_eq!(Route::pe(58), None);
        assert_eq!(Route::EMPTY.to_string(), "-");
    }

    #[test]
    fn opposite_is_involution() {
        for l in Link::ALL {
            assert_ne!(l.opposite(), l);
            assert_eq!(l.opposite().opposite(), l);
        }
        assert_eq!(Link::NorthEast.opposite(), Link::SouthWest);
    }
}
