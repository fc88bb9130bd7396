//! ARM edge targets (issue 5): bare-metal Cortex-M4/M7 through emitted C, and aarch64 (ELF
//! object) and the host (JIT) through cranelift. Both start from one [`plan::Plan`].

pub mod batch;
pub mod c;
pub mod clif;
pub mod error;
pub mod header;
pub mod manifest;
pub mod plan;

pub use batch::BatchItem;
pub use error::ArmError;
