//! Type inference: the type of a node's value from its op and its input types.

use crate::{IrError, Op, TensorType};

/// The type `op` produces from `inputs` (`None` for a recurrent input whose type is not known
/// yet). `name` is only used in errors.
pub fn infer(op: &Op, name: &str, inputs: &[Option<&TensorType>]) -> Result<TensorType, IrError> {
    let _ = inputs;
    Err(IrError::node(name, op.name(), "type inference not written yet"))
}
