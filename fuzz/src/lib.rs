//! Fuzz harness of snnc: the entry points live in `entry.rs` so that the stable replay test
//! (`compiler/tests/fuzz_replay.rs`) runs the very same code on the committed corpus.

pub mod entry;
