//! snnc's frontends, passes and pipeline. The `snnc` binary is a thin layer over this library.

pub mod cli;
pub mod encode;
pub mod error;
pub mod frontend;
pub mod inspect;
pub mod load;
pub mod npy;
pub mod output;
pub mod passes;
pub mod report;
pub mod sim;

pub use error::{CliError, ImportError};
