//! aarch64 ELF objects through cranelift-object (triple `aarch64-unknown-linux-gnu`).

use std::path::Path;
use std::str::FromStr;

use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_object::{ObjectBuilder, ObjectModule};
use target_lexicon::Triple;

use super::translate::translate;
use crate::arm::header::model_h;
use crate::arm::plan::Plan;
use crate::arm::ArmError;

const TARGET: &str = "aarch64";

/// The compiled model for aarch64.
#[derive(Clone, Debug, PartialEq)]
pub struct Aarch64Artifact {
    /// ELF relocatable object defining `snnc_model_init` and `snnc_model_run`/`_step`.
    pub object: Vec<u8>,
    /// `model.h` declaring them.
    pub header: String,
    /// The CLIF of every generated function (for review and snapshot tests).
    pub clif: String,
}

fn codegen(reason: impl std::fmt::Display) -> ArmError {
    ArmError::Codegen {
        target: TARGET,
        reason: reason.to_string(),
    }
}

/// Cranelift's aarch64 backend, optimising for speed, position independent code (links into
/// PIE and static executables alike).
pub fn aarch64_isa() -> Result<OwnedTargetIsa, ArmError> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(codegen)?;
    flags.set("is_pic", "true").map_err(codegen)?;
    let triple = Triple::from_str("aarch64-unknown-linux-gnu").map_err(codegen)?;
    isa::lookup(triple)
        .map_err(codegen)?
        .finish(settings::Flags::new(flags))
        .map_err(codegen)
}

/// Compile `plan` to an aarch64 object, its header and its CLIF text.
pub fn emit_object(plan: &Plan) -> Result<Aarch64Artifact, ArmError> {
    let builder = ObjectBuilder::new(
        aarch64_isa()?,
        "snnc_model",
        cranelift_module::default_libcall_names(),
    )
    .map_err(codegen)?;
    let mut module = ObjectModule::new(builder);
    let t = translate(&mut module, plan, TARGET)?;
    let object = module.finish().emit().map_err(codegen)?;
    Ok(Aarch64Artifact {
        object,
        header: model_h(plan, "aarch64, cranelift"),
        clif: t.clif,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ArmError> {
    std::fs::write(path, bytes).map_err(|source| ArmError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Aarch64Artifact {
    /// Write `model.o`, `model.h` and `model.clif` into `dir` (created if missing): the
    /// artifact directory [`run_qemu_aarch64`](super::run_qemu_aarch64) runs.
    pub fn write_to(&self, dir: &Path) -> Result<(), ArmError> {
        std::fs::create_dir_all(dir).map_err(|source| ArmError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        write(&dir.join("model.o"), &self.object)?;
        write(&dir.join("model.h"), self.header.as_bytes())?;
        write(&dir.join("model.clif"), self.clif.as_bytes())
    }
}
