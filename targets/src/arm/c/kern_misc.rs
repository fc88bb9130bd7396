//! Fixed-point LIF neurons, broadcast elementwise arithmetic and copies.

use std::fmt::Write as _;

use snnc_ir::DType;

use super::cfmt::{csize, ctype, ilit};
use super::codegen;
use super::emit::{comment_safe, Emitter, KernelFn};
use crate::arm::plan::{BinaryOp, Kernel, Reset};
use crate::arm::ArmError;

pub(crate) fn emit(e: &mut Emitter, k: &Kernel) -> Result<KernelFn, ArmError> {
    let mut f = KernelFn::default();
    match k {
        Kernel::IntLif {
            x,
            y,
            n,
            state,
            decay,
            bias,
            threshold,
            v_reset,
            frac_bits,
            lo,
            hi,
            reset,
        } => {
            let n = *n;
            e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            e.state(&mut f, "v", *state, n)?;
            for (what, len) in [
                ("decay", decay.len()),
                ("bias", bias.len()),
                ("threshold", threshold.len()),
                ("v_reset", v_reset.len()),
            ] {
                e.check_len(what, len, n)?;
            }
            if *frac_bits > 62 {
                return Err(codegen(format!(
                    "kernel {}: {frac_bits} fraction bits",
                    e.k
                )));
            }
            let dp = e.iparam("decay", &decay[..n]);
            let bp = e.iparam("bias", &bias[..n]);
            let tp = e.iparam("th", &threshold[..n]);
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            let _ = writeln!(
                b,
                "        int64_t leak = (int64_t)v[i] * (int64_t){};",
                dp.at("i")
            );
            if *frac_bits > 0 {
                let _ = writeln!(
                    b,
                    "        leak = (leak + (INT64_C(1) << {})) >> {frac_bits};",
                    frac_bits - 1
                );
            }
            let _ = writeln!(
                b,
                "        int64_t u = leak + (int64_t)x[i] + (int64_t){};",
                bp.at("i")
            );
            let (l, h) = (ilit(*lo), ilit(*hi));
            let _ = writeln!(
                b,
                "        u = u < {l} ? {l} : u;\n        u = u > {h} ? {h} : u;"
            );
            let _ = writeln!(b, "        uint8_t fire = u > (int64_t){};", tp.at("i"));
            match reset {
                Reset::ToValue => {
                    let rp = e.iparam("reset", &v_reset[..n]);
                    let _ = writeln!(
                        b,
                        "        if (fire) {{\n            u = {};\n        }}",
                        rp.at("i")
                    );
                }
                Reset::Subtract => {
                    let _ = writeln!(
                        b,
                        "        if (fire) {{\n            u = u - (int64_t){};\n            u = u < {l} ? {l} : u;\n            u = u > {h} ? {h} : u;\n        }}",
                        tp.at("i")
                    );
                }
            }
            let _ = writeln!(
                b,
                "        v[i] = (int32_t)u;\n        y[i] = fire;\n    }}"
            );
            f.what = format!(
                "IntLif \"{}\" {n} neurons, {frac_bits} fraction bits, reset {reset:?}",
                comment_safe(&e.value(*y)?.name)
            );
            f.body = b;
        }
        Kernel::Elementwise {
            op,
            a,
            b: bv,
            y,
            shape,
            a_strides,
            b_strides,
        } => {
            let at = e.input(&mut f, "a", *a)?;
            let bt = e.input(&mut f, "b", *bv)?;
            let yt = e.output(&mut f, "y", *y)?;
            let n: usize = shape.iter().product();
            if e.value(*y)?.numel() != n {
                return Err(codegen(format!(
                    "kernel {}: elementwise shape {shape:?} does not match its output",
                    e.k
                )));
            }
            let floats = [at, bt, yt].iter().filter(|&&t| t == DType::F32).count();
            let sym = match op {
                BinaryOp::Add => "+",
                BinaryOp::Mul => "*",
            };
            let expr = match floats {
                3 => format!("a[ia] {sym} b[ib]"),
                0 => {
                    let ut = if csize(yt) == 8 {
                        "uint64_t"
                    } else {
                        "uint32_t"
                    };
                    format!("({})(({ut})a[ia] {sym} ({ut})b[ib])", ctype(yt))
                }
                _ => {
                    return Err(codegen(format!(
                        "kernel {}: elementwise over {at}, {bt} -> {yt}",
                        e.k
                    )))
                }
            };
            let mut b = String::new();
            b.push_str("    uint32_t i0, i1, i2, i3, iy = 0;\n");
            let _ = writeln!(b, "    for (i0 = 0; i0 < {}u; i0++) {{", shape[0]);
            let _ = writeln!(b, "        for (i1 = 0; i1 < {}u; i1++) {{", shape[1]);
            let _ = writeln!(b, "            for (i2 = 0; i2 < {}u; i2++) {{", shape[2]);
            let _ = writeln!(
                b,
                "                for (i3 = 0; i3 < {}u; i3++) {{",
                shape[3]
            );
            let idx = |s: &[usize; 4]| {
                let terms: Vec<String> = (0..4)
                    .filter(|&d| s[d] != 0)
                    .map(|d| {
                        if s[d] == 1 {
                            format!("i{d}")
                        } else {
                            format!("i{d} * {}u", s[d])
                        }
                    })
                    .collect();
                if terms.is_empty() {
                    "0".to_string()
                } else {
                    terms.join(" + ")
                }
            };
            let _ = writeln!(
                b,
                "                    uint32_t ia = {}, ib = {};",
                idx(a_strides),
                idx(b_strides)
            );
            let _ = writeln!(b, "                    y[iy++] = {expr};\n                }}\n            }}\n        }}\n    }}");
            let s = match op {
                BinaryOp::Add => "add",
                BinaryOp::Mul => "mul",
            };
            f.what = format!(
                "Elementwise {s} \"{}\" {yt}{shape:?}",
                comment_safe(&e.value(*y)?.name)
            );
            f.body = b;
        }
        Kernel::Copy { x, y } => {
            e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let (xv, yv) = (e.value(*x)?, e.value(*y)?);
            if xv.bytes() != yv.bytes() {
                return Err(codegen(format!(
                    "kernel {}: copy of {} bytes into {}",
                    e.k,
                    xv.bytes(),
                    yv.bytes()
                )));
            }
            let _ = writeln!(f.body, "    memcpy(y, x, {}u);", xv.bytes());
            f.what = format!("Copy \"{}\" {} bytes", comment_safe(&yv.name), xv.bytes());
        }
        _ => return Err(codegen(format!("kernel {} is not a misc kernel", e.k))),
    }
    Ok(f)
}
