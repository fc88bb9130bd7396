//! The cortex-m4 / cortex-m7 backend: a [`Plan`] becomes a self-contained C99 library
//! (`model.h`, `model.c`, `weights.c`; API in `notes/arm_abi.md`), compiled by the user's
//! toolchain for the microcontroller. C rather than machine code because cranelift has no 32-bit
//! Arm backend and every Cortex-M project already has a C compiler.
//!
//! Each kernel becomes one `static` function whose body follows the kernel's doc comment in
//! `plan/kernel.rs` literally; `snnc_model_run`/`snnc_model_step` call them in plan order.
//! Binary layers use a SWAR popcount (the M4 has no popcount instruction); int8 dense layers use
//! the DSP extension's dual 16-bit MAC (`__smlad`) when `__ARM_FEATURE_SIMD32` is defined and a
//! portable loop otherwise, with identical results.

mod batch;
mod cfmt;
mod emit;
mod footprint;
mod harness;
mod kern_dense;
mod kern_misc;
mod kern_quant;
mod kern_window;

use std::path::Path;

use super::plan::Plan;
use super::ArmError;

pub use batch::{run_host_batch, run_qemu_batch};
pub use footprint::{CodeSize, Footprint, KernelFootprint};
pub(crate) use harness::build_plugin;
pub use harness::{
    build_qemu, measure_code, run_host, run_qemu, QemuRun, DRIVER_C, LINK_LD, STARTUP_C,
};

/// Name of the target in errors.
pub(crate) const TARGET: &str = "cortex-m4";

/// The microcontroller the C is tuned for (both have the DSP extension; the M7 is dual issue,
/// which changes nothing in the emitted C but the compiler flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    CortexM4,
    CortexM7,
}

impl Cpu {
    /// The target name (`cortex-m4`, `cortex-m7`).
    pub fn name(self) -> &'static str {
        match self {
            Cpu::CortexM4 => "cortex-m4",
            Cpu::CortexM7 => "cortex-m7",
        }
    }

    /// `arm-none-eabi-gcc` flags for this CPU with its single-precision FPU, hard float ABI.
    pub fn gcc_flags(self) -> &'static [&'static str] {
        match self {
            Cpu::CortexM4 => &[
                "-mcpu=cortex-m4",
                "-mthumb",
                "-mfloat-abi=hard",
                "-mfpu=fpv4-sp-d16",
            ],
            Cpu::CortexM7 => &[
                "-mcpu=cortex-m7",
                "-mthumb",
                "-mfloat-abi=hard",
                "-mfpu=fpv5-sp-d16",
            ],
        }
    }
}

/// How binary layers count bits. The M4 has no popcount instruction; `Naive` (one bit per
/// iteration) exists to measure what SWAR gains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Popcount {
    /// Parallel bit counts within a word, byte sums deferred over up to 31 words.
    Swar,
    /// Bit by bit.
    Naive,
}

/// Options of [`emit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct COptions {
    pub cpu: Cpu,
    pub popcount: Popcount,
    /// Store a dense integer layer as compressed rows of its nonzero weights when at least this
    /// percentage of its weights are zero and the sparse form is smaller (100 disables).
    pub sparse_min_zero_percent: u32,
}

impl Default for COptions {
    fn default() -> Self {
        COptions {
            cpu: Cpu::CortexM4,
            popcount: Popcount::Swar,
            sparse_min_zero_percent: 60,
        }
    }
}

/// The emitted library: file names with their text, and the memory report.
#[derive(Clone, Debug, PartialEq)]
pub struct CArtifact {
    /// `model.h`, `model.c`, `weights.c`, in that order.
    pub files: Vec<(String, String)>,
    pub footprint: Footprint,
}

impl CArtifact {
    /// Text of file `name`, if emitted.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }

    /// Writes the files into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> Result<(), ArmError> {
        std::fs::create_dir_all(dir).map_err(|source| ArmError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for (name, text) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| ArmError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Emits the C library of `plan`. Deterministic: the same plan and options give byte-identical
/// files.
pub fn emit(plan: &Plan, opts: &COptions) -> Result<CArtifact, ArmError> {
    emit::emit(plan, opts)
}

/// A code-generation error naming the kernel (an inconsistent plan; a bug upstream).
pub(crate) fn codegen(reason: impl Into<String>) -> ArmError {
    ArmError::Codegen {
        target: TARGET,
        reason: reason.into(),
    }
}
