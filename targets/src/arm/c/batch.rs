//! Batched runs of emitted C models (see [`crate::arm::batch`]): natively with the host `cc`,
//! or for a Cortex-M under `qemu-system-arm`. Every model's `model.c` and `weights.c` are
//! compiled with exactly the flags of [`run_host`](super::run_host) /
//! [`run_qemu`](super::run_qemu); `ld -r` joins them and `objcopy` renames the entry points.

use std::path::{Path, PathBuf};

use super::harness::{qemu_argv, s, tool, LINK_LD, STARTUP_C, WARN};
use super::Cpu;
use crate::arm::batch::{rename_args, run, BatchItem, Toolchain};
use crate::arm::ArmError;

/// The flags every model file is compiled with, after the CPU's.
const OPT: [&str; 2] = ["-O2", "-ffp-contract=off"];

/// Compiles `model.c` and `weights.c` of `dir` with `gcc` and `flags` into `scratch`, joins
/// them with `ld -r` and renames the entry points with `objcopy`.
fn c_object(
    tools: [&str; 3],
    flags: &[&str],
    dir: &Path,
    scratch: &Path,
    index: usize,
    stateful: bool,
) -> Result<PathBuf, ArmError> {
    let [gcc, ld, objcopy] = tools;
    let mut args = s(flags);
    args.extend(s(&WARN));
    args.extend(s(&OPT));
    args.push("-c".into());
    for f in ["model.c", "weights.c"] {
        args.push(dir.join(f).display().to_string());
    }
    tool(gcc, &args, scratch, "compiles a C model of a batch")?;
    tool(
        ld,
        &s(&["-r", "-o", "joined.o", "model.o", "weights.o"]),
        scratch,
        "joins a C model's objects",
    )?;
    let out = scratch.join(format!("b{index}.o"));
    tool(
        objcopy,
        &rename_args(index, stateful, Path::new("joined.o"), &out),
        scratch,
        "renames a C model's entry points",
    )?;
    Ok(out)
}

fn objects(objects: &[PathBuf]) -> Vec<String> {
    objects.iter().map(|o| o.display().to_string()).collect()
}

struct Host;

impl Toolchain for Host {
    fn object(
        &self,
        dir: &Path,
        scratch: &Path,
        index: usize,
        stateful: bool,
    ) -> Result<PathBuf, ArmError> {
        c_object(["cc", "ld", "objcopy"], &[], dir, scratch, index, stateful)
    }

    fn link_and_run(&self, scratch: &Path, objs: &[PathBuf]) -> Result<(), ArmError> {
        let mut args = s(&WARN);
        args.extend(s(&OPT));
        args.push("driver.c".into());
        args.extend(objects(objs));
        // fmaf of the float dense layer where the host has no FMA instruction.
        args.extend(s(&["-o", "prog", "-lm"]));
        tool(
            "cc",
            &args,
            scratch,
            "links a batch of C models for the host",
        )?;
        let prog = scratch.join("prog").display().to_string();
        tool(&prog, &[], scratch, "runs a batch of C models on the host")?;
        Ok(())
    }
}

struct Qemu(Cpu);

impl Toolchain for Qemu {
    fn object(
        &self,
        dir: &Path,
        scratch: &Path,
        index: usize,
        stateful: bool,
    ) -> Result<PathBuf, ArmError> {
        c_object(
            [
                "arm-none-eabi-gcc",
                "arm-none-eabi-ld",
                "arm-none-eabi-objcopy",
            ],
            self.0.gcc_flags(),
            dir,
            scratch,
            index,
            stateful,
        )
    }

    fn link_and_run(&self, scratch: &Path, objs: &[PathBuf]) -> Result<(), ArmError> {
        for (name, text) in [("startup.c", STARTUP_C), ("link.ld", LINK_LD)] {
            let p = scratch.join(name);
            std::fs::write(&p, text).map_err(|source| ArmError::Io {
                path: p.display().to_string(),
                source,
            })?;
        }
        let mut args = s(self.0.gcc_flags());
        args.extend(s(&WARN));
        args.extend(s(&OPT));
        args.extend(s(&[
            "--specs=rdimon.specs",
            "-T",
            "link.ld",
            "startup.c",
            "driver.c",
        ]));
        args.extend(objects(objs));
        args.extend(s(&["-o", "prog.elf"]));
        tool(
            "arm-none-eabi-gcc",
            &args,
            scratch,
            "links a batch of C models for the Cortex-M",
        )?;
        qemu_argv(scratch, &["prog".to_string()], None)?;
        Ok(())
    }
}

/// Runs the C models of `items` natively, many per program (see [`crate::arm::batch`]); one
/// result per item: its output bytes, equal to what [`run_host`](super::run_host) returns.
pub fn run_host_batch(items: &[BatchItem]) -> Vec<Result<Vec<u8>, ArmError>> {
    run(items, &Host, "host")
}

/// Runs the C models of `items` for `cpu` under `qemu-system-arm`, many per firmware image;
/// one result per item, equal to what [`run_qemu`](super::run_qemu) returns.
pub fn run_qemu_batch(items: &[BatchItem], cpu: Cpu) -> Vec<Result<Vec<u8>, ArmError>> {
    run(items, &Qemu(cpu), cpu.name())
}
