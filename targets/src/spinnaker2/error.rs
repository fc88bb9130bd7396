//! Errors of the spinnaker2 backend: one enum for the whole target so the CLI renders every
//! failure the same way, each variant naming the node / population / projection and the reason.

use thiserror::Error;

use super::machine::MachineError;

/// An IR node the target cannot run, with the reason (collected so all are reported at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Node name.
    pub node: String,
    /// Op name as printed in the IR text.
    pub op: String,
    /// Why the target cannot run it, and what to do instead.
    pub reason: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node `{}` ({}): {}", self.node, self.op, self.reason)
    }
}

fn list(items: &[Unsupported]) -> String {
    items
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything that can go wrong compiling for or loading a spinnaker2 artifact.
#[derive(Debug, Error)]
pub enum Spinnaker2Error {
    /// A node uses an op (or a form of it) the target cannot run.
    #[error("spinnaker2: node `{node}` ({op}) is not supported: {reason}")]
    UnsupportedOp {
        node: String,
        op: String,
        reason: String,
    },
    /// Several unsupported nodes, reported together.
    #[error("spinnaker2: {} unsupported nodes: {}", .0.len(), list(.0))]
    UnsupportedOps(Vec<Unsupported>),
    /// Pipelining constraints cannot be met (e.g. a recurrent edge against the data flow, or a
    /// delay longer than the hardware delay buffers).
    #[error("spinnaker2: cannot schedule {what}: {reason}")]
    Unschedulable { what: String, reason: String },
    /// A value does not fit the hardware word it must live in.
    #[error("spinnaker2: {what} overflows: {reason}")]
    Overflow { what: String, reason: String },
    /// The graph or network is structurally invalid for this target.
    #[error("spinnaker2: {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// The machine description is unusable.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// The model needs more than the machine has (PEs, SRAM of one PE, routing keys); the
    /// reason gives the numbers, e.g. "needs 200 PEs, machine has 152".
    #[error("spinnaker2: model too big for the machine: {reason}")]
    TooBig { reason: String },
    /// A router's multicast table does not fit even after compression.
    #[error("spinnaker2: routing table of router {router} does not fit: {reason}")]
    RoutingTable { router: String, reason: String },
    /// Partitioning, placement, layout or image building failed; `what` names the part.
    #[error("spinnaker2: mapping {what}: {reason}")]
    Mapping { what: String, reason: String },
}

impl Spinnaker2Error {
    /// Build the error for a list of unsupported nodes: one variant for one node, the list
    /// variant for several.
    pub fn unsupported(mut items: Vec<Unsupported>) -> Self {
        if items.len() == 1 {
            if let Some(u) = items.pop() {
                return Spinnaker2Error::UnsupportedOp {
                    node: u.node,
                    op: u.op,
                    reason: u.reason,
                };
            }
        }
        Spinnaker2Error::UnsupportedOps(items)
    }
}
