//! The state of one stateful node while the interpreter runs: the float neurons and delays
//! ([`StepState`]) or the fixed-point LIF ([`IntLifState`]).

use crate::op::int::IntLifState;
use crate::op::neuron::{new_state, StepState};
use crate::{IrError, Op, Tensor};

/// Per-node state, stepped once per time step.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum NodeState {
    Float(StepState),
    Int(IntLifState),
}

impl NodeState {
    /// The t = 0 state of `op` for values of `shape`, `None` for stateless ops. `dt` drives the
    /// float neurons and delays; the integer LIF counts steps and ignores it.
    pub(crate) fn new(op: &Op, shape: &[usize], dt: f32) -> Result<Option<Self>, IrError> {
        match op {
            Op::IntLif(l) => Ok(Some(NodeState::Int(IntLifState::new(l, shape)?))),
            _ => Ok(new_state(op, shape, dt)?.map(NodeState::Float)),
        }
    }

    /// Advance one step with this step's input and return the node's value.
    pub(crate) fn step(&mut self, input: &Tensor) -> Result<Tensor, IrError> {
        match self {
            NodeState::Float(s) => s.step(input),
            NodeState::Int(s) => s.step(input),
        }
    }

    /// Back to t = 0.
    pub(crate) fn reset(&mut self) {
        match self {
            NodeState::Float(s) => s.reset(),
            NodeState::Int(s) => s.reset(),
        }
    }
}
