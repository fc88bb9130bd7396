//! snnc's intermediate representation.
//!
//! A model is a [`Graph`]: nodes each holding one [`Op`] and producing one value of a
//! [`TensorType`]; edges feed values into numbered input slots. Invariants of a verified graph
//! (see [`verify()`]):
//! - every node has a type, and that type is what [`infer::infer`] computes from its inputs;
//! - every input slot an op requires is connected exactly once;
//! - the graph without its *recurrent* edges is acyclic; a recurrent edge delivers the value of
//!   the previous time step (DESIGN.md §2);
//! - graph inputs and outputs are numbered densely from 0;
//! - constants are finite.
//!
//! The reference semantics of every op live next to the op (`op/<family>.rs`) and are executed by
//! [`interp`], the oracle every backend is tested against.

pub mod broadcast;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod id;
pub mod infer;
pub mod interp;
pub mod op;
pub mod rng;
pub mod tensor;
pub mod text;
pub mod types;
pub mod verify;

pub use dtype::DType;
pub use error::IrError;
pub use graph::{Edge, Graph, Node};
pub use id::NodeId;
pub use op::Op;
pub use tensor::{numel, Data, Tensor};
pub use types::{QuantParams, TensorType};
pub use verify::{verify, GraphInfo};
