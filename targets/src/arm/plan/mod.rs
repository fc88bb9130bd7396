//! The ARM backends' common input: a model as a straight-line list of [`Kernel`]s over values
//! with fixed storage. Lowering the graph to a plan once (`lower`) keeps every semantic decision
//! (broadcasts, transposes, folded float pre-computation, bit packing, arena offsets) in one
//! place, so the C backend (cortex-m4/m7) and the cranelift backend (aarch64, host) only
//! translate kernels and cannot disagree on meaning.

mod arena;
mod encode;
mod exec;
mod kernel;
mod lower;

pub use arena::reads_writes;
pub use encode::{decode, encode, pack_bin_rows};
pub use exec::PlanMachine;
pub use lower::lower;

pub use kernel::{BinaryOp, Channels, F32Weights, Kernel, PoolKind, Reset, Window};

use snnc_ir::DType;

/// Index of a value in [`Plan::values`].
pub type ValueId = usize;

/// Alignment, in bytes, of every value in the arena and state regions (enough for 128-bit
/// vector loads).
pub const ALIGN: usize = 16;

/// Where a value's bytes live at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// Read-only data (flash on a microcontroller, `.rodata` in an object): the bytes in the
    /// storage format of the value's dtype (see `kernel.rs`).
    Const(Vec<u8>),
    /// Graph input number `n`, read from the caller's buffer.
    Input(usize),
    /// Graph output number `n`, written into the caller's buffer.
    Output(usize),
    /// Scratch memory at this byte offset of the arena (live only during one run/step).
    Arena(usize),
}

/// One tensor of the compiled model.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The IR node that produced it (for diagnostics and generated names).
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub place: Place,
}

impl Value {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of its storage (bin: packed rows of u32 words).
    pub fn bytes(&self) -> usize {
        storage_bytes(self.dtype, &self.shape)
    }
}

/// Bytes a tensor of `dtype` and `shape` occupies in the storage format of `kernel.rs`.
pub fn storage_bytes(dtype: DType, shape: &[usize]) -> usize {
    let numel: usize = shape.iter().product();
    match dtype {
        DType::Bin => {
            let last = shape.last().copied().unwrap_or(1);
            let rows = numel.checked_div(last).unwrap_or(0);
            rows * last.div_ceil(32) * 4
        }
        DType::Bool => numel,
        other => numel * other.size_bytes(),
    }
}

/// A graph input or output as the generated API exposes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub value: ValueId,
}

/// A model ready for code generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The graph's name.
    pub name: String,
    /// Whether the model keeps state between calls (SNNs): then the API is
    /// `init` + `step`, otherwise `run`.
    pub stateful: bool,
    pub values: Vec<Value>,
    pub kernels: Vec<Kernel>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Size of the scratch arena (bytes, a multiple of [`ALIGN`]).
    pub arena_bytes: usize,
    /// Size of the persistent state region (bytes; neuron membranes), zeroed by `init`.
    pub state_bytes: usize,
}
