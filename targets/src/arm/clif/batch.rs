//! Batched runs of aarch64 objects under `qemu-aarch64` (see [`crate::arm::batch`]): each
//! model's `model.o` is used as emitted, its entry points renamed by `objcopy`; one static
//! program holds the whole batch.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::qemu::{find_tool, run, GCC, QEMU};
use crate::arm::batch::{rename_args, BatchItem, Toolchain};
use crate::arm::ArmError;

/// The binutils that rename symbols, and its Debian package.
const OBJCOPY: (&str, &str) = ("aarch64-linux-gnu-objcopy", "binutils-aarch64-linux-gnu");

struct Aarch64 {
    gcc: PathBuf,
    qemu: PathBuf,
    objcopy: PathBuf,
}

impl Toolchain for Aarch64 {
    fn object(
        &self,
        dir: &Path,
        scratch: &Path,
        index: usize,
        stateful: bool,
    ) -> Result<PathBuf, ArmError> {
        let out = scratch.join(format!("b{index}.o"));
        run(Command::new(&self.objcopy)
            .current_dir(scratch)
            .args(rename_args(index, stateful, &dir.join("model.o"), &out)))?;
        Ok(out)
    }

    fn link_and_run(&self, scratch: &Path, objects: &[PathBuf]) -> Result<(), ArmError> {
        run(Command::new(&self.gcc)
            .current_dir(scratch)
            .args(["-O2", "-static", "driver.c"])
            .args(objects)
            .args(["-o", "prog"]))?;
        run(Command::new(&self.qemu).current_dir(scratch).arg("./prog"))?;
        Ok(())
    }
}

/// Runs the aarch64 objects of `items` under `qemu-aarch64`, many per program (see
/// [`crate::arm::batch`]); one result per item, equal to what
/// [`run_qemu_aarch64`](super::run_qemu_aarch64) returns.
pub fn run_qemu_aarch64_batch(items: &[BatchItem]) -> Vec<Result<Vec<u8>, ArmError>> {
    let tools = (|| {
        Ok::<_, ArmError>(Aarch64 {
            gcc: find_tool(GCC.0, GCC.1, "links the aarch64 harness")?,
            qemu: find_tool(QEMU.0, QEMU.1, "runs the aarch64 harness")?,
            objcopy: find_tool(OBJCOPY.0, OBJCOPY.1, "renames the models of a batch")?,
        })
    })();
    match tools {
        Ok(tc) => crate::arm::batch::run(items, &tc, "aarch64"),
        Err(e) => {
            let msg = e.to_string();
            items
                .iter()
                .map(|_| Err(ArmError::Data(msg.clone())))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::batch::fixtures::{binary, io, lif};
    use crate::arm::clif::emit_object;

    /// Three models (two of them the same plan) in one aarch64 program equal the executor.
    #[test]
    fn aarch64_batch_equals_the_plan_executor_per_model() {
        let root = std::env::temp_dir().join(format!("snnc-a64batch-{}", std::process::id()));
        let mut dirs = Vec::new();
        let mut data = Vec::new();
        for (i, (plan, n, t)) in [(lif(), 2, 3), (binary(), 4, 1), (lif(), 1, 2)]
            .into_iter()
            .enumerate()
        {
            let d = root.join(format!("m{i}"));
            emit_object(&plan)
                .and_then(|a| a.write_to(&d))
                .unwrap_or_else(|e| panic!("{e}"));
            data.push((io(&plan, n, t, 3 * i as u8), n, t));
            dirs.push(d);
        }
        let items: Vec<BatchItem> = dirs
            .iter()
            .zip(&data)
            .map(|(dir, ((x, _), n, t))| BatchItem {
                dir,
                input: x,
                n: *n,
                t: *t,
            })
            .collect();
        let out = run_qemu_aarch64_batch(&items);
        let _ = std::fs::remove_dir_all(&root);
        for (got, ((_, want), _, _)) in out.iter().zip(&data) {
            assert_eq!(got.as_ref().unwrap_or_else(|e| panic!("{e}")), want);
        }
    }
}
