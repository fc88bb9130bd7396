//! Router ports and sets of ports: the vocabulary of routing decisions.
//!
//! Every router has four mesh ports (north, east, south, west) followed by
//! `pes_per_router` local ports, one per processing element (PE). A port is
//! numbered by its index in that order, so a multicast routing decision is one
//! 64-bit mask ([`PortSet`]) that a routing table can store directly.

use serde::{Deserialize, Serialize};

/// Number of mesh ports of a router (N, E, S, W).
pub const MESH_PORTS: usize = 4;

/// Largest number of local ports: a [`PortSet`] is a `u64` and the first four
/// bits name the mesh ports.
pub const MAX_LOCAL_PORTS: usize = 64 - MESH_PORTS;

/// A mesh direction. North is `y + 1`, east `x + 1`, south `y - 1`, west `x - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Towards `y + 1`.
    North,
    /// Towards `x + 1`.
    East,
    /// Towards `y - 1`.
    South,
    /// Towards `x - 1`.
    West,
}

impl Direction {
    /// All directions in port order, so loops over them are deterministic.
    pub const ALL: [Direction; 4] = [
        Direction::North,
        Direction::East,
        Direction::South,
        Direction::West,
    ];

    /// The direction a packet sent this way arrives from at the neighbour.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::North => Direction::South,
            Direction::East => Direction::West,
            Direction::South => Direction::North,
            Direction::West => Direction::East,
        }
    }

    /// Port index of this direction (0..4).
    pub fn index(self) -> usize {
        match self {
            Direction::North => 0,
            Direction::East => 1,
            Direction::South => 2,
            Direction::West => 3,
        }
    }

    /// `(dx, dy)` step of one hop in this direction.
    pub fn delta(self) -> (i64, i64) {
        match self {
            Direction::North => (0, 1),
            Direction::East => (1, 0),
            Direction::South => (0, -1),
            Direction::West => (-1, 0),
        }
    }
}

/// One port of a router: a mesh link or the link to a local PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Port {
    /// A mesh link to the neighbouring router in that direction.
    Mesh(Direction),
    /// The link to local PE number `n` of the router.
    Local(u8),
}

impl Port {
    /// Port index: mesh ports 0..4, local PE `n` at `4 + n`.
    pub fn index(self) -> usize {
        match self {
            Port::Mesh(d) => d.index(),
            Port::Local(n) => MESH_PORTS + usize::from(n),
        }
    }

    /// The port with the given index; `None` past the last possible local port.
    pub fn from_index(index: usize) -> Option<Port> {
        if index < MESH_PORTS {
            Direction::ALL.get(index).map(|d| Port::Mesh(*d))
        } else if index < MESH_PORTS + MAX_LOCAL_PORTS {
            u8::try_from(index - MESH_PORTS).ok().map(Port::Local)
        } else {
            None
        }
    }
}

/// A set of output ports, one bit per port index: the result of a routing
/// decision. Several bits mean the packet is replicated (multicast).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PortSet(pub u64);

impl PortSet {
    /// The empty set: the packet is consumed by the router (counted as unrouted).
    pub const EMPTY: PortSet = PortSet(0);

    /// Set holding one port.
    pub fn single(port: Port) -> PortSet {
        PortSet::EMPTY.with(port)
    }

    /// This set plus `port`.
    pub fn with(self, port: Port) -> PortSet {
        PortSet(self.0 | (1u64 << port.index()))
    }

    /// Whether `port` is in the set.
    pub fn contains(self, port: Port) -> bool {
        self.0 & (1u64 << port.index()) != 0
    }

    /// Whether no port is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of ports in the set (the replication factor).
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Port indices in increasing order: the order in which copies are made.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                None
            } else {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(i)
            }
        })
    }
}

impl FromIterator<Port> for PortSet {
    fn from_iter<I: IntoIterator<Item = Port>>(iter: I) -> Self {
        iter.into_iter().fold(PortSet::EMPTY, PortSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_indices_round_trip() {
        for i in 0..64 {
            let p = Port::from_index(i).map(Port::index);
            assert_eq!(p, Some(i));
        }
        assert_eq!(Port::from_index(64), None);
        assert_eq!(Port::Local(2).index(), 6);
        assert_eq!(Port::Mesh(Direction::West).index(), 3);
    }

    #[test]
    fn port_set_iterates_in_index_order() {
        let s: PortSet = [Port::Local(1), Port::Mesh(Direction::East), Port::Local(0)]
            .into_iter()
            .collect();
        assert_eq!(s.indices().collect::<Vec<_>>(), vec![1, 4, 5]);
        assert_eq!(s.len(), 3);
        assert!(s.contains(Port::Local(0)));
        assert!(!s.contains(Port::Mesh(Direction::North)));
        assert!(PortSet::EMPTY.is_empty());
    }

    #[test]
    fn opposite_directions_cancel() {
        for d in Direction::ALL {
            let (dx, dy) = d.delta();
            let (ox, oy) = d.opposite().delta();
            assert_eq!((dx + ox, dy + oy), (0, 0));
            assert_eq!(d.opposite().opposite(), d);
        }
    }
}
