//! Dense layers: integer multiply-accumulate, binary XNOR-popcount, float dot products.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, I32, I32X4, I8, I8X16};
use cranelift_codegen::ir::{InstBuilder, StackSlotData, StackSlotKind, Value};
use cranelift_module::Module;
use snnc_ir::DType;

use super::super::fx::{mem, Fx, Param};
use crate::arm::plan::F32Weights;
use crate::arm::ArmError;

/// Shape and data of a dense kernel (the fields the three kinds share).
pub(crate) struct Dense {
    pub x: usize,
    pub y: usize,
    pub rows: usize,
    pub k: usize,
    pub n: usize,
}

/// Bytes of `w` (given as i32 values) in the storage format of `dtype`.
fn int_bytes(w: &[i32], dtype: DType) -> Vec<u8> {
    match dtype.size_bytes() {
        1 => w.iter().map(|&v| v as u8).collect(),
        2 => w.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
        _ => w.iter().flat_map(|&v| v.to_le_bytes()).collect(),
    }
}

fn bias_param<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    bias: Option<&[i32]>,
    n: usize,
) -> Result<Param, ArmError> {
    match bias {
        None => Ok(Param::Int(0)),
        Some(b) if b.len() == n => {
            let v: Vec<i64> = b.iter().map(|&x| i64::from(x)).collect();
            fx.int_param("bias", &v)
        }
        Some(b) => Err(fx.err(format!("bias has {} entries for {n} outputs", b.len()))),
    }
}

/// `y[r][j] = wrap_i32(Σ_k x[r][k]·w[j][k] + bias[j])`: i32 arithmetic wraps modulo 2^32, which
/// is exactly the wrap of the exact sum.
pub(crate) fn dense_int<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    d: &Dense,
    w_dtype: DType,
    w: &[i32],
    bias: Option<&[i32]>,
) -> Result<(), ArmError> {
    let xd = fx.dtype(d.x)?;
    let yd = fx.dtype(d.y)?;
    if matches!(xd, DType::F32 | DType::Bin) || w.len() != d.n * d.k {
        return Err(fx.err(format!(
            "DenseInt over {xd} with {} weights for {}×{}",
            w.len(),
            d.n,
            d.k
        )));
    }
    let xa = fx.addr(d.x)?;
    let ya = fx.addr(d.y)?;
    let wa = fx.table("w", int_bytes(w, w_dtype))?;
    let bias = bias_param(fx, bias, d.n)?;
    let (k, n) = (d.k, d.n);
    let (xs, ws) = (xd.size_bytes(), w_dtype.size_bytes());
    fx.loop_n(d.rows, |fx, r| {
        let xrow = fx.elem(xa, r, k * xs);
        fx.loop_n(n, |fx, j| {
            let acc = fx.b.declare_var(I32);
            let b0 = fx.get_int(&bias, j);
            let b0 = fx.b.ins().ireduce(I32, b0);
            fx.b.def_var(acc, b0);
            let wrow = fx.elem(wa, j, k * ws);
            fx.loop_n(k, |fx, kk| {
                let xv = fx.load_i32(xd, xrow, kk);
                let wv = fx.load_i32(w_dtype, wrow, kk);
                let p = fx.b.ins().imul(xv, wv);
                let a = fx.b.use_var(acc);
                let a = fx.b.ins().iadd(a, p);
                fx.b.def_var(acc, a);
            });
            let rn = fx.b.ins().imul_imm_s(r, n as i64);
            let idx = fx.b.ins().iadd(rn, j);
            let a = fx.b.use_var(acc);
            fx.store_i32(yd, ya, idx, a);
        });
    });
    Ok(())
}

/// Chunks of 16 bytes whose NEON/SSE byte popcounts are summed in u8 lanes before widening:
/// each lane gains at most 8 per chunk, so 31 chunks stay below 256.
const GROUP: usize = 31;

/// Σ popcount(x XOR w) over `words` u32 words at `xa` and `wa`, as an i32. Whole 16-byte chunks
/// use `popcnt.i8x16` (aarch64: `CNT`; x86: the SSSE3 nibble-table sequence), summed per byte
/// lane in groups of [`GROUP`], widened to i32x4 per group; the remaining words use scalar
/// `popcnt.i32`.
fn popcount_xor<M: Module>(fx: &mut Fx<'_, '_, M>, xa: Value, wa: Value, words: usize) -> Value {
    let chunks = words / 4;
    let total = fx.b.declare_var(I32);
    let zero32 = fx.iconst32(0);
    fx.b.def_var(total, zero32);
    if chunks > 0 {
        let acc32 = fx.b.declare_var(I32X4);
        let z = fx.b.ins().splat(I32X4, zero32);
        fx.b.def_var(acc32, z);
        let group = |fx: &mut Fx<'_, '_, M>, first: Value, len: usize| {
            let acc8 = fx.b.declare_var(I8X16);
            let z8 = fx.b.ins().iconst(I8, 0);
            let z8 = fx.b.ins().splat(I8X16, z8);
            fx.b.def_var(acc8, z8);
            fx.loop_n(len, |fx, c| {
                let ci = fx.b.ins().iadd(first, c);
                let xp = fx.elem(xa, ci, 16);
                let wp = fx.elem(wa, ci, 16);
                let xv = fx.b.ins().load(I8X16, mem(), xp, 0);
                let wv = fx.b.ins().load(I8X16, mem(), wp, 0);
                let d = fx.b.ins().bxor(xv, wv);
                let p = fx.b.ins().popcnt(d);
                let a = fx.b.use_var(acc8);
                let a = fx.b.ins().iadd(a, p);
                fx.b.def_var(acc8, a);
            });
            let a8 = fx.b.use_var(acc8);
            let lo = fx.b.ins().uwiden_low(a8);
            let hi = fx.b.ins().uwiden_high(a8);
            let s16 = fx.b.ins().iadd(lo, hi);
            let lo = fx.b.ins().uwiden_low(s16);
            let hi = fx.b.ins().uwiden_high(s16);
            let s32 = fx.b.ins().iadd(lo, hi);
            let a = fx.b.use_var(acc32);
            let a = fx.b.ins().iadd(a, s32);
            fx.b.def_var(acc32, a);
        };
        let full = chunks / GROUP;
        fx.loop_n(full, |fx, g| {
            let first = fx.b.ins().imul_imm_s(g, GROUP as i64);
            group(fx, first, GROUP);
        });
        if chunks % GROUP > 0 {
            let first = fx.iconst((full * GROUP) as i64);
            group(fx, first, chunks % GROUP);
        }
        let v = fx.b.use_var(acc32);
        let mut sum = fx.b.ins().extractlane(v, 0);
        for lane in 1..4u8 {
            let e = fx.b.ins().extractlane(v, lane);
            sum = fx.b.ins().iadd(sum, e);
        }
        fx.b.def_var(total, sum);
    }
    for wd in chunks * 4..words {
        let off = (wd * 4) as i32;
        let xv = fx.b.ins().load(I32, mem(), xa, off);
        let wv = fx.b.ins().load(I32, mem(), wa, off);
        let d = fx.b.ins().bxor(xv, wv);
        let p = fx.b.ins().popcnt(d);
        let t = fx.b.use_var(total);
        let t = fx.b.ins().iadd(t, p);
        fx.b.def_var(total, t);
    }
    fx.b.use_var(total)
}

/// `y[r][j] = wrap_i32(k − 2·Σ popcount(x_word XOR w_word) + bias[j])`.
pub(crate) fn dense_bin<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    d: &Dense,
    w: &[u32],
    bias: Option<&[i32]>,
) -> Result<(), ArmError> {
    let words = d.k.div_ceil(32);
    if fx.dtype(d.x)? != DType::Bin || w.len() != d.n * words {
        return Err(fx.err(format!(
            "DenseBin with {} weight words for {}×{words}",
            w.len(),
            d.n
        )));
    }
    let yd = fx.dtype(d.y)?;
    let xa = fx.addr(d.x)?;
    let ya = fx.addr(d.y)?;
    let wa = fx.table("w", w.iter().flat_map(|v| v.to_le_bytes()).collect())?;
    let bias = bias_param(fx, bias, d.n)?;
    let (k, n) = (d.k, d.n);
    fx.loop_n(d.rows, |fx, r| {
        let xrow = fx.elem(xa, r, words * 4);
        fx.loop_n(n, |fx, j| {
            let wrow = fx.elem(wa, j, words * 4);
            let pop = popcount_xor(fx, xrow, wrow, words);
            let twice = fx.b.ins().ishl_imm_u(pop, 1);
            let kc = fx.iconst32(k as i32);
            let v = fx.b.ins().isub(kc, twice);
            let b = fx.get_int(&bias, j);
            let b = fx.b.ins().ireduce(I32, b);
            let v = fx.b.ins().iadd(v, b);
            let rn = fx.b.ins().imul_imm_s(r, n as i64);
            let idx = fx.b.ins().iadd(rn, j);
            fx.store_i32(yd, ya, idx, v);
        });
    });
    Ok(())
}

/// Integer input × packed ±1 weights by bit planes: `Σ_k x·w = S − 2·Σ_{bit set} x` with `S =
/// Σ x`, and `Σ_{bit set} x = Σ_b 2^b·popcount(plane_b & m)` over the bit planes of the input row
/// (packed like the weights, built once per row; a signed input's top plane weighs −2^top). Per
/// output and weight word: one AND + popcount per plane instead of 32 multiply-adds. All sums
/// wrap in i32, exactly like the exact sum.
pub(crate) fn dense_bin_w<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    d: &Dense,
    w: &[u32],
    bias: Option<&[i32]>,
) -> Result<(), ArmError> {
    let words = d.k.div_ceil(32);
    let xd = fx.dtype(d.x)?;
    let planes: u32 = match xd {
        DType::Bool => 1,
        DType::U8 | DType::I8 => 8,
        DType::U16 | DType::I16 => 16,
        DType::I32 => 32,
        _ => 0,
    };
    if planes == 0 || w.len() != d.n * words {
        return Err(fx.err(format!(
            "DenseBinW over {xd} with {} weight words for {}×{words}",
            w.len(),
            d.n
        )));
    }
    let signed = matches!(xd, DType::I8 | DType::I16 | DType::I32);
    let yd = fx.dtype(d.y)?;
    let xa = fx.addr(d.x)?;
    let ya = fx.addr(d.y)?;
    let wa = fx.table("w", w.iter().flat_map(|v| v.to_le_bytes()).collect())?;
    let bias = bias_param(fx, bias, d.n)?;
    let (k, n, xs) = (d.k, d.n, xd.size_bytes());
    let plane_bytes = planes as usize * words * 4;
    let slot = fx.b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        plane_bytes as u32,
        4,
    ));
    fx.loop_n(d.rows, |fx, r| {
        let xrow = fx.elem(xa, r, k * xs);
        let pbase = fx.b.ins().stack_addr(fx.ptr, slot, 0);
        fx.zero(pbase, plane_bytes);
        // S and the planes in one pass over the row.
        let sum = fx.b.declare_var(I32);
        let zero = fx.iconst32(0);
        fx.b.def_var(sum, zero);
        fx.loop_n(k, |fx, kk| {
            let xv = fx.load_i32(xd, xrow, kk);
            let s = fx.b.use_var(sum);
            let s = fx.b.ins().iadd(s, xv);
            fx.b.def_var(sum, s);
            let word = fx.b.ins().ushr_imm_u(kk, 5);
            let sh = fx.b.ins().ireduce(I32, kk);
            let sh = fx.b.ins().band_imm_u(sh, 31);
            for b in 0..planes {
                let bit = fx.b.ins().ushr_imm_u(xv, i64::from(b));
                let bit = fx.b.ins().band_imm_u(bit, 1);
                let bit = fx.b.ins().ishl(bit, sh);
                let at = fx.b.ins().iadd_imm_s(word, i64::from(b) * words as i64);
                let p = fx.load_i32(DType::I32, pbase, at);
                let p = fx.b.ins().bor(p, bit);
                fx.store_i32(DType::I32, pbase, at, p);
            }
        });
        fx.loop_n(n, |fx, j| {
            let neg = fx.b.declare_var(I32);
            let zero = fx.iconst32(0);
            fx.b.def_var(neg, zero);
            let wrow = fx.elem(wa, j, words * 4);
            fx.loop_n(words, |fx, q| {
                let m = fx.load_i32(DType::I32, wrow, q);
                for b in 0..planes {
                    let at = fx.b.ins().iadd_imm_s(q, i64::from(b) * words as i64);
                    let p = fx.load_i32(DType::I32, pbase, at);
                    let c = fx.b.ins().band(p, m);
                    let c = fx.b.ins().popcnt(c);
                    let c = fx.b.ins().ishl_imm_u(c, i64::from(b));
                    let a = fx.b.use_var(neg);
                    let a = if signed && b == planes - 1 {
                        fx.b.ins().isub(a, c)
                    } else {
                        fx.b.ins().iadd(a, c)
                    };
                    fx.b.def_var(neg, a);
                }
            });
            let s = fx.b.use_var(sum);
            let ng = fx.b.use_var(neg);
            let twice = fx.b.ins().ishl_imm_u(ng, 1);
            let v = fx.b.ins().isub(s, twice);
            let bj = fx.get_int(&bias, j);
            let bj = fx.b.ins().ireduce(I32, bj);
            let v = fx.b.ins().iadd(v, bj);
            let rn = fx.b.ins().imul_imm_s(r, n as i64);
            let idx = fx.b.ins().iadd(rn, j);
            fx.store_i32(yd, ya, idx, v);
        });
    });
    Ok(())
}

/// Element `kk` of row `xrow` of a dense input as f32: f32 as is, bool 0/1, bin ±1.
fn input_f32<M: Module>(fx: &mut Fx<'_, '_, M>, xd: DType, xrow: Value, kk: Value) -> Value {
    match xd {
        DType::F32 => fx.load_f32(xrow, kk),
        DType::Bin => {
            let word = fx.b.ins().ushr_imm_u(kk, 5);
            let wv = fx.load_i32(DType::I32, xrow, word);
            let bit = fx.b.ins().ireduce(I32, kk);
            let bit = fx.b.ins().band_imm_u(bit, 31);
            let s = fx.b.ins().ushr(wv, bit);
            let s = fx.b.ins().band_imm_u(s, 1);
            let minus = fx.b.ins().f32const(-1.0);
            let plus = fx.b.ins().f32const(1.0);
            let neg = fx.b.ins().icmp_imm_s(IntCC::NotEqual, s, 0);
            fx.b.ins().select(neg, minus, plus)
        }
        other => {
            let v = fx.load_i64(other, xrow, kk);
            fx.b.ins().fcvt_from_sint(F32, v)
        }
    }
}

/// `acc = 0; acc = fma(x, w, acc)` in k order, then `·alpha`, then `+ bias`.
///
/// The kernel comment says `acc + x·w` without fusing, but the reference interpreter (the
/// oracle) accumulates f32 dot products with a fused multiply-add, one rounding per term; this
/// follows the reference. With a bool or bin input the product is exact and both agree.
pub(crate) fn dense_f32<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    d: &Dense,
    w: &F32Weights,
    alpha: Option<f32>,
    bias: Option<&[f32]>,
) -> Result<(), ArmError> {
    let xd = fx.dtype(d.x)?;
    let words = d.k.div_ceil(32);
    let ok = match w {
        F32Weights::Dense(w) => w.len() == d.n * d.k,
        F32Weights::Signs { bits, scale } => bits.len() == d.n * words && scale.len() == d.n,
    };
    if !ok || bias.is_some_and(|b| b.len() != d.n) {
        return Err(fx.err(format!("DenseF32 weights do not match {}×{}", d.n, d.k)));
    }
    let xa = fx.addr(d.x)?;
    let ya = fx.addr(d.y)?;
    // Dense: a float table; signs: a packed sign table and the rows' scales.
    let (wa, scale) = match w {
        F32Weights::Dense(w) => (
            fx.table("w", w.iter().flat_map(|v| v.to_le_bytes()).collect())?,
            None,
        ),
        F32Weights::Signs { bits, scale } => (
            fx.table("wsign", bits.iter().flat_map(|v| v.to_le_bytes()).collect())?,
            Some(fx.f32_param("wscale", scale)?),
        ),
    };
    let bias = match bias {
        Some(b) => Some(fx.f32_param("bias", b)?),
        None => None,
    };
    let (k, n) = (d.k, d.n);
    let row_bytes = crate::arm::plan::storage_bytes(xd, &[k]);
    fx.loop_n(d.rows, |fx, r| {
        let xrow = fx.elem(xa, r, row_bytes);
        fx.loop_n(n, |fx, j| {
            let acc = fx.b.declare_var(F32);
            let z = fx.b.ins().f32const(0.0);
            fx.b.def_var(acc, z);
            let (wrow, sj) = match &scale {
                None => (fx.elem(wa, j, k * 4), None),
                Some(sp) => (fx.elem(wa, j, words * 4), Some(fx.get_f32(sp, j))),
            };
            fx.loop_n(k, |fx, kk| {
                let xv = input_f32(fx, xd, xrow, kk);
                let wv = match sj {
                    None => fx.load_f32(wrow, kk),
                    Some(s) => {
                        let word = fx.b.ins().ushr_imm_u(kk, 5);
                        let wbits = fx.load_i32(DType::I32, wrow, word);
                        let bit = fx.b.ins().ireduce(I32, kk);
                        let bit = fx.b.ins().band_imm_u(bit, 31);
                        let sb = fx.b.ins().ushr(wbits, bit);
                        let sb = fx.b.ins().band_imm_u(sb, 1);
                        let neg = fx.b.ins().icmp_imm_s(IntCC::NotEqual, sb, 0);
                        let ns = fx.b.ins().fneg(s);
                        fx.b.ins().select(neg, ns, s)
                    }
                };
                // One rounding per term, as the reference accumulates f32 dot products
                // (snnc_ir::interp::num::Acc::mac, `f32::mul_add`, matching onnxruntime).
                let a = fx.b.use_var(acc);
                let a = fx.b.ins().fma(xv, wv, a);
                fx.b.def_var(acc, a);
            });
            let mut a = fx.b.use_var(acc);
            if let Some(al) = alpha {
                let al = fx.b.ins().f32const(al);
                a = fx.b.ins().fmul(a, al);
            }
            if let Some(bp) = &bias {
                let bv = fx.get_f32(bp, j);
                a = fx.b.ins().fadd(a, bv);
            }
            let rn = fx.b.ins().imul_imm_s(r, n as i64);
            let idx = fx.b.ins().iadd(rn, j);
            fx.store_f32(ya, idx, a);
        });
    });
    Ok(())
}
