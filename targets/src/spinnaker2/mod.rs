//! The spinnaker2 target: a SpiNNaker2-style many-core machine (DESIGN.md §5, issue 4).
//!
//! `machine` describes the chip and board every later stage reads its limits from. Routing
//! (key allocation, multicast tables, compression) lives in `routing`, written separately.

pub mod artifact;
pub mod build;
pub mod compile;
pub mod cost;
pub mod error;
pub mod kernel;
pub mod layout;
pub mod lower;
pub mod machine;
pub mod mapping_report;
pub mod network;
pub mod partition;
pub mod place;
pub mod prefix_merge;
pub mod routing;
pub mod synthetic;
