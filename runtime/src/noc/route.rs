//! The routing decision, behind a trait so that the compiler's multicast
//! routing tables (key/mask entries, compressed or not) plug into the
//! simulator unchanged, and a dimension-order reference router for tests and
//! for estimating traffic before tables exist.

use super::packet::{PeId, RouterId};
use super::port::{Direction, Port, PortSet};
use std::collections::HashMap;

/// Decides where a packet goes at one router.
///
/// `in_port` is the port the packet arrived on: [`Port::Local`] at its source
/// router, otherwise the mesh port facing the router it came from. Returning
/// several ports replicates the packet (multicast); returning the empty set
/// consumes it (counted in [`super::NocStats::unrouted`]). Implementations
/// must be deterministic: the simulator calls them in event order and its
/// result is only as reproducible as they are.
pub trait Router {
    /// Output ports for a packet with `key` arriving at `router` on `in_port`.
    fn route(&self, router: RouterId, key: u32, in_port: Port) -> PortSet;
}

impl<F> Router for F
where
    F: Fn(RouterId, u32, Port) -> PortSet,
{
    fn route(&self, router: RouterId, key: u32, in_port: Port) -> PortSet {
        self(router, key, in_port)
    }
}

/// One multicast group of [`XyRouter`]: the source router and the PEs the
/// key must reach.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    source: RouterId,
    targets: Vec<PeId>,
}

/// Dimension-order (x first, then y) multicast routing: each key is sent
/// from its source router along the x-then-y shortest path to every target,
/// the paths forming a tree that is replicated where they split. No tables:
/// the decision is computed from the coordinates, which makes it a reference
/// to test table-driven routers against.
///
/// Groups sit in a `HashMap` because it is only looked up, never iterated,
/// so its order cannot reach any output; lookups are the hot path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XyRouter {
    groups: HashMap<u32, Group>,
}

impl XyRouter {
    /// A router that knows no key (every packet is unrouted).
    pub fn new() -> XyRouter {
        XyRouter::default()
    }

    /// Route `key`, sent from `source`, to every PE in `targets`. Replaces
    /// an earlier group with the same key.
    pub fn add_group(&mut self, key: u32, source: RouterId, targets: Vec<PeId>) {
        self.groups.insert(key, Group { source, targets });
    }

    /// Next port from `at` towards `target` on the x-then-y path.
    fn step(at: RouterId, target: PeId) -> Port {
        let t = target.router;
        if t.x > at.x {
            Port::Mesh(Direction::East)
        } else if t.x < at.x {
            Port::Mesh(Direction::West)
        } else if t.y > at.y {
            Port::Mesh(Direction::North)
        } else if t.y < at.y {
            Port::Mesh(Direction::South)
        } else {
            Port::Local(target.pe)
        }
    }

    /// Whether `at` lies on the x-then-y path from `source` to `target`.
    fn on_path(source: RouterId, target: RouterId, at: RouterId) -> bool {
        let between = |a: u32, b: u32, v: u32| a.min(b) <= v && v <= a.max(b);
        (at.y == source.y && between(source.x, target.x, at.x))
            || (at.x == target.x && between(source.y, target.y, at.y))
    }
}

impl Router for XyRouter {
    fn route(&self, router: RouterId, key: u32, _in_port: Port) -> PortSet {
        let Some(group) = self.groups.get(&key) else {
            return PortSet::EMPTY;
        };
        group
            .targets
            .iter()
            .filter(|t| XyRouter::on_path(group.source, t.router, router))
            .map(|t| XyRouter::step(router, *t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(x: u32, y: u32, pe: u8) -> PeId {
        PeId {
            router: RouterId::new(x, y),
            pe,
        }
    }

    #[test]
    fn xy_router_splits_only_where_paths_diverge() {
        let mut r = XyRouter::new();
        let src = RouterId::new(1, 1);
        r.add_group(7, src, vec![pe(3, 1, 0), pe(3, 3, 1), pe(1, 0, 2)]);
        let local = Port::Local(0);
        // At the source: east for the first two, south for the third.
        let s = r.route(src, 7, local);
        assert_eq!(
            s,
            [Port::Mesh(Direction::East), Port::Mesh(Direction::South)]
                .into_iter()
                .collect()
        );
        // At (3, 1): deliver locally to PE 0 and go north for (3, 3).
        let s = r.route(RouterId::new(3, 1), 7, Port::Mesh(Direction::West));
        assert_eq!(
            s,
            [Port::Local(0), Port::Mesh(Direction::North)]
                .into_iter()
                .collect()
        );
        // Off the tree: nothing.
        assert!(r.route(RouterId::new(0, 0), 7, local).is_empty());
        // Unknown key: nothing.
        assert!(r.route(src, 8, local).is_empty());
    }

    #[test]
    fn closures_are_routers() {
        let f = |_: RouterId, key: u32, _: Port| PortSet(u64::from(key));
        assert_eq!(f.route(RouterId::new(0, 0), 5, Port::Local(0)), PortSet(5));
    }
}
