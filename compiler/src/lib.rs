//! snnc's frontends, passes and pipeline. The `snnc` binary is a thin layer over this library.

pub mod error;
pub mod frontend;
pub mod inspect;
pub mod npy;
pub mod output;

pub use error::{CliError, ImportError};
