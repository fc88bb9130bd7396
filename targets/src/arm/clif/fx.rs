//! The state of one function being built and the small code-building vocabulary every kernel
//! uses: counted loops, loads and stores in a dtype's storage format, addresses of plan values
//! and of per-kernel constant tables, per-channel parameters.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, I32, I64, I8};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{DataDescription, DataId, Linkage, Module};
use snnc_ir::DType;
use std::collections::BTreeMap;

use crate::arm::plan::{Channels, Place, Plan, ValueId};
use crate::arm::ArmError;

/// Loops with at most this many iterations are emitted unrolled (straight-line code with
/// constant indices, which cranelift folds into the addressing).
const UNROLL: usize = 4;

/// Data objects shared by all functions of one model.
pub(super) struct Globals {
    /// Read-only bytes of every [`Place::Const`] value.
    pub values: BTreeMap<ValueId, DataId>,
    pub arena: Option<DataId>,
    pub state: Option<DataId>,
}

/// One function under construction, with what it needs to reach the model's data.
pub(super) struct Fx<'a, 'm, M: Module> {
    pub b: FunctionBuilder<'a>,
    pub module: &'m mut M,
    pub plan: &'m Plan,
    pub globals: &'m Globals,
    pub target: &'static str,
    /// Prefix of the names of this function's constant tables.
    pub prefix: String,
    /// The caller's `inputs` and `outputs` pointer arrays (function parameters).
    pub inputs: Value,
    pub outputs: Value,
    pub ptr: Type,
    tables: usize,
}

/// Memory accesses of generated code: never trap (every address is in bounds by construction)
/// and may be unaligned (caller buffers need not be aligned).
pub(super) fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// A per-channel (or per-neuron) parameter: an immediate when all entries are equal, else a
/// read-only table indexed by the channel.
pub(super) enum Param {
    Int(i64),
    F32(f32),
    /// Table address and element type (I32, I64 or F32).
    Table(Value, Type),
}

impl<'a, 'm, M: Module> Fx<'a, 'm, M> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: FunctionBuilder<'a>,
        module: &'m mut M,
        plan: &'m Plan,
        globals: &'m Globals,
        target: &'static str,
        prefix: String,
        inputs: Value,
        outputs: Value,
    ) -> Self {
        let ptr = module.target_config().pointer_type();
        Fx {
            b,
            module,
            plan,
            globals,
            target,
            prefix,
            inputs,
            outputs,
            ptr,
            tables: 0,
        }
    }

    /// Close the function: return, seal every block, finish SSA construction.
    pub fn finish(mut self, config: cranelift_codegen::isa::TargetFrontendConfig) {
        self.b.ins().return_(&[]);
        self.b.seal_all_blocks();
        self.b.finalize(config);
    }

    pub fn err(&self, reason: impl Into<String>) -> ArmError {
        ArmError::Codegen {
            target: self.target,
            reason: reason.into(),
        }
    }

    /// The dtype of plan value `v`.
    pub fn dtype(&self, v: ValueId) -> Result<DType, ArmError> {
        self.plan
            .values
            .get(v)
            .map(|x| x.dtype)
            .ok_or_else(|| self.err(format!("value {v} is not in the plan")))
    }

    /// Elements of plan value `v`.
    pub fn numel(&self, v: ValueId) -> Result<usize, ArmError> {
        self.plan
            .values
            .get(v)
            .map(|x| x.numel())
            .ok_or_else(|| self.err(format!("value {v} is not in the plan")))
    }

    /// Storage bytes of plan value `v`.
    pub fn bytes(&self, v: ValueId) -> Result<usize, ArmError> {
        self.plan
            .values
            .get(v)
            .map(|x| x.bytes())
            .ok_or_else(|| self.err(format!("value {v} is not in the plan")))
    }

    /// Address of the first byte of plan value `v` at run time.
    pub fn addr(&mut self, v: ValueId) -> Result<Value, ArmError> {
        let value = self
            .plan
            .values
            .get(v)
            .ok_or_else(|| self.err(format!("value {v} is not in the plan")))?;
        match &value.place {
            Place::Const(_) => {
                let id =
                    *self.globals.values.get(&v).ok_or_else(|| {
                        self.err(format!("constant `{}` has no data", value.name))
                    })?;
                Ok(self.data_addr(id))
            }
            Place::Input(n) => {
                let off = self.ptr_offset(*n)?;
                Ok(self.b.ins().load(self.ptr, mem(), self.inputs, off))
            }
            Place::Output(n) => {
                let off = self.ptr_offset(*n)?;
                Ok(self.b.ins().load(self.ptr, mem(), self.outputs, off))
            }
            Place::Arena(off) => {
                let id = self
                    .globals
                    .arena
                    .ok_or_else(|| self.err("arena value in a plan without arena"))?;
                let base = self.data_addr(id);
                Ok(self.offset(base, *off))
            }
        }
    }

    /// Address of byte `off` of the state region.
    pub fn state_addr(&mut self, off: usize) -> Result<Value, ArmError> {
        let id = self
            .globals
            .state
            .ok_or_else(|| self.err("stateful kernel in a plan without state"))?;
        let base = self.data_addr(id);
        Ok(self.offset(base, off))
    }

    fn ptr_offset(&self, n: usize) -> Result<i32, ArmError> {
        i32::try_from(n * self.ptr.bytes() as usize)
            .map_err(|_| self.err(format!("port {n} out of range")))
    }

    pub fn data_addr(&mut self, id: DataId) -> Value {
        let gv = self.module.declare_data_in_func(id, self.b.func);
        self.b.ins().symbol_value(self.ptr, gv)
    }

    /// `base + off` (no instruction for 0).
    pub fn offset(&mut self, base: Value, off: usize) -> Value {
        if off == 0 {
            base
        } else {
            self.b.ins().iadd_imm_s(base, off as i64)
        }
    }

    /// `base + i·size` for a run-time index `i` (i64).
    pub fn elem(&mut self, base: Value, i: Value, size: usize) -> Value {
        let scaled = if size == 1 {
            i
        } else {
            self.b.ins().imul_imm_s(i, size as i64)
        };
        self.b.ins().iadd(base, scaled)
    }

    /// A read-only table of this function (a data object named after it), returning its address.
    pub fn table(&mut self, what: &str, bytes: Vec<u8>) -> Result<Value, ArmError> {
        let name = format!("{}_{what}{}", self.prefix, self.tables);
        self.tables += 1;
        let id = self
            .module
            .declare_data(&name, Linkage::Local, false, false)
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        let mut desc = DataDescription::new();
        let bytes = if bytes.is_empty() { vec![0u8] } else { bytes };
        desc.define(bytes.into_boxed_slice());
        desc.set_align(16);
        self.module
            .define_data(id, &desc)
            .map_err(|e| self.err(format!("{name}: {e}")))?;
        Ok(self.data_addr(id))
    }

    /// An integer parameter per channel (immediate when uniform; table of i32 when every entry
    /// fits, else of i64).
    pub fn int_param(&mut self, what: &str, v: &[i64]) -> Result<Param, ArmError> {
        match v.first() {
            None => Err(self.err(format!("empty parameter `{what}`"))),
            Some(&first) if v.iter().all(|&x| x == first) => Ok(Param::Int(first)),
            Some(_) => {
                if v.iter().all(|&x| i32::try_from(x).is_ok()) {
                    let bytes = v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect();
                    Ok(Param::Table(self.table(what, bytes)?, I32))
                } else {
                    let bytes = v.iter().flat_map(|&x| x.to_le_bytes()).collect();
                    Ok(Param::Table(self.table(what, bytes)?, I64))
                }
            }
        }
    }

    /// An f32 parameter per channel (immediate when bitwise uniform, else a table).
    pub fn f32_param(&mut self, what: &str, v: &[f32]) -> Result<Param, ArmError> {
        match v.first() {
            None => Err(self.err(format!("empty parameter `{what}`"))),
            Some(&first) if v.iter().all(|&x| x.to_bits() == first.to_bits()) => {
                Ok(Param::F32(first))
            }
            Some(_) => {
                let bytes = v.iter().flat_map(|&x| x.to_le_bytes()).collect();
                Ok(Param::Table(self.table(what, bytes)?, F32))
            }
        }
    }

    /// Parameter `p` at channel `c` as an i64.
    pub fn get_int(&mut self, p: &Param, c: Value) -> Value {
        match *p {
            Param::Int(v) => self.b.ins().iconst(I64, v),
            Param::F32(v) => self.b.ins().iconst(I64, v as i64),
            Param::Table(base, ty) => {
                let a = self.elem(base, c, ty.bytes() as usize);
                if ty == I32 {
                    self.b.ins().sload32(mem(), a, 0)
                } else {
                    self.b.ins().load(I64, mem(), a, 0)
                }
            }
        }
    }

    /// Parameter `p` at channel `c` as an f32.
    pub fn get_f32(&mut self, p: &Param, c: Value) -> Value {
        match *p {
            Param::F32(v) => self.b.ins().f32const(v),
            Param::Int(v) => self.b.ins().f32const(v as f32),
            Param::Table(base, _) => {
                let a = self.elem(base, c, 4);
                self.b.ins().load(F32, mem(), a, 0)
            }
        }
    }

    pub fn iconst(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I64, v)
    }

    /// An i32 constant (immediates of narrow types are given zero-extended).
    pub fn iconst32(&mut self, v: i32) -> Value {
        self.b.ins().iconst(I32, i64::from(v as u32))
    }

    /// `for i in 0..n { body(i) }` with `i` an i64; unrolled for small `n`.
    pub fn loop_n(&mut self, n: usize, mut body: impl FnMut(&mut Self, Value)) {
        if n == 0 {
            return;
        }
        if n <= UNROLL {
            for i in 0..n {
                let iv = self.iconst(i as i64);
                body(self, iv);
            }
            return;
        }
        let var = self.b.declare_var(I64);
        let zero = self.iconst(0);
        self.b.def_var(var, zero);
        let head = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let i = self.b.use_var(var);
        body(self, i);
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.b.def_var(var, next);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, next, n as i64);
        self.b.ins().brif(more, head, &[], exit, &[]);
        self.b.switch_to_block(exit);
    }

    /// Visit the `numel` elements of a tensor in order, with the parameter index of each
    /// (`(i / inner) % channels`, [`Channels::of`]): `body(i, c)`. Nested loops when the
    /// tensor is a whole number of channel blocks, else a division per element.
    pub fn for_each_ch(
        &mut self,
        numel: usize,
        ch: Channels,
        mut body: impl FnMut(&mut Self, Value, Value),
    ) {
        let channels = ch.channels.max(1);
        let inner = ch.inner.max(1);
        if channels == 1 {
            self.loop_n(numel, |fx, i| {
                let c = fx.iconst(0);
                body(fx, i, c)
            });
        } else if numel % (channels * inner) == 0 {
            let outer = numel / (channels * inner);
            self.loop_n(outer, |fx, o| {
                fx.loop_n(channels, |fx, c| {
                    fx.loop_n(inner, |fx, n| {
                        let oc = fx.b.ins().imul_imm_s(o, channels as i64);
                        let oc = fx.b.ins().iadd(oc, c);
                        let base = fx.b.ins().imul_imm_s(oc, inner as i64);
                        let i = fx.b.ins().iadd(base, n);
                        body(fx, i, c)
                    })
                })
            });
        } else {
            self.loop_n(numel, |fx, i| {
                let q = fx.b.ins().udiv_imm_u(i, inner as i64);
                let c = fx.b.ins().urem_imm_u(q, channels as i64);
                body(fx, i, c)
            });
        }
    }

    /// Element `i` of a `dtype` array at `base`, as an i64 (signed or unsigned per dtype).
    pub fn load_i64(&mut self, dtype: DType, base: Value, i: Value) -> Value {
        let a = self.elem(base, i, dtype.size_bytes());
        let f = mem();
        let ins = self.b.ins();
        match dtype {
            DType::I8 => ins.sload8(I64, f, a, 0),
            DType::U8 | DType::Bool | DType::Bin => ins.uload8(I64, f, a, 0),
            DType::I16 => ins.sload16(I64, f, a, 0),
            DType::U16 => ins.uload16(I64, f, a, 0),
            DType::I32 | DType::F32 => ins.sload32(f, a, 0),
            DType::U32 => ins.uload32(f, a, 0),
            DType::I64 => ins.load(I64, f, a, 0),
        }
    }

    /// Element `i` of a `dtype` array at `base`, as an i32 (values of 32-bit types keep their
    /// bits: wrapping arithmetic on them is exact modulo 2^32).
    pub fn load_i32(&mut self, dtype: DType, base: Value, i: Value) -> Value {
        let a = self.elem(base, i, dtype.size_bytes());
        let f = mem();
        let ins = self.b.ins();
        match dtype {
            DType::I8 => ins.sload8(I32, f, a, 0),
            DType::U8 | DType::Bool | DType::Bin => ins.uload8(I32, f, a, 0),
            DType::I16 => ins.sload16(I32, f, a, 0),
            DType::U16 => ins.uload16(I32, f, a, 0),
            DType::I32 | DType::U32 | DType::F32 => ins.load(I32, f, a, 0),
            DType::I64 => {
                let v = ins.load(I64, f, a, 0);
                self.b.ins().ireduce(I32, v)
            }
        }
    }

    /// Store the low bits of i64 `v` as element `i` of a `dtype` array at `base`.
    pub fn store_i64(&mut self, dtype: DType, base: Value, i: Value, v: Value) {
        let a = self.elem(base, i, dtype.size_bytes());
        let f = mem();
        let ins = self.b.ins();
        match dtype.size_bytes() {
            1 => ins.istore8(f, v, a, 0),
            2 => ins.istore16(f, v, a, 0),
            4 => ins.istore32(f, v, a, 0),
            _ => ins.store(f, v, a, 0),
        };
    }

    /// Store the low bits of i32 `v` as element `i` of a `dtype` array at `base`.
    pub fn store_i32(&mut self, dtype: DType, base: Value, i: Value, v: Value) {
        let a = self.elem(base, i, dtype.size_bytes());
        let f = mem();
        match dtype.size_bytes() {
            1 => {
                self.b.ins().istore8(f, v, a, 0);
            }
            2 => {
                self.b.ins().istore16(f, v, a, 0);
            }
            4 => {
                self.b.ins().store(f, v, a, 0);
            }
            _ => {
                let w = self.b.ins().sextend(I64, v);
                self.b.ins().store(f, w, a, 0);
            }
        }
    }

    /// f32 element `i` of the array at `base`.
    pub fn load_f32(&mut self, base: Value, i: Value) -> Value {
        let a = self.elem(base, i, 4);
        self.b.ins().load(F32, mem(), a, 0)
    }

    pub fn store_f32(&mut self, base: Value, i: Value, v: Value) {
        let a = self.elem(base, i, 4);
        self.b.ins().store(mem(), v, a, 0);
    }

    /// Zero `bytes` bytes at `base` (8 at a time, then single bytes).
    pub fn zero(&mut self, base: Value, bytes: usize) {
        let words = bytes / 8;
        let zero = self.iconst(0);
        self.loop_n(words, |fx, i| {
            let a = fx.elem(base, i, 8);
            fx.b.ins().store(mem(), zero, a, 0);
        });
        for t in words * 8..bytes {
            let zero8 = self.b.ins().iconst(I8, 0);
            self.b.ins().store(mem(), zero8, base, t as i32);
        }
    }

    /// Copy `bytes` bytes from `src` to `dst` (8 at a time, then single bytes).
    pub fn copy(&mut self, dst: Value, src: Value, bytes: usize) {
        let words = bytes / 8;
        self.loop_n(words, |fx, i| {
            let s = fx.elem(src, i, 8);
            let d = fx.elem(dst, i, 8);
            let v = fx.b.ins().load(I64, mem(), s, 0);
            fx.b.ins().store(mem(), v, d, 0);
        });
        for t in words * 8..bytes {
            let v = self.b.ins().load(I8, mem(), src, t as i32);
            self.b.ins().store(mem(), v, dst, t as i32);
        }
    }
}
