//! The `ir` crate's error type.

use thiserror::Error;

/// Everything that can go wrong inside the IR: bad shapes, bad attributes, cycles, text that does
/// not parse, and simulation failures. Errors about a node name the node and its op, so a user can
/// find it in the model they gave.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IrError {
    #[error("node `{node}` ({op}): {reason}")]
    Node {
        node: String,
        op: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Tensor(String),
    #[error("node `{node}` lies on a cycle with no edge marked recurrent")]
    Cycle { node: String },
    #[error("line {line}, column {col}: {reason}")]
    Parse {
        line: usize,
        col: usize,
        reason: String,
    },
    #[error("{0}")]
    Graph(String),
}

impl IrError {
    /// An error about one node.
    pub fn node(node: impl Into<String>, op: &'static str, reason: impl Into<String>) -> Self {
        IrError::Node {
            node: node.into(),
            op,
            reason: reason.into(),
        }
    }

    /// Attach node context to an error that has none yet (tensor and graph errors).
    pub fn in_node(self, node: &str, op: &'static str) -> Self {
        match self {
            IrError::Tensor(reason) | IrError::Graph(reason) => IrError::node(node, op, reason),
            other => other,
        }
    }
}
