//! The cycle-level emulator of the spinnaker2 target and the artifact loader (issue 4).
pub mod emu;
pub mod noc;
