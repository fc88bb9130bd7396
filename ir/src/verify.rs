//! The verifier.

use crate::{Graph, IrError, NodeId};

/// What verification proved, handed to every consumer that needs a verified graph.
#[derive(Clone, Debug)]
pub struct GraphInfo {
    /// A deterministic topological order (recurrent edges ignored).
    pub order: Vec<NodeId>,
}

/// Check every invariant listed in the crate docs.
pub fn verify(g: &Graph) -> Result<GraphInfo, IrError> {
    let order = g.topo_order()?;
    Ok(GraphInfo { order })
}
