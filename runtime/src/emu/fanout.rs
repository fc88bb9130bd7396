//! Where each key goes: the multicast tree of every key a PE can send, walked once through the
//! routing tables at load time. Routing is static, so the untimed mode delivers a spike with one
//! slice copy instead of a table walk, and the report gets hop counts without the NoC.

use super::error::EmuError;
use super::router::TableRouter;
use crate::noc::{Port, Router, RouterId};

/// The walk of one key: PEs reached (emulator PE indices, in walk order, a PE twice if two
/// branches reach it), copies a router consumed without a route, mesh links crossed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    pub targets: Vec<u32>,
    pub lost: u32,
    pub hops: u32,
    /// Copies delivered to a local port with no program on it.
    pub idle: u32,
}

/// Every sending PE's trees, neuron by neuron. Consecutive neurons with equal trees share one
/// stored copy (a slice's keys usually all route alike).
#[derive(Clone, Debug, Default)]
pub(crate) struct Fanout {
    /// Per PE: start index and count of its neurons in `tree_of`.
    base: Vec<(usize, usize)>,
    /// Per (PE, neuron): index into `trees`.
    tree_of: Vec<u32>,
    trees: Vec<Tree>,
}

/// Walks `key` from local port `local` of `source` through `router`. `pe_at` maps
/// `(router index, local port)` to an emulator PE index. Errors on a routing loop.
pub(crate) fn walk(
    router: &TableRouter,
    source: RouterId,
    local: u8,
    key: u32,
    pe: u32,
    max_hops: u32,
    pe_at: &dyn Fn(u32, u8) -> Option<u32>,
) -> Result<Tree, EmuError> {
    let mut tree = Tree::default();
    let mut stack: Vec<(RouterId, Port, u32)> = vec![(source, Port::Local(local), 0)];
    while let Some((at, in_port, hops)) = stack.pop() {
        let ports = router.route(at, key, in_port);
        if ports.is_empty() {
            tree.lost += 1;
            continue;
        }
        for idx in ports.indices() {
            match Port::from_index(idx) {
                Some(Port::Mesh(d)) => {
                    let (dx, dy) = d.delta();
                    let x = i64::from(at.x) + dx;
                    let y = i64::from(at.y) + dy;
                    let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
                        tree.lost += 1;
                        continue;
                    };
                    if x >= router.width() || y >= router.height() {
                        tree.lost += 1;
                        continue;
                    }
                    if hops >= max_hops {
                        return Err(EmuError::RoutingLoop {
                            key,
                            pe,
                            limit: max_hops,
                        });
                    }
                    tree.hops += 1;
                    stack.push((RouterId::new(x, y), Port::Mesh(d.opposite()), hops + 1));
                }
                Some(Port::Local(p)) => {
                    let index = at.y * router.width() + at.x;
                    match pe_at(index, p) {
                        Some(target) => tree.targets.push(target),
                        None => tree.idle += 1,
                    }
                }
                None => tree.lost += 1,
            }
        }
    }
    Ok(tree)
}

impl Fanout {
    /// Starts an empty fan-out for `pes` PEs.
    pub(crate) fn with_pes(pes: usize) -> Fanout {
        Fanout {
            base: Vec::with_capacity(pes + 1),
            tree_of: Vec::new(),
            trees: Vec::new(),
        }
    }

    /// Appends the trees of the next PE's neurons, in PE order.
    pub(crate) fn push_pe(&mut self, trees: Vec<Tree>) {
        self.base.push((self.tree_of.len(), trees.len()));
        for t in trees {
            let same = self.trees.last().is_some_and(|last| *last == t);
            if !same {
                self.trees.push(t);
            }
            self.tree_of
                .push(u32::try_from(self.trees.len().saturating_sub(1)).unwrap_or(u32::MAX));
        }
    }

    /// The tree of neuron `i` of PE `pe` (empty for a PE that sends nothing).
    #[inline]
    pub(crate) fn tree(&self, pe: usize, i: usize) -> Option<&Tree> {
        let (base, count) = *self.base.get(pe)?;
        if i >= count {
            return None;
        }
        let t = *self.tree_of.get(base + i)?;
        self.trees.get(t as usize)
    }
}
