//! Dense layers: integer (dual-MAC `__smlad` path or compressed sparse rows), binary
//! (XNOR-popcount) and float.

use std::fmt::Write as _;

use snnc_ir::DType;

use super::cfmt::{csize, ctype, flit, ilit, int_range, narrowest, Param};
use super::emit::{comment_safe, Emitter, KernelFn};
use super::{codegen, Popcount};
use crate::arm::plan::{F32Weights, Kernel};
use crate::arm::ArmError;

fn what(e: &Emitter, kind: &str, x: usize, y: usize, detail: &str) -> Result<String, ArmError> {
    let (xv, yv) = (e.value(x)?, e.value(y)?);
    Ok(format!(
        "{kind} \"{}\" {}{:?} -> {}{:?}{detail}",
        comment_safe(&yv.name),
        xv.dtype,
        xv.shape,
        yv.dtype,
        yv.shape
    ))
}

fn bias_param(e: &mut Emitter, bias: &Option<Vec<i32>>, n: usize) -> Result<Param, ArmError> {
    Ok(match bias {
        Some(b) => {
            e.check_len("bias", b.len(), n)?;
            let v: Vec<i64> = b[..n].iter().map(|&x| i64::from(x)).collect();
            e.iparam("bias", &v)
        }
        None => Param::Lit("0".into()),
    })
}

/// The SXTB16/UXTB16 that widens the even bytes of a word of `d` to two 16-bit lanes.
fn widen8(d: DType) -> Option<&'static str> {
    match d {
        DType::I8 => Some("__sxtb16"),
        DType::U8 | DType::Bool => Some("__uxtb16"),
        _ => None,
    }
}

/// Compressed sparse rows of `w` (`[n][k]`) and their byte size, when that is smaller than
/// the dense matrix and at least `min_zero_percent` of the weights are zero.
fn sparse_form(
    w: &[i32],
    n: usize,
    k: usize,
    wsize: usize,
    min_zero_percent: u32,
) -> Option<(Vec<i64>, Vec<i64>, usize)> {
    let nnz = w.iter().filter(|&&v| v != 0).count();
    let total = n * k;
    // No nonzero weight: the dense form (C has no zero-length arrays).
    if min_zero_percent >= 100
        || total == 0
        || nnz == 0
        || (total - nnz) * 100 < total * min_zero_percent as usize
    {
        return None;
    }
    let mut rowptr = vec![0i64];
    let mut cols = Vec::with_capacity(nnz);
    for row in w.chunks(k.max(1)) {
        for (c, &v) in row.iter().enumerate() {
            if v != 0 {
                cols.push(c as i64);
            }
        }
        rowptr.push(cols.len() as i64);
    }
    let bytes = rowptr.len() * narrowest(&rowptr).1 + cols.len() * (narrowest(&cols).1 + wsize);
    (bytes < total * wsize).then_some((rowptr, cols, bytes))
}

/// Packed ±1 words (`len` of them) as a `const uint32_t` array in `weights.c`, passed to the
/// kernel function as parameter `name`.
fn packed_param(
    e: &mut Emitter,
    f: &mut KernelFn,
    name: &str,
    what: &str,
    words: &[u32],
    len: usize,
) -> Result<(), ArmError> {
    e.check_len(what, words.len(), len)?;
    let items = words[..len].iter().map(|v| format!("0x{v:08x}u")).collect();
    let array = e.array(name, "uint32_t", 4, items);
    f.params.push(format!("const uint32_t *restrict {name}"));
    f.args.push(array);
    Ok(())
}

pub(crate) fn emit(e: &mut Emitter, kern: &Kernel) -> Result<KernelFn, ArmError> {
    let mut f = KernelFn::default();
    match kern {
        Kernel::DenseInt {
            x,
            y,
            rows,
            k,
            n,
            w_dtype,
            w,
            bias,
        } => {
            let (rows, k, n) = (*rows, *k, *n);
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            e.check_len("weights", w.len(), n * k)?;
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
            let bp = bias_param(e, bias, n)?;
            let xct = ctype(xt);
            let mut b = String::new();
            let _ = writeln!(
                b,
                "    uint32_t r, j, k;\n    for (r = 0; r < {rows}u; r++) {{"
            );
            let _ = writeln!(b, "        const {xct} *xr = x + r * {k}u;");
            let _ = writeln!(b, "        for (j = 0; j < {n}u; j++) {{");
            let _ = writeln!(b, "            uint32_t acc = (uint32_t){};", bp.at("j"));
            let sparse = sparse_form(&w[..n * k], n, k, ws, e.opts.sparse_min_zero_percent);
            let detail;
            if let Some((rowptr, cols, bytes)) = sparse {
                detail = format!(", sparse rows: {} nonzeros, {bytes} bytes", cols.len());
                let (rpt, rps) = narrowest(&rowptr);
                let (ct, cs) = narrowest(&cols);
                let vals: Vec<String> = w[..n * k]
                    .iter()
                    .filter(|&&v| v != 0)
                    .map(|&v| ilit(v.into()))
                    .collect();
                let rp = e.array(
                    "rowptr",
                    rpt,
                    rps,
                    rowptr.iter().map(|&v| v.to_string()).collect(),
                );
                let ci = e.array("col", ct, cs, cols.iter().map(|&v| v.to_string()).collect());
                let wv = e.array("w", wt, ws, vals);
                f.params.push(format!(
                    "const {rpt} *restrict rp, const {ct} *restrict ci, const {wt} *restrict wv"
                ));
                f.args.push(format!("{rp}, {ci}, {wv}"));
                let _ = writeln!(
                    b,
                    "            for (k = rp[j]; k < rp[j + 1u]; k++) {{\n                acc += SNNC_MUL(xr[ci[k]], wv[k]);\n            }}"
                );
            } else {
                detail = String::new();
                let items = w[..n * k].iter().map(|&v| ilit(v.into())).collect();
                let wn = e.array("w", wt, ws, items);
                f.params.push(format!("const {wt} *restrict w"));
                f.args.push(wn);
                let _ = writeln!(b, "            const {wt} *wr = w + j * {k}u;");
                b.push_str("            k = 0;\n");
                let simd = match (widen8(xt), widen8(*w_dtype)) {
                    (Some(xe), Some(we)) => Some(format!(
                        "            for (; k + 4u <= {k}u; k += 4u) {{\n                uint32_t xv = snnc_load4(xr + k), wv = snnc_load4(wr + k);\n                acc = (uint32_t)__smlad({xe}(xv), {we}(wv), (int32_t)acc);\n                acc = (uint32_t)__smlad({xe}(snnc_ror8(xv)), {we}(snnc_ror8(wv)), (int32_t)acc);\n            }}\n"
                    )),
                    _ if xt == DType::I16 && *w_dtype == DType::I16 => Some(format!(
                        "            for (; k + 2u <= {k}u; k += 2u) {{\n                acc = (uint32_t)__smlad((int32_t)snnc_load4(xr + k), (int32_t)snnc_load4(wr + k), (int32_t)acc);\n            }}\n"
                    )),
                    _ => None,
                };
                if let Some(s) = simd {
                    b.push_str("#if SNNC_SIMD32\n");
                    b.push_str(&s);
                    b.push_str("#endif\n");
                }
                let _ = writeln!(b, "            for (; k < {k}u; k++) {{\n                acc += SNNC_MUL(xr[k], wr[k]);\n            }}");
            }
            let _ = writeln!(
                b,
                "            y[r * {n}u + j] = (int32_t)acc;\n        }}\n    }}"
            );
            f.what = what(
                e,
                "DenseInt",
                *x,
                *y,
                &format!(", {w_dtype} weights [{n}][{k}]{detail}"),
            )?;
            f.body = b;
        }
        Kernel::DenseBin {
            x,
            y,
            rows,
            k,
            n,
            w,
            bias,
        } => {
            let (rows, k, n) = (*rows, *k, *n);
            let words = k.div_ceil(32);
            e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            packed_param(e, &mut f, "w", "weights", w, n * words)?;
            let bp = bias_param(e, bias, n)?;
            let mut b = String::new();
            let _ = writeln!(
                b,
                "    uint32_t r, j, q;\n    for (r = 0; r < {rows}u; r++) {{"
            );
            let _ = writeln!(b, "        const uint32_t *xr = x + r * {words}u;");
            let _ = writeln!(b, "        for (j = 0; j < {n}u; j++) {{");
            let _ = writeln!(
                b,
                "            const uint32_t *wr = w + j * {words}u;\n            uint32_t s = 0;"
            );
            match e.opts.popcount {
                Popcount::Naive => {
                    let _ = writeln!(b, "            for (q = 0; q < {words}u; q++) {{\n                s += snnc_pop_naive(xr[q] ^ wr[q]);\n            }}");
                }
                Popcount::Swar if words <= 31 => {
                    // Unrolled (GCC): the loop overhead was a fifth of the layer's instructions.
                    let _ = writeln!(b, "            uint32_t bytes = 0;\n#if defined(__GNUC__) && !defined(__clang__)\n#pragma GCC unroll 8\n#endif\n            for (q = 0; q < {words}u; q++) {{\n                bytes += snnc_pop_bytes(xr[q] ^ wr[q]);\n            }}\n            s = snnc_sum_bytes(bytes);");
                }
                Popcount::Swar => {
                    // Byte counts reach at most 8 per word: sum 31 words before they overflow.
                    let _ = writeln!(b, "            uint32_t q0;\n            for (q0 = 0; q0 < {words}u; q0 += 31u) {{\n                uint32_t end = q0 + 31u < {words}u ? q0 + 31u : {words}u;\n                uint32_t bytes = 0;\n                for (q = q0; q < end; q++) {{\n                    bytes += snnc_pop_bytes(xr[q] ^ wr[q]);\n                }}\n                s += snnc_sum_bytes(bytes);\n            }}");
                }
            }
            let _ = writeln!(
                b,
                "            y[r * {n}u + j] = (int32_t)({k}u - 2u * s + (uint32_t){});\n        }}\n    }}",
                bp.at("j")
            );
            f.what = what(
                e,
                "DenseBin",
                *x,
                *y,
                &format!(", [{n}][{k}] packed in {words} words a row"),
            )?;
            f.body = b;
        }
        Kernel::DenseBinW {
            x,
            y,
            rows,
            k,
            n,
            w,
            bias,
        } => {
            let (rows, k, n) = (*rows, *k, *n);
            let words = k.div_ceil(32);
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            packed_param(e, &mut f, "w", "weights", w, n * words)?;
            let bp = bias_param(e, bias, n)?;
            // Σ x·(±1) = Σ x − 2·Σ_{bit set} x: the row sum once per row, then one masked add
            // per weight bit (no multiplies).
            let mut b = String::new();
            if matches!(xt, DType::U8 | DType::Bool) {
                b.push_str("#if SNNC_SIMD32\n    /* Byte masks selected by 4 weight bits: bit i set keeps byte i. */\n    static const uint32_t snnc_nibble_bytes[16] = {\n        0x00000000u, 0x000000ffu, 0x0000ff00u, 0x0000ffffu, 0x00ff0000u, 0x00ff00ffu,\n        0x00ffff00u, 0x00ffffffu, 0xff000000u, 0xff0000ffu, 0xff00ff00u, 0xff00ffffu,\n        0xffff0000u, 0xffff00ffu, 0xffffff00u, 0xffffffffu};\n#endif\n");
            }
            let _ = writeln!(
                b,
                "    uint32_t r, j, q, t;\n    for (r = 0; r < {rows}u; r++) {{"
            );
            let _ = writeln!(
                b,
                "        const {} *xr = x + r * {k}u;\n        uint32_t sum = 0;",
                ctype(xt)
            );
            let _ = writeln!(
                b,
                "        for (t = 0; t < {k}u; t++) {{\n            sum += (uint32_t)xr[t];\n        }}"
            );
            let _ = writeln!(b, "        for (j = 0; j < {n}u; j++) {{");
            let _ = writeln!(
                b,
                "            const uint32_t *wr = w + j * {words}u;\n            uint32_t neg = 0;"
            );
            let _ = writeln!(
                b,
                "            for (q = 0; q < {words}u; q++) {{\n                uint32_t m = wr[q];\n                const {} *xq = xr + q * 32u;\n                uint32_t end = q * 32u + 32u < {k}u ? 32u : {k}u - q * 32u;\n                t = 0;",
                ctype(xt)
            );
            if matches!(xt, DType::U8 | DType::Bool) {
                // Four unsigned bytes at a time: the weight bits' nibble selects bytes through a
                // mask table and USADA8 adds them (|b − 0| = b), ~1.5 instructions per MAC.
                b.push_str(
                    "#if SNNC_SIMD32
",
                );
                let _ = writeln!(
                    b,
                    "                for (; t + 4u <= end; t += 4u) {{\n                    neg = __usada8(snnc_load4(xq + t) & snnc_nibble_bytes[(m >> t) & 15u], 0u, neg);\n                }}"
                );
                b.push_str("#endif\n");
            }
            let _ = writeln!(
                b,
                "                for (; t < end; t++) {{\n                    neg += (uint32_t)xq[t] & (0u - ((m >> t) & 1u));\n                }}\n            }}"
            );
            let _ = writeln!(
                b,
                "            y[r * {n}u + j] = (int32_t)(sum - 2u * neg + (uint32_t){});\n        }}\n    }}",
                bp.at("j")
            );
            f.what = what(
                e,
                "DenseBinW",
                *x,
                *y,
                &format!(", [{n}][{k}] ±1 weights packed in {words} words a row"),
            )?;
            f.body = b;
        }
        Kernel::DenseF32 {
            x,
            y,
            rows,
            k,
            n,
            w,
            alpha,
            bias,
        } => {
            let (rows, k, n) = (*rows, *k, *n);
            let xt = e.input(&mut f, "x", *x)?;
            e.output(&mut f, "y", *y)?;
            // The weight of (j, k): a float array, or a sign bit and the row's scale.
            let wexpr = match w {
                F32Weights::Dense(w) => {
                    e.check_len("weights", w.len(), n * k)?;
                    let items = w[..n * k]
                        .iter()
                        .map(|&v| flit(v))
                        .collect::<Result<Vec<_>, _>>()?;
                    let wn = e.array("w", "float", 4, items);
                    f.params.push("const float *restrict w".into());
                    f.args.push(wn);
                    "wr[k]".to_string()
                }
                F32Weights::Signs { bits, scale } => {
                    let words = k.div_ceil(32);
                    e.check_len("weight scales", scale.len(), n)?;
                    packed_param(e, &mut f, "wsign", "weight signs", bits, n * words)?;
                    let sp = e.fparam("wscale", &scale[..n])?;
                    format!(
                        "(((wsign[j * {words}u + (k >> 5)] >> (k & 31u)) & 1u) ? -{s} : {s})",
                        s = sp.at("j")
                    )
                }
            };
            let (row, xv) = match xt {
                DType::F32 => (k, "xr[k]".to_string()),
                DType::Bool => (k, "(float)xr[k]".to_string()),
                DType::Bin => (
                    k.div_ceil(32),
                    "(((xr[k >> 5] >> (k & 31u)) & 1u) ? -1.0f : 1.0f)".to_string(),
                ),
                other => {
                    return Err(codegen(format!(
                        "kernel {}: float dense layer over {other}",
                        e.k
                    )))
                }
            };
            let mut b = String::new();
            let _ = writeln!(
                b,
                "    uint32_t r, j, k;\n    for (r = 0; r < {rows}u; r++) {{"
            );
            let _ = writeln!(b, "        const {} *xr = x + r * {row}u;", ctype(xt));
            let _ = writeln!(b, "        for (j = 0; j < {n}u; j++) {{");
            if matches!(w, F32Weights::Dense(_)) {
                let _ = writeln!(b, "            const float *wr = w + j * {k}u;");
            }
            let _ = writeln!(b, "            float acc = 0.0f;");
            let _ = writeln!(b, "            for (k = 0; k < {k}u; k++) {{\n                acc = SNNC_FMAF({xv}, {wexpr}, acc);\n            }}");
            if let Some(a) = alpha {
                let _ = writeln!(b, "            acc = acc * {};", flit(*a)?);
            }
            if let Some(bias) = bias {
                e.check_len("bias", bias.len(), n)?;
                let bp = e.fparam("bias", &bias[..n])?;
                let _ = writeln!(b, "            acc = acc + {};", bp.at("j"));
            }
            let _ = writeln!(b, "            y[r * {n}u + j] = acc;\n        }}\n    }}");
            f.what = what(e, "DenseF32", *x, *y, &format!(", [{n}][{k}]"))?;
            f.body = b;
        }
        _ => return Err(codegen(format!("kernel {} is not a dense kernel", e.k))),
    }
    Ok(f)
}
