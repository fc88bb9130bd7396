//! Elementwise kernels with per-channel parameters: Quantize, Dequantize, Requant,
//! BinThreshold, ScaleShift, Clamp.

use std::fmt::Write as _;

use snnc_ir::DType;

use super::cfmt::{flit, ilit, int_range};
use super::codegen;
use super::emit::{comment_safe, Emitter, KernelFn};
use crate::arm::plan::{Channels, Kernel};
use crate::arm::ArmError;

/// The C expression of the channel of flat element index expression `i`.
pub(crate) fn chan(ch: &Channels, i: &str) -> String {
    if ch.channels <= 1 {
        "0".into()
    } else if ch.inner <= 1 {
        format!("({i}) % {}u", ch.channels)
    } else {
        format!("(({i}) / {}u) % {}u", ch.inner, ch.channels)
    }
}

fn what(e: &Emitter, kind: &str, x: usize, y: usize) -> Result<String, ArmError> {
    let (xv, yv) = (e.value(x)?, e.value(y)?);
    Ok(format!(
        "{kind} \"{}\" {}{:?} -> {}{:?}",
        comment_safe(&yv.name),
        xv.dtype,
        xv.shape,
        yv.dtype,
        yv.shape
    ))
}

fn i64s(v: &[i32]) -> Vec<i64> {
    v.iter().map(|&x| i64::from(x)).collect()
}

/// `lo ≤ v ≤ hi` as two statements on variable `var`.
fn clamp_stmts(var: &str, lo: &str, hi: &str) -> String {
    format!("        if ({var} < {lo}) {{\n            {var} = {lo};\n        }}\n        if ({var} > {hi}) {{\n            {var} = {hi};\n        }}\n")
}

pub(crate) fn emit(e: &mut Emitter, k: &Kernel) -> Result<KernelFn, ArmError> {
    let mut f = KernelFn::default();
    match k {
        Kernel::Quantize {
            x,
            y,
            scale,
            zero_point,
            ch,
            lo,
            hi,
        } => {
            f.what = what(e, "Quantize", *x, *y)?;
            e.input(&mut f, "x", *x)?;
            let yt = e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let nch = ch.channels.max(1);
            e.check_len("scale", scale.len(), nch)?;
            e.check_len("zero point", zero_point.len(), nch)?;
            let scale_p = e.fparam("scale", &scale[..nch])?;
            // clamp(r + zp, lo, hi) for an integral r is r < lo − zp → lo, r > hi − zp → hi,
            // else r + zp: exact in f32 when the bounds are representable (they are for every
            // dtype up to 16 bits), else fall back to double.
            let blo: Vec<i64> = zero_point[..nch]
                .iter()
                .map(|&z| i64::from(*lo) - i64::from(z))
                .collect();
            let bhi: Vec<i64> = zero_point[..nch]
                .iter()
                .map(|&z| i64::from(*hi) - i64::from(z))
                .collect();
            let exact = blo
                .iter()
                .chain(&bhi)
                .all(|&b| (b as f32) as i64 == b && b.abs() < (1 << 24));
            let zp = e.iparam("zp", &i64s(&zero_point[..nch]));
            let c = chan(ch, "i");
            let cty = super::cfmt::ctype(yt);
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            if scale_p.literal().is_none() || zp.literal().is_none() {
                let _ = writeln!(b, "        uint32_t c = {c};");
            }
            let _ = writeln!(b, "        float r = snnc_rne(x[i] / {});", scale_p.at("c"));
            let _ = writeln!(b, "        if (r != r) {{\n            y[i] = ({cty}){};\n            continue;\n        }}", ilit(i64::from(*lo)));
            if exact {
                let fl: Vec<f32> = blo.iter().map(|&v| v as f32).collect();
                let fh: Vec<f32> = bhi.iter().map(|&v| v as f32).collect();
                let pl = e.fparam("rlo", &fl)?;
                let ph = e.fparam("rhi", &fh)?;
                let _ = writeln!(
                    b,
                    "        if (r < {}) {{\n            y[i] = ({cty}){};\n        }} else if (r > {}) {{\n            y[i] = ({cty}){};\n        }} else {{\n            y[i] = ({cty})((int32_t)r + {});\n        }}",
                    pl.at("c"),
                    ilit(i64::from(*lo)),
                    ph.at("c"),
                    ilit(i64::from(*hi)),
                    zp.at("c")
                );
            } else {
                let _ = writeln!(b, "        double v = (double)r + (double){};", zp.at("c"));
                b.push_str(&clamp_stmts(
                    "v",
                    &format!("{}.0", lo),
                    &format!("{}.0", hi),
                ));
                let _ = writeln!(b, "        y[i] = ({cty})(int64_t)v;");
            }
            b.push_str("    }\n");
            f.body = b;
        }
        Kernel::Dequantize {
            x,
            y,
            scale,
            zero_point,
            ch,
        } => {
            f.what = what(e, "Dequantize", *x, *y)?;
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let nch = ch.channels.max(1);
            e.check_len("scale", scale.len(), nch)?;
            e.check_len("zero point", zero_point.len(), nch)?;
            let sp = e.fparam("scale", &scale[..nch])?;
            let zp = e.iparam("zp", &i64s(&zero_point[..nch]));
            // The difference is exact in i32 for inputs up to 16 bits, else in i64.
            let wide = !matches!(
                xt,
                DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::Bool
            );
            let dt = if wide { "int64_t" } else { "int32_t" };
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            if sp.literal().is_none() || zp.literal().is_none() {
                let _ = writeln!(b, "        uint32_t c = {};", chan(ch, "i"));
            }
            let _ = writeln!(
                b,
                "        y[i] = (float)(({dt})x[i] - ({dt}){}) * {};\n    }}",
                zp.at("c"),
                sp.at("c")
            );
            f.body = b;
        }
        Kernel::Requant {
            x,
            y,
            multiplier,
            shift,
            zero_point,
            lo,
            hi,
            ch,
        } => {
            f.what = what(e, "Requant", *x, *y)?;
            e.input(&mut f, "x", *x)?;
            let yt = e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let nch = ch.channels.max(1);
            e.check_len("multiplier", multiplier.len(), nch)?;
            e.check_len("shift", shift.len(), nch)?;
            if multiplier.iter().any(|&m| m.unsigned_abs() >= 1 << 31) {
                return Err(codegen(format!(
                    "kernel {}: requant multiplier outside ±2^31",
                    e.k
                )));
            }
            let mp = e.iparam("mul", &multiplier[..nch]);
            let shifts: Vec<i64> = shift[..nch].iter().map(|&s| i64::from(s.min(64))).collect();
            let sp = e.iparam("shift", &shifts);
            let cty = super::cfmt::ctype(yt);
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            if mp.literal().is_none() || sp.literal().is_none() {
                let _ = writeln!(b, "        uint32_t c = {};", chan(ch, "i"));
            }
            let _ = writeln!(
                b,
                "        int64_t q = (int64_t)x[i] * (int64_t){};",
                mp.at("c")
            );
            match sp.literal() {
                Some("0") => {}
                Some(s) => {
                    let _ = writeln!(b, "        q = snnc_round_shift(q, {s}u);");
                }
                None => {
                    let _ = writeln!(
                        b,
                        "        if ({s} != 0) {{\n            q = snnc_round_shift(q, {s});\n        }}",
                        s = sp.at("c")
                    );
                }
            }
            if *zero_point != 0 {
                let _ = writeln!(b, "        q += {};", ilit(i64::from(*zero_point)));
            }
            b.push_str(&clamp_stmts(
                "q",
                &ilit(i64::from(*lo)),
                &ilit(i64::from(*hi)),
            ));
            let _ = writeln!(b, "        y[i] = ({cty})q;\n    }}");
            f.body = b;
        }
        Kernel::BinThreshold {
            x,
            y,
            threshold,
            flip,
            ch,
            last,
        } => {
            f.what = what(e, "BinThreshold", *x, *y)?;
            e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let last = (*last).max(1);
            if n % last != 0 {
                return Err(codegen(format!(
                    "kernel {}: {n} elements are not rows of {last}",
                    e.k
                )));
            }
            let nch = ch.channels.max(1);
            e.check_len("threshold", threshold.len(), nch)?;
            e.check_len("flip", flip.len(), nch)?;
            let words = last.div_ceil(32);
            let tp = e.iparam("th", &threshold[..nch]);
            let fl: Vec<i64> = flip[..nch].iter().map(|&b| i64::from(b)).collect();
            let fp = e.iparam("flip", &fl);
            // Within a row, the channel only depends on k when rows are whole channel cycles.
            let c = if ch.channels <= 1 {
                "0".to_string()
            } else if ch.inner <= 1 && last % ch.channels == 0 {
                if ch.channels == last {
                    "k".into()
                } else {
                    format!("k % {}u", ch.channels)
                }
            } else {
                chan(ch, "r * LAST + k").replace("LAST", &format!("{last}u"))
            };
            let mut b = String::new();
            let _ = writeln!(
                b,
                "    uint32_t r, k;\n    for (r = 0; r < {}u; r++) {{",
                n / last
            );
            let _ = writeln!(
                b,
                "        const {} *xr = x + r * {last}u;",
                super::cfmt::ctype(e.value(*x)?.dtype)
            );
            let _ = writeln!(b, "        uint32_t *yr = y + r * {words}u;");
            let _ = writeln!(
                b,
                "        for (k = 0; k < {words}u; k++) {{\n            yr[k] = 0;\n        }}"
            );
            let _ = writeln!(b, "        for (k = 0; k < {last}u; k++) {{");
            if tp.literal().is_none() || fp.literal().is_none() {
                let _ = writeln!(b, "            uint32_t c = {c};");
            }
            // Through a variable: a literal threshold outside the input type's range would make
            // `(int64_t)xr[k] <= t` a constant comparison (GCC -Wtype-limits under -Werror).
            let _ = writeln!(b, "            const int64_t v = (int64_t)xr[k];");
            let xv = "v";
            let plus = match fp.literal() {
                Some("0") => format!("{xv} >= (int64_t){}", tp.at("c")),
                Some(_) => format!("{xv} <= (int64_t){}", tp.at("c")),
                None => format!(
                    "{} ? {xv} <= (int64_t){t} : {xv} >= (int64_t){t}",
                    fp.at("c"),
                    t = tp.at("c")
                ),
            };
            let _ = writeln!(
                b,
                "            if (!({plus})) {{\n                yr[k >> 5] |= 1u << (k & 31u);\n            }}\n        }}\n    }}"
            );
            f.body = b;
        }
        Kernel::ScaleShift {
            x,
            y,
            scale,
            shift,
            ch,
        } => {
            f.what = what(e, "ScaleShift", *x, *y)?;
            e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let nch = ch.channels.max(1);
            e.check_len("scale", scale.len(), nch)?;
            e.check_len("shift", shift.len(), nch)?;
            let sp = e.fparam("scale", &scale[..nch])?;
            let hp = e.fparam("shift", &shift[..nch])?;
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            if sp.literal().is_none() || hp.literal().is_none() {
                let _ = writeln!(b, "        uint32_t c = {};", chan(ch, "i"));
            }
            let _ = writeln!(
                b,
                "        float p = x[i] * {};\n        y[i] = p + {};\n    }}",
                sp.at("c"),
                hp.at("c")
            );
            f.body = b;
        }
        Kernel::Clamp { x, y, lo, hi } => {
            f.what = what(e, "Clamp", *x, *y)?;
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            let n = e.value(*x)?.numel();
            let mut b = String::new();
            let _ = writeln!(b, "    uint32_t i;\n    for (i = 0; i < {n}u; i++) {{");
            if xt == DType::F32 {
                b.push_str("        float v = x[i];\n");
                let (l, h) = (*lo as f32, *hi as f32);
                // An infinite bound on the far side never applies; on the near side it is
                // meaningless (the lowering never produces one).
                if l == f32::INFINITY || h == f32::NEG_INFINITY || l.is_nan() || h.is_nan() {
                    return Err(codegen(format!(
                        "kernel {}: clamp bounds [{lo}, {hi}]",
                        e.k
                    )));
                }
                if l.is_finite() {
                    let _ = writeln!(b, "        v = v < {l} ? {l} : v;", l = flit(l)?);
                }
                if h.is_finite() {
                    let _ = writeln!(b, "        v = v > {h} ? {h} : v;", h = flit(h)?);
                }
                b.push_str("        y[i] = v;\n    }\n");
            } else {
                let (dlo, dhi) = int_range(xt)
                    .ok_or_else(|| codegen(format!("kernel {}: clamp of {xt}", e.k)))?;
                let l = if lo.is_finite() {
                    (*lo as i64).max(dlo)
                } else if *lo < 0.0 {
                    dlo
                } else {
                    dhi
                };
                let h = if hi.is_finite() {
                    (*hi as i64).min(dhi)
                } else if *hi > 0.0 {
                    dhi
                } else {
                    dlo
                };
                let _ = writeln!(b, "        int64_t v = (int64_t)x[i];");
                if l > dlo {
                    let _ = writeln!(b, "        v = v < {l} ? {l} : v;", l = ilit(l));
                }
                if h < dhi {
                    let _ = writeln!(b, "        v = v > {h} ? {h} : v;", h = ilit(h));
                }
                let _ = writeln!(b, "        y[i] = ({})v;\n    }}", super::cfmt::ctype(xt));
            }
            f.body = b;
        }
        _ => {
            return Err(codegen(format!(
                "kernel {} is not an elementwise kernel",
                e.k
            )))
        }
    }
    Ok(f)
}
