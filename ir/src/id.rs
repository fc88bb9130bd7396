//! Typed node ids.
//!
//! Petgraph's `NodeIndex` stays behind this type so that no crate above `ir` depends on how the
//! graph is stored. Ids are stable across node removal (the graph is a `StableDiGraph`).

use std::fmt;

use petgraph::stable_graph::NodeIndex;

/// A node of a [`crate::Graph`]; also names the single value that node produces.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    pub(crate) fn from_index(ix: NodeIndex<u32>) -> Self {
        NodeId(ix.index() as u32)
    }

    pub(crate) fn index(self) -> NodeIndex<u32> {
        NodeIndex::new(self.0 as usize)
    }

    /// The raw number, as printed in the text form (`n7`).
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
