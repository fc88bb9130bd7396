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
