//! Window kernels over `[C, H, W]` images: integer convolution and pooling.

use std::fmt::Write as _;

use snnc_ir::DType;

use super::cfmt::{csize, ctype, ilit, int_range, Param};
use super::codegen;
use super::emit::{comment_safe, Emitter, KernelFn};
use crate::arm::plan::{Kernel, PoolKind, Window};
use crate::arm::ArmError;

/// Loops over the taps of output `(oy, ox)`, skipping padded ones; `inner` is the statement
/// reading input row `iy`, column `ix`, tap `(ky, kx)`.
fn taps(win: &Window, inner: &str, indent: &str) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "{indent}for (ky = 0; ky < {}u; ky++) {{", win.kh);
    let _ = writeln!(
        b,
        "{indent}    int32_t iy = (int32_t)(oy * {}u + ky * {}u) - {};",
        win.stride[0], win.dilation[0], win.pad[0]
    );
    let _ = writeln!(
        b,
        "{indent}    if (iy < 0 || iy >= {}) {{\n{indent}        continue;\n{indent}    }}",
        win.h
    );
    let _ = writeln!(b, "{indent}    for (kx = 0; kx < {}u; kx++) {{", win.kw);
    let _ = writeln!(
        b,
        "{indent}        int32_t ix = (int32_t)(ox * {}u + kx * {}u) - {};",
        win.stride[1], win.dilation[1], win.pad[1]
    );
    let _ = writeln!(b, "{indent}        if (ix < 0 || ix >= {}) {{\n{indent}            continue;\n{indent}        }}", win.w);
    let _ = writeln!(b, "{indent}        {inner}\n{indent}    }}\n{indent}}}");
    b
}

fn check(e: &Emitter, win: &Window, x: usize, y: usize) -> Result<(), ArmError> {
    let (xn, yn) = (e.value(x)?.numel(), e.value(y)?.numel());
    let fits = |v: usize| i32::try_from(v).is_ok();
    if xn != win.c_in * win.h * win.w
        || yn != win.c_out * win.out_h * win.out_w
        || win.groups == 0
        || win.c_in % win.groups != 0
        || win.c_out % win.groups != 0
        || ![
            win.h,
            win.w,
            win.pad[0],
            win.pad[1],
            win.out_h * win.stride[0] + win.kh * win.dilation[0],
        ]
        .into_iter()
        .all(fits)
    {
        return Err(codegen(format!(
            "kernel {}: window {win:?} does not match its values",
            e.k
        )));
    }
    Ok(())
}

pub(crate) fn emit(e: &mut Emitter, k: &Kernel) -> Result<KernelFn, ArmError> {
    let mut f = KernelFn::default();
    match k {
        Kernel::Conv2dInt {
            x,
            y,
            win,
            w_dtype,
            w,
            bias,
        } => {
            check(e, win, *x, *y)?;
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let cig = win.c_in / win.groups;
            let cog = win.c_out / win.groups;
            let per_o = cig * win.kh * win.kw;
            e.check_len("weights", w.len(), win.c_out * per_o)?;
            let (wlo, whi) = int_range(*w_dtype)
                .ok_or_else(|| codegen(format!("kernel {}: {w_dtype} weights", e.k)))?;
            if let Some(bad) = w
                .iter()
                .find(|&&v| i64::from(v) < wlo || i64::from(v) > whi)
            {
                return Err(codegen(format!(
                    "kernel {}: weight {bad} does not fit {w_dtype}",
                    e.k
                )));
            }
            let (wt, ws) = (ctype(*w_dtype), csize(*w_dtype));
            let items = w[..win.c_out * per_o]
                .iter()
                .map(|&v| ilit(v.into()))
                .collect();
            let wn = e.array("w", wt, ws, items);
            f.params.push(format!("const {wt} *restrict w"));
            f.args.push(wn);
            let bp = match bias {
                Some(b) => {
                    e.check_len("bias", b.len(), win.c_out)?;
                    let v: Vec<i64> = b[..win.c_out].iter().map(|&x| i64::from(x)).collect();
                    e.iparam("bias", &v)
                }
                None => Param::Lit("0".into()),
            };
            let mut b = String::new();
            b.push_str("    uint32_t o, oy, ox, ci, ky, kx;\n");
            let _ = writeln!(b, "    for (o = 0; o < {}u; o++) {{", win.c_out);
            let _ = writeln!(
                b,
                "        const {} *xg = x + (o / {cog}u) * {}u;",
                ctype(xt),
                cig * win.h * win.w
            );
            let _ = writeln!(b, "        const {wt} *wo = w + o * {per_o}u;");
            let _ = writeln!(b, "        for (oy = 0; oy < {}u; oy++) {{", win.out_h);
            let _ = writeln!(b, "            for (ox = 0; ox < {}u; ox++) {{", win.out_w);
            let _ = writeln!(
                b,
                "                uint32_t acc = (uint32_t){};",
                bp.at("o")
            );
            let _ = writeln!(b, "                for (ci = 0; ci < {cig}u; ci++) {{");
            let _ = writeln!(
                b,
                "                    const {} *xc = xg + ci * {}u;",
                ctype(xt),
                win.h * win.w
            );
            let _ = writeln!(
                b,
                "                    const {wt} *wc = wo + ci * {}u;",
                win.kh * win.kw
            );
            let inner = format!(
                "acc += SNNC_MUL(xc[(uint32_t)iy * {}u + (uint32_t)ix], wc[ky * {}u + kx]);",
                win.w, win.kw
            );
            b.push_str(&taps(win, &inner, "                    "));
            b.push_str("                }\n");
            let _ = writeln!(
                b,
                "                y[(o * {}u + oy) * {}u + ox] = (int32_t)acc;\n            }}\n        }}\n    }}",
                win.out_h, win.out_w
            );
            f.what = format!(
                "Conv2dInt \"{}\" {xt}[{}x{}x{}] -> i32[{}x{}x{}], {w_dtype} weights {}x{}, stride {:?}, pad {:?}, groups {}",
                comment_safe(&e.value(*y)?.name),
                win.c_in, win.h, win.w, win.c_out, win.out_h, win.out_w, win.kh, win.kw, win.stride, win.pad, win.groups
            );
            f.body = b;
        }
        Kernel::Pool2d { x, y, win, kind } => {
            check(e, win, *x, *y)?;
            if win.c_in != win.c_out {
                return Err(codegen(format!(
                    "kernel {}: pooling changes the channel count",
                    e.k
                )));
            }
            let xt = e.input(&mut f, "x", *x)?;
            let yt = e.output(&mut f, "y", *y)?;
            let (acc_t, init, step, fin) = match (kind, yt) {
                (PoolKind::Max, DType::F32) => ("float", "-3.4028235e38f".to_string(), "if (xc[(uint32_t)iy * W + (uint32_t)ix] > acc) {\n                            acc = xc[(uint32_t)iy * W + (uint32_t)ix];\n                        }", "acc"),
                (PoolKind::Max, t) => {
                    let (lo, _) = int_range(t).ok_or_else(|| codegen(format!("kernel {}: max pool of {t}", e.k)))?;
                    (ctype(t), ilit(lo), "if (xc[(uint32_t)iy * W + (uint32_t)ix] > acc) {\n                            acc = xc[(uint32_t)iy * W + (uint32_t)ix];\n                        }", "acc")
                }
                (PoolKind::Sum, DType::F32) => ("float", "0.0f".to_string(), "acc = acc + xc[(uint32_t)iy * W + (uint32_t)ix];", "acc"),
                (PoolKind::Sum, t) => {
                    int_range(t).ok_or_else(|| codegen(format!("kernel {}: sum pool of {t}", e.k)))?;
                    let wide = csize(t) == 8 || csize(xt) == 8;
                    (
                        if wide { "uint64_t" } else { "uint32_t" },
                        "0".to_string(),
                        if wide { "acc += (uint64_t)xc[(uint32_t)iy * W + (uint32_t)ix];" } else { "acc += (uint32_t)xc[(uint32_t)iy * W + (uint32_t)ix];" },
                        "CAST",
                    )
                }
            };
            let step = step.replace(" W ", &format!(" {}u ", win.w));
            let fin = if fin == "CAST" {
                format!("({})acc", ctype(yt))
            } else {
                fin.to_string()
            };
            let mut b = String::new();
            b.push_str("    uint32_t c, oy, ox, ky, kx;\n");
            let _ = writeln!(b, "    for (c = 0; c < {}u; c++) {{", win.c_in);
            let _ = writeln!(
                b,
                "        const {} *xc = x + c * {}u;",
                ctype(xt),
                win.h * win.w
            );
            let _ = writeln!(b, "        for (oy = 0; oy < {}u; oy++) {{", win.out_h);
            let _ = writeln!(b, "            for (ox = 0; ox < {}u; ox++) {{", win.out_w);
            let _ = writeln!(b, "                {acc_t} acc = {init};");
            b.push_str(&taps(win, &step, "                "));
            let _ = writeln!(
                b,
                "                y[(c * {}u + oy) * {}u + ox] = {fin};\n            }}\n        }}\n    }}",
                win.out_h, win.out_w
            );
            f.what = format!(
                "Pool2d {kind:?} \"{}\" {xt}[{}x{}x{}] -> [{}x{}x{}], window {}x{}, stride {:?}, pad {:?}",
                comment_safe(&e.value(*y)?.name),
                win.c_in, win.h, win.w, win.c_out, win.out_h, win.out_w, win.kh, win.kw, win.stride, win.pad
            );
            f.body = b;
        }
        _ => return Err(codegen(format!("kernel {} is not a window kernel", e.k))),
    }
    Ok(f)
}
