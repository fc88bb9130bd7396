//! The cranelift backend of the ARM plan (issue 5): aarch64 ELF objects (linked into a C program,
//! run under `qemu-aarch64`) and the host JIT, both from one translation of each
//! [`Kernel`](crate::arm::plan::Kernel) into CLIF.
//!
//! Code shape: one local function per kernel (`snnc_k{i}_{kind}`) taking the caller's `inputs`
//! and `outputs` pointer arrays, an exported `snnc_model_run` / `snnc_model_step` calling them
//! in order, and `snnc_model_init` zeroing the state. Constants and weight tables are read-only
//! data objects, `snnc_arena` and `snnc_state` writable zero-initialised ones.
//!
//! Exactness: integer kernels compute in i32 where the kernel wraps to i32 (wrapping is exact
//! modulo 2^32) and in i64 where it says so; float kernels emit one IEEE instruction per
//! written operation, never `fma`, with `nearest` for round-half-even. Binary layers XOR 16
//! bytes at a time and count bits with `popcnt.i8x16` (aarch64 `CNT`; on x86 cranelift's
//! SSSE3 nibble-table sequence), remaining words with scalar `popcnt`.

mod batch;
mod fx;
mod jit;
mod kernels;
mod object;
mod qemu;
mod translate;

pub use crate::arm::header::{model_h, parse_sizes};
pub use batch::run_qemu_aarch64_batch;
pub use jit::JitModel;
pub use object::{aarch64_isa, emit_object, Aarch64Artifact};
pub use qemu::{driver_c, find_tool, run_qemu_aarch64, run_qemu_aarch64_counted, GCC, QEMU};
pub use translate::{INIT, RUN, STEP};
