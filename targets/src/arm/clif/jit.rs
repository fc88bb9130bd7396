//! The same translation JIT-compiled for the machine snnc runs on, behind a safe interface.

use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};

use super::translate::translate;
use crate::arm::plan::Plan;
use crate::arm::ArmError;

const TARGET: &str = "host";

type EntryFn = unsafe extern "C" fn(*const *const u8, *const *mut u8);
type InitFn = unsafe extern "C" fn();

fn codegen(reason: impl std::fmt::Display) -> ArmError {
    ArmError::Codegen {
        target: TARGET,
        reason: reason.to_string(),
    }
}

/// A model compiled to native code in this process. Its arena and state live in the JIT's
/// data memory, so one `JitModel` runs one inference at a time (`&mut self`).
pub struct JitModel {
    /// Owns the code and data; freed on drop.
    module: Option<JITModule>,
    entry: EntryFn,
    init: InitFn,
    input_bytes: Vec<usize>,
    output_bytes: Vec<usize>,
    stateful: bool,
    clif: String,
}

impl JitModel {
    /// Compile `plan` for the host CPU (features detected at run time).
    pub fn compile(plan: &Plan) -> Result<Self, ArmError> {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").map_err(codegen)?;
        flags.set("is_pic", "false").map_err(codegen)?;
        let isa = cranelift_native::builder()
            .map_err(codegen)?
            .finish(settings::Flags::new(flags))
            .map_err(codegen)?;
        let mut module = JITModule::new(JITBuilder::with_isa(
            isa,
            cranelift_module::default_libcall_names(),
        ));
        let t = translate(&mut module, plan, TARGET)?;
        module.finalize_definitions().map_err(codegen)?;
        let entry = module.get_finalized_function(t.entry);
        let init = module.get_finalized_function(t.init);
        let bytes = |ports: &[crate::arm::plan::Port]| {
            ports
                .iter()
                .map(|p| plan.values.get(p.value).map_or(0, |v| v.bytes()))
                .collect()
        };
        // SAFETY: both pointers are functions this module just finalised with exactly these
        // signatures (two pointer arguments / none, no result, the platform C convention).
        let (entry, init) = unsafe {
            (
                std::mem::transmute::<*const u8, EntryFn>(entry),
                std::mem::transmute::<*const u8, InitFn>(init),
            )
        };
        let mut m = JitModel {
            module: Some(module),
            entry,
            init,
            input_bytes: bytes(&plan.inputs),
            output_bytes: bytes(&plan.outputs),
            stateful: plan.stateful,
            clif: t.clif,
        };
        m.init();
        Ok(m)
    }

    /// Storage bytes of each input port.
    pub fn input_bytes(&self) -> &[usize] {
        &self.input_bytes
    }

    /// Storage bytes of each output port.
    pub fn output_bytes(&self) -> &[usize] {
        &self.output_bytes
    }

    /// Whether [`run`](Self::run) is one time step of a stateful model.
    pub fn stateful(&self) -> bool {
        self.stateful
    }

    /// The CLIF the model was compiled from.
    pub fn clif(&self) -> &str {
        &self.clif
    }

    /// Zero the state (before each new sample of a stateful model).
    pub fn init(&mut self) {
        // SAFETY: the init function only writes the module's own state object.
        unsafe { (self.init)() }
    }

    /// One inference (or time step): every buffer must have exactly its port's storage size.
    pub fn run(&mut self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> Result<(), ArmError> {
        check("input", &self.input_bytes, inputs.iter().map(|b| b.len()))?;
        check(
            "output",
            &self.output_bytes,
            outputs.iter().map(|b| b.len()),
        )?;
        let ins: Vec<*const u8> = inputs.iter().map(|b| b.as_ptr()).collect();
        let outs: Vec<*mut u8> = outputs.iter_mut().map(|b| b.as_mut_ptr()).collect();
        // SAFETY: the code reads exactly `input_bytes[i]` bytes through `ins[i]` and writes
        // exactly `output_bytes[i]` through `outs[i]` (checked above), with unaligned accesses,
        // plus its own arena and state; `&mut self` keeps those exclusive.
        unsafe { (self.entry)(ins.as_ptr(), outs.as_ptr()) };
        Ok(())
    }

    /// The harness protocol of arm_abi.md in process: `input` holds `n` samples of `t` steps
    /// of all inputs concatenated; each sample starts with `init`; returns all outputs.
    pub fn run_raw(&mut self, input: &[u8], n: usize, t: usize) -> Result<Vec<u8>, ArmError> {
        let per_in: usize = self.input_bytes.iter().sum();
        let per_out: usize = self.output_bytes.iter().sum();
        if input.len() != n * t * per_in {
            return Err(ArmError::Data(format!(
                "input of {} bytes for {n} samples × {t} steps × {per_in} bytes",
                input.len()
            )));
        }
        let mut out = vec![0u8; n * t * per_out];
        let mut bufs: Vec<Vec<u8>> = self.output_bytes.iter().map(|&b| vec![0u8; b]).collect();
        for s in 0..n {
            self.init();
            for step in 0..t {
                let mut ins = Vec::new();
                let mut at = (s * t + step) * per_in;
                for &b in &self.input_bytes {
                    ins.push(input.get(at..at + b).unwrap_or_default());
                    at += b;
                }
                let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
                self.run(&ins, &mut outs)?;
                let mut at = (s * t + step) * per_out;
                for b in &bufs {
                    if let Some(dst) = out.get_mut(at..at + b.len()) {
                        dst.copy_from_slice(b);
                    }
                    at += b.len();
                }
            }
        }
        Ok(out)
    }
}

fn check(
    what: &str,
    want: &[usize],
    got: impl ExactSizeIterator<Item = usize>,
) -> Result<(), ArmError> {
    if got.len() != want.len() {
        return Err(ArmError::Data(format!(
            "{} {what} buffers for a model with {}",
            got.len(),
            want.len()
        )));
    }
    for (i, (g, w)) in got.zip(want).enumerate() {
        if g != *w {
            return Err(ArmError::Data(format!(
                "{what} {i} has {g} bytes; the model needs {w}"
            )));
        }
    }
    Ok(())
}

impl Drop for JitModel {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the only pointers into the module's memory are `entry` and `init`,
            // which die with `self`.
            unsafe { m.free_memory() };
        }
    }
}
