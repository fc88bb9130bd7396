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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::batch::fixtures::{binary, io, lif};
    use crate::arm::c::{emit, COptions};

    /// Input bytes, expected output bytes, samples and steps of one model.
    type Data = (Vec<u8>, Vec<u8>, usize, usize);

    /// Writes the C of both fixture plans (the second twice, with other inputs); returns their
    /// directories, inputs and expected outputs.
    fn items(tag: &str) -> (Vec<std::path::PathBuf>, Vec<Data>) {
        let root = std::env::temp_dir().join(format!("snnc-cbatch-{tag}-{}", std::process::id()));
        let mut dirs = Vec::new();
        let mut data = Vec::new();
        for (i, (plan, n, t)) in [(binary(), 3, 1), (lif(), 2, 4), (lif(), 1, 5)]
            .into_iter()
            .enumerate()
        {
            let d = root.join(format!("m{i}"));
            emit(&plan, &COptions::default())
                .and_then(|a| a.write_to(&d))
                .unwrap_or_else(|e| panic!("{e}"));
            let (x, y) = io(&plan, n, t, i as u8);
            dirs.push(d);
            data.push((x, y, n, t));
        }
        (dirs, data)
    }

    fn check(tag: &str, run: impl Fn(&[BatchItem]) -> Vec<Result<Vec<u8>, ArmError>>) {
        let (dirs, data) = items(tag);
        let mut list: Vec<BatchItem> = dirs
            .iter()
            .zip(&data)
            .map(|(dir, (x, _, n, t))| BatchItem {
                dir,
                input: x,
                n: *n,
                t: *t,
            })
            .collect();
        // One item whose input is one byte short: it alone fails.
        let short = &data[1].0[1..];
        list.insert(
            1,
            BatchItem {
                dir: &dirs[1],
                input: short,
                n: data[1].2,
                t: data[1].3,
            },
        );
        // A model that traps when run: the batch is split until it is alone.
        let trap = dirs[0].with_file_name("trap");
        let write = |f: &str, text: &str| {
            std::fs::create_dir_all(&trap).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(trap.join(f), text).unwrap_or_else(|e| panic!("{e}"));
        };
        let h = std::fs::read_to_string(dirs[0].join("model.h")).unwrap_or_default();
        write("model.h", &h);
        write(
            "model.c",
            "#include \"model.h\"\nvoid snnc_model_init(void) {}\n\
             void snnc_model_run(const void *const *inputs, void *const *outputs)\n\
             {\n    (void)inputs;\n    (void)outputs;\n    __builtin_trap();\n}\n",
        );
        write("weights.c", "typedef int snnc_no_weights;\n");
        list.insert(
            3,
            BatchItem {
                dir: &trap,
                input: &data[0].0,
                n: data[0].2,
                t: data[0].3,
            },
        );
        let out = run(&list);
        if let Some(root) = dirs[0].parent() {
            let _ = std::fs::remove_dir_all(root);
        }
        assert_eq!(out.len(), 5);
        assert!(matches!(out[1], Err(ArmError::Data(_))), "{:?}", out[1]);
        assert!(matches!(out[3], Err(ArmError::Tool { .. })), "{:?}", out[3]);
        for (got, (_, want, _, _)) in [&out[0], &out[2], &out[4]].into_iter().zip(&data) {
            assert_eq!(got.as_ref().unwrap_or_else(|e| panic!("{e}")), want);
        }
    }

    #[test]
    fn host_batch_equals_the_plan_executor_per_model() {
        check("host", run_host_batch);
    }

    #[test]
    fn cortex_m4_batch_equals_the_plan_executor_per_model() {
        check("m4", |items| run_qemu_batch(items, Cpu::CortexM4));
    }
}
