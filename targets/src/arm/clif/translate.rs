//! A [`Plan`] as cranelift functions and data objects in any [`Module`] (an object file for
//! aarch64, the JIT for the host): one local function per kernel, the exported entry points
//! that call them in order, the constants as read-only data and the arena and state as
//! writable zero-initialised data.

use std::collections::BTreeMap;

use cranelift_codegen::ir::{AbiParam, InstBuilder, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module, ModuleError};

use super::fx::{Fx, Globals};
use super::kernels;
use crate::arm::plan::{Place, Plan};
use crate::arm::ArmError;

/// Name of the function that zeroes the state.
pub const INIT: &str = "snnc_model_init";
/// Name of the entry point of a feed-forward model.
pub const RUN: &str = "snnc_model_run";
/// Name of the entry point of a stateful model (one time step).
pub const STEP: &str = "snnc_model_step";

/// The functions of a translated plan.
pub(super) struct Translated {
    /// CLIF text of every function, in definition order.
    pub clif: String,
    pub init: FuncId,
    /// `snnc_model_run` or `snnc_model_step`.
    pub entry: FuncId,
}

fn module_err(target: &'static str, what: &str, e: ModuleError) -> ArmError {
    let reason = match e {
        ModuleError::Compilation(c) => format!("{what}: {c:?}"),
        other => format!("{what}: {other}"),
    };
    ArmError::Codegen { target, reason }
}

fn data<M: Module>(
    module: &mut M,
    target: &'static str,
    name: &str,
    writable: bool,
    desc: &DataDescription,
) -> Result<DataId, ArmError> {
    let id = module
        .declare_data(name, Linkage::Local, writable, false)
        .map_err(|e| module_err(target, name, e))?;
    module
        .define_data(id, desc)
        .map_err(|e| module_err(target, name, e))?;
    Ok(id)
}

fn zeroed<M: Module>(
    module: &mut M,
    target: &'static str,
    name: &str,
    bytes: usize,
) -> Result<Option<DataId>, ArmError> {
    if bytes == 0 {
        return Ok(None);
    }
    let mut desc = DataDescription::new();
    desc.define_zeroinit(bytes);
    desc.set_align(16);
    data(module, target, name, true, &desc).map(Some)
}

/// Translate `plan` into `module`.
pub(super) fn translate<M: Module>(
    module: &mut M,
    plan: &Plan,
    target: &'static str,
) -> Result<Translated, ArmError> {
    let mut globals = Globals {
        values: BTreeMap::new(),
        arena: zeroed(module, target, "snnc_arena", plan.arena_bytes)?,
        state: zeroed(module, target, "snnc_state", plan.state_bytes)?,
    };
    for (id, v) in plan.values.iter().enumerate() {
        if let Place::Const(bytes) = &v.place {
            let mut desc = DataDescription::new();
            let bytes = if bytes.is_empty() {
                vec![0u8]
            } else {
                bytes.clone()
            };
            desc.define(bytes.into_boxed_slice());
            desc.set_align(16);
            let id_data = data(module, target, &format!("snnc_v{id}"), false, &desc)?;
            globals.values.insert(id, id_data);
        }
    }
    let ptr = module.target_config().pointer_type();
    let config = module.target_config();
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut clif = String::new();
    let mut ids = Vec::new();
    for (i, k) in plan.kernels.iter().enumerate() {
        let name = format!("snnc_k{i}_{}", k.kind());
        let fid = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| module_err(target, &name, e))?;
        ctx.func.signature = sig.clone();
        ctx.func.name = UserFuncName::user(0, fid.as_u32());
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let (inputs, outputs) = (b.block_params(entry)[0], b.block_params(entry)[1]);
            let mut fx = Fx::new(
                b,
                module,
                plan,
                &globals,
                target,
                name.clone(),
                inputs,
                outputs,
            );
            kernels::emit(&mut fx, k)?;
            fx.finish(config);
        }
        clif.push_str(&format!("; {name}\n{}\n", ctx.func.display()));
        module
            .define_function(fid, &mut ctx)
            .map_err(|e| module_err(target, &name, e))?;
        module.clear_context(&mut ctx);
        ids.push(fid);
    }

    // The entry point: every kernel in order.
    let entry_name = if plan.stateful { STEP } else { RUN };
    let entry = module
        .declare_function(entry_name, Linkage::Export, &sig)
        .map_err(|e| module_err(target, entry_name, e))?;
    ctx.func.signature = sig.clone();
    ctx.func.name = UserFuncName::user(0, entry.as_u32());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        let args = [b.block_params(block)[0], b.block_params(block)[1]];
        for &fid in &ids {
            let callee = module.declare_func_in_func(fid, b.func);
            b.ins().call(callee, &args);
        }
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(config);
    }
    clif.push_str(&format!("; {entry_name}\n{}\n", ctx.func.display()));
    module
        .define_function(entry, &mut ctx)
        .map_err(|e| module_err(target, entry_name, e))?;
    module.clear_context(&mut ctx);

    // init: zero the state region.
    let init_sig = module.make_signature();
    let init = module
        .declare_function(INIT, Linkage::Export, &init_sig)
        .map_err(|e| module_err(target, INIT, e))?;
    ctx.func.signature = init_sig;
    ctx.func.name = UserFuncName::user(0, init.as_u32());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let block = b.create_block();
        b.switch_to_block(block);
        let zero = b.ins().iconst(ptr, 0);
        let mut fx = Fx::new(b, module, plan, &globals, target, INIT.into(), zero, zero);
        if plan.state_bytes > 0 {
            let base = fx.state_addr(0)?;
            fx.zero(base, plan.state_bytes);
        }
        fx.finish(config);
    }
    clif.push_str(&format!("; {INIT}\n{}\n", ctx.func.display()));
    module
        .define_function(init, &mut ctx)
        .map_err(|e| module_err(target, INIT, e))?;
    module.clear_context(&mut ctx);
    Ok(Translated { clif, init, entry })
}
