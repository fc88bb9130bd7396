//! Assembles `model.h`, `model.c` and `weights.c` from the per-kernel functions.

use std::fmt::Write as _;

use snnc_ir::DType;

use super::cfmt::{ctype, flit, ilit, init_list, narrowest, Param};
use super::footprint::{Footprint, KernelFootprint};
use super::{codegen, kern_dense, kern_misc, kern_quant, kern_window, CArtifact, COptions};
use crate::arm::plan::{Kernel, Place, Plan, Value, ValueId};
use crate::arm::ArmError;

/// Helpers shared by every kernel (rounding, popcount, SIMD selection).
const PRELUDE: &str = include_str!("prelude.c");

/// A constant array of `weights.c`.
pub(crate) struct Weight {
    pub name: String,
    pub cty: &'static str,
    pub count: usize,
    pub init: String,
    pub bytes: usize,
    /// The kernel that reads it (`None`: a constant value of the plan).
    pub kernel: Option<usize>,
}

/// One kernel's C function: typed pointer parameters, the matching call arguments, the body.
#[derive(Default)]
pub(crate) struct KernelFn {
    pub params: Vec<String>,
    pub args: Vec<String>,
    pub body: String,
    /// What the kernel is, for the comment above it and the report.
    pub what: String,
}

/// State of one emission.
pub(crate) struct Emitter<'p> {
    pub plan: &'p Plan,
    pub opts: &'p COptions,
    /// Index of the kernel being emitted.
    pub k: usize,
    pub weights: Vec<Weight>,
}

impl<'p> Emitter<'p> {
    pub(crate) fn value(&self, id: ValueId) -> Result<&'p Value, ArmError> {
        self.plan.values.get(id).ok_or_else(|| {
            codegen(format!(
                "kernel {} reads value {id}, which does not exist",
                self.k
            ))
        })
    }

    /// The C pointer expression of value `id`, typed as its storage.
    fn pointer(&self, id: ValueId, write: bool) -> Result<String, ArmError> {
        let v = self.value(id)?;
        let t = ctype(v.dtype);
        let cq = if write { "" } else { "const " };
        Ok(match &v.place {
            Place::Const(_) => {
                if write {
                    return Err(codegen(format!(
                        "kernel {} writes constant `{}`",
                        self.k, v.name
                    )));
                }
                format!("snnc_v{id}")
            }
            Place::Input(n) => {
                if write {
                    return Err(codegen(format!(
                        "kernel {} writes graph input `{}`",
                        self.k, v.name
                    )));
                }
                format!("(const {t} *)inputs[{n}]")
            }
            Place::Output(n) => format!("({cq}{t} *)outputs[{n}]"),
            Place::Arena(off) => format!("({cq}{t} *)(void *)(snnc_arena + {off})"),
        })
    }

    /// Adds read-only pointer parameter `name` for value `id`.
    pub(crate) fn input(
        &self,
        f: &mut KernelFn,
        name: &str,
        id: ValueId,
    ) -> Result<DType, ArmError> {
        let v = self.value(id)?;
        f.params
            .push(format!("const {} *restrict {name}", ctype(v.dtype)));
        f.args.push(self.pointer(id, false)?);
        Ok(v.dtype)
    }

    /// Adds the written pointer parameter `name` for value `id`.
    pub(crate) fn output(
        &self,
        f: &mut KernelFn,
        name: &str,
        id: ValueId,
    ) -> Result<DType, ArmError> {
        let v = self.value(id)?;
        f.params
            .push(format!("{} *restrict {name}", ctype(v.dtype)));
        f.args.push(self.pointer(id, true)?);
        Ok(v.dtype)
    }

    /// Adds an `int32_t` pointer parameter into the state region at byte `offset`.
    pub(crate) fn state(
        &self,
        f: &mut KernelFn,
        name: &str,
        offset: usize,
        n: usize,
    ) -> Result<(), ArmError> {
        if offset % 4 != 0 || offset + 4 * n > self.plan.state_bytes {
            return Err(codegen(format!(
                "kernel {}: state at byte {offset} for {n} neurons is outside the {}-byte state region",
                self.k, self.plan.state_bytes
            )));
        }
        f.params.push(format!("int32_t *restrict {name}"));
        f.args
            .push(format!("(int32_t *)(void *)(snnc_state + {offset})"));
        Ok(())
    }

    /// Records a constant array of this kernel and returns its name.
    pub(crate) fn array(
        &mut self,
        label: &str,
        cty: &'static str,
        elem_bytes: usize,
        items: Vec<String>,
    ) -> String {
        let name = format!("snnc_k{}_{label}", self.k);
        self.weights.push(Weight {
            name: name.clone(),
            cty,
            count: items.len(),
            bytes: items.len() * elem_bytes,
            init: init_list(&items),
            kernel: Some(self.k),
        });
        name
    }

    /// An integer parameter vector: a literal when uniform, else the narrowest array.
    pub(crate) fn iparam(&mut self, label: &str, vals: &[i64]) -> Param {
        match vals.first() {
            None => Param::Lit("0".into()),
            Some(&v0) if vals.iter().all(|&v| v == v0) => Param::Lit(ilit(v0)),
            Some(_) => {
                let (cty, size) = narrowest(vals);
                let items = vals.iter().map(|&v| ilit(v)).collect();
                Param::Array(self.array(label, cty, size, items))
            }
        }
    }

    /// An f32 parameter vector: a literal when uniform (bit for bit), else a `float` array.
    pub(crate) fn fparam(&mut self, label: &str, vals: &[f32]) -> Result<Param, ArmError> {
        match vals.first() {
            None => Ok(Param::Lit("0.0f".into())),
            Some(&v0) if vals.iter().all(|v| v.to_bits() == v0.to_bits()) => {
                Ok(Param::Lit(flit(v0)?))
            }
            Some(_) => {
                let items = vals
                    .iter()
                    .map(|&v| flit(v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Param::Array(self.array(label, "float", 4, items)))
            }
        }
    }

    /// Checks that a parameter vector has `need` entries.
    pub(crate) fn check_len(&self, what: &str, have: usize, need: usize) -> Result<(), ArmError> {
        if have < need {
            return Err(codegen(format!(
                "kernel {}: {what} has {have} entries, {need} needed",
                self.k
            )));
        }
        Ok(())
    }
}

/// Text safe inside a C comment or string literal.
pub(crate) fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '*' && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn kernel_fn(e: &mut Emitter, k: &Kernel) -> Result<KernelFn, ArmError> {
    match k {
        Kernel::Quantize { .. }
        | Kernel::Dequantize { .. }
        | Kernel::Requant { .. }
        | Kernel::BinThreshold { .. }
        | Kernel::ScaleShift { .. }
        | Kernel::Clamp { .. } => kern_quant::emit(e, k),
        Kernel::DenseInt { .. }
        | Kernel::DenseBin { .. }
        | Kernel::DenseBinW { .. }
        | Kernel::DenseF32 { .. } => kern_dense::emit(e, k),
        Kernel::Conv2dInt { .. } | Kernel::Pool2d { .. } => kern_window::emit(e, k),
        Kernel::IntLif { .. } | Kernel::Elementwise { .. } | Kernel::Copy { .. } => {
            kern_misc::emit(e, k)
        }
    }
}

/// The constant value `v` as a `weights.c` array of its storage type.
fn const_value(id: ValueId, v: &Value, bytes: &[u8]) -> Result<Weight, ArmError> {
    let size = super::cfmt::csize(v.dtype);
    if bytes.len() != v.bytes() || bytes.len() % size != 0 {
        return Err(codegen(format!(
            "constant `{}` has {} bytes, its type needs {}",
            v.name,
            bytes.len(),
            v.bytes()
        )));
    }
    let items = bytes
        .chunks(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            let u = u64::from_le_bytes(b);
            Ok(match v.dtype {
                DType::F32 => flit(f32::from_bits(u as u32))?,
                DType::I8 => ilit(i64::from(u as u8 as i8)),
                DType::I16 => ilit(i64::from(u as u16 as i16)),
                DType::I32 => ilit(i64::from(u as u32 as i32)),
                DType::I64 => ilit(u as i64),
                DType::U32 | DType::Bin => format!("{u}u"),
                DType::U8 | DType::U16 | DType::Bool => u.to_string(),
            })
        })
        .collect::<Result<Vec<_>, ArmError>>()?;
    Ok(Weight {
        name: format!("snnc_v{id}"),
        cty: ctype(v.dtype),
        count: items.len(),
        bytes: bytes.len(),
        init: init_list(&items),
        kernel: None,
    })
}

pub(crate) fn emit(plan: &Plan, opts: &COptions) -> Result<CArtifact, ArmError> {
    let mut e = Emitter {
        plan,
        opts,
        k: 0,
        weights: Vec::new(),
    };
    for (id, v) in plan.values.iter().enumerate() {
        if let Place::Const(bytes) = &v.place {
            e.weights.push(const_value(id, v, bytes)?);
        }
    }
    let mut fns = Vec::new();
    for (i, k) in plan.kernels.iter().enumerate() {
        e.k = i;
        fns.push(kernel_fn(&mut e, k)?);
    }
    let header = crate::arm::header::model_h(plan, &format!("{}, C99", e.opts.cpu.name()));
    let model_c = model_c(plan, opts, &e.weights, &fns);
    let weights_c = weights_c(plan, &e.weights);
    let mut kernels = Vec::new();
    for (i, f) in fns.iter().enumerate() {
        kernels.push(KernelFootprint {
            kernel: i,
            function: format!("snnc_k{i}"),
            what: f.what.clone(),
            const_bytes: e
                .weights
                .iter()
                .filter(|w| w.kernel == Some(i))
                .map(|w| w.bytes)
                .sum(),
            code_bytes: None,
        });
    }
    let const_value_bytes = e
        .weights
        .iter()
        .filter(|w| w.kernel.is_none())
        .map(|w| w.bytes)
        .sum();
    Ok(CArtifact {
        files: vec![
            ("model.h".into(), header),
            ("model.c".into(), model_c),
            ("weights.c".into(), weights_c),
        ],
        footprint: Footprint {
            kernels,
            const_value_bytes,
            arena_bytes: plan.arena_bytes,
            state_bytes: plan.state_bytes,
            code: None,
        },
    })
}

fn model_c(plan: &Plan, opts: &COptions, weights: &[Weight], fns: &[KernelFn]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/* model.c: kernels of model \"{}\", generated by snnc ({:?}). */",
        comment_safe(&plan.name),
        opts.cpu
    );
    s.push_str("#include <stdint.h>\n#include <string.h>\n\n#include \"model.h\"\n\n");
    s.push_str(PRELUDE);
    s.push_str("\n/* Constant data (weights.c, flash). */\n");
    for w in weights {
        let _ = writeln!(s, "extern const {} {}[{}];", w.cty, w.name, w.count);
    }
    let uses_arena = fns
        .iter()
        .any(|f| f.args.iter().any(|a| a.contains("snnc_arena")));
    s.push('\n');
    if uses_arena {
        let _ = writeln!(
            s,
            "/* Scratch memory of one run/step. */\nstatic uint8_t snnc_arena[{}] SNNC_ALIGNED;",
            plan.arena_bytes.max(1)
        );
    }
    if plan.state_bytes > 0 {
        let _ = writeln!(
            s,
            "/* Neuron membranes, kept between steps. */\nstatic uint8_t snnc_state[{}] SNNC_ALIGNED;",
            plan.state_bytes
        );
    }
    for (i, f) in fns.iter().enumerate() {
        let _ = writeln!(s, "\n/* kernel {i}: {} */", f.what);
        let _ = writeln!(
            s,
            "static SNNC_NOINLINE void snnc_k{i}({})\n{{",
            f.params.join(", ")
        );
        s.push_str(&f.body);
        s.push_str("}\n");
    }
    s.push_str("\nvoid snnc_model_init(void)\n{\n");
    if plan.state_bytes > 0 {
        s.push_str("    memset(snnc_state, 0, sizeof snnc_state);\n");
    }
    s.push_str("}\n\n");
    let entry = if plan.stateful {
        "snnc_model_step"
    } else {
        "snnc_model_run"
    };
    let _ = writeln!(
        s,
        "void {entry}(const void *const *inputs, void *const *outputs)\n{{"
    );
    s.push_str("    (void)inputs;\n    (void)outputs;\n");
    for (i, f) in fns.iter().enumerate() {
        let _ = writeln!(s, "    snnc_k{i}({});", f.args.join(", "));
    }
    s.push_str("}\n");
    s
}

fn weights_c(plan: &Plan, weights: &[Weight]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/* weights.c: constant data of model \"{}\" (flash), generated by snnc. */",
        comment_safe(&plan.name)
    );
    s.push_str("#include <stdint.h>\n");
    for w in weights {
        let _ = writeln!(s, "\nextern const {} {}[{}];", w.cty, w.name, w.count);
        let _ = writeln!(
            s,
            "const {} {}[{}] = {{\n{}\n}};",
            w.cty, w.name, w.count, w.init
        );
    }
    s
}
