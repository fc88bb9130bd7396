//! Conversions between number formats: float ↔ integer, integer rescale, integer → bin.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F64, I32};
use cranelift_codegen::ir::InstBuilder;
use cranelift_module::Module;
use snnc_ir::DType;

use super::super::fx::{mem, Fx, Param};
use crate::arm::plan::Channels;
use crate::arm::ArmError;

/// Check that `x` and `y` have the element count the kernel needs, returning it.
fn same_numel<M: Module>(fx: &Fx<'_, '_, M>, x: usize, y: usize) -> Result<usize, ArmError> {
    let (nx, ny) = (fx.numel(x)?, fx.numel(y)?);
    if nx != ny {
        return Err(fx.err(format!("input of {nx} elements, output of {ny}")));
    }
    Ok(nx)
}

/// `r = nearest(x / scale)` in f32; `y = lo` for NaN, else `clamp(r + zp, lo, hi)` in f64.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    scale: &[f32],
    zero_point: &[i32],
    ch: Channels,
    lo: i32,
    hi: i32,
) -> Result<(), ArmError> {
    let numel = same_numel(fx, x, y)?;
    let yd = fx.dtype(y)?;
    if fx.dtype(x)? != DType::F32 {
        return Err(fx.err("Quantize of a non-f32 value"));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let scale = fx.f32_param("scale", scale)?;
    let zp: Vec<i64> = zero_point.iter().map(|&v| i64::from(v)).collect();
    let zp = fx.int_param("zero_point", &zp)?;
    fx.for_each_ch(numel, ch, |fx, i, c| {
        let xv = fx.load_f32(xa, i);
        let s = fx.get_f32(&scale, c);
        let q = fx.b.ins().fdiv(xv, s);
        let r = fx.b.ins().nearest(q);
        let nan = fx.b.ins().fcmp(FloatCC::Unordered, r, r);
        let r64 = fx.b.ins().fpromote(F64, r);
        let z = match zp {
            Param::Int(v) => fx.b.ins().f64const(v as f64),
            _ => {
                let zi = fx.get_int(&zp, c);
                fx.b.ins().fcvt_from_sint(F64, zi)
            }
        };
        let v = fx.b.ins().fadd(r64, z);
        let lo_f = fx.b.ins().f64const(f64::from(lo));
        let hi_f = fx.b.ins().f64const(f64::from(hi));
        let v = fx.b.ins().fmax(v, lo_f);
        let v = fx.b.ins().fmin(v, hi_f);
        let q = fx.b.ins().fcvt_to_sint_sat(I32, v);
        let lo_i = fx.iconst32(lo);
        let q = fx.b.ins().select(nan, lo_i, q);
        fx.store_i32(yd, ya, i, q);
    });
    Ok(())
}

/// `y = (f32)(x − zp) · scale` with the difference exact in i64.
pub(crate) fn dequantize<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    scale: &[f32],
    zero_point: &[i32],
    ch: Channels,
) -> Result<(), ArmError> {
    let numel = same_numel(fx, x, y)?;
    let xd = fx.dtype(x)?;
    if matches!(xd, DType::F32 | DType::Bin) {
        return Err(fx.err(format!("Dequantize of {xd}")));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let scale = fx.f32_param("scale", scale)?;
    let zp: Vec<i64> = zero_point.iter().map(|&v| i64::from(v)).collect();
    let zp = fx.int_param("zero_point", &zp)?;
    fx.for_each_ch(numel, ch, |fx, i, c| {
        let xv = fx.load_i64(xd, xa, i);
        let z = fx.get_int(&zp, c);
        let d = fx.b.ins().isub(xv, z);
        let f = fx.b.ins().fcvt_from_sint(F32, d);
        let s = fx.get_f32(&scale, c);
        let v = fx.b.ins().fmul(f, s);
        fx.store_f32(ya, i, v);
    });
    Ok(())
}

/// Parameters of [`Kernel::Requant`](crate::arm::plan::Kernel::Requant) after the value ids.
pub(crate) struct RequantParams<'p> {
    pub multiplier: &'p [i64],
    pub shift: &'p [u32],
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
    pub ch: Channels,
}

/// `p = x·m` (i64), `q = s == 0 ? p : (p + 2^(s−1)) >> s`, `y = clamp(q + zp, lo, hi)`.
pub(crate) fn requant<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    rp: &RequantParams<'_>,
) -> Result<(), ArmError> {
    let numel = same_numel(fx, x, y)?;
    let xd = fx.dtype(x)?;
    let yd = fx.dtype(y)?;
    if matches!(xd, DType::F32 | DType::Bin | DType::I64) {
        return Err(fx.err(format!("Requant of {xd}")));
    }
    if rp.shift.iter().any(|&s| s > 62) {
        return Err(fx.err("Requant shift above 62"));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let m = fx.int_param("multiplier", rp.multiplier)?;
    let shifts: Vec<i64> = rp.shift.iter().map(|&s| i64::from(s)).collect();
    let s = fx.int_param("shift", &shifts)?;
    let (zp, lo, hi) = (rp.zero_point, rp.lo, rp.hi);
    fx.for_each_ch(numel, rp.ch, |fx, i, c| {
        let xv = fx.load_i64(xd, xa, i);
        let mv = fx.get_int(&m, c);
        let p = fx.b.ins().imul(xv, mv);
        let q = match s {
            Param::Int(0) => p,
            Param::Int(sh) => {
                let r = fx.b.ins().iadd_imm_s(p, 1i64 << (sh - 1));
                fx.b.ins().sshr_imm_u(r, sh)
            }
            _ => {
                let sv = fx.get_int(&s, c);
                // 2^(s−1) for s ≥ 1 and 0 for s = 0, without a branch.
                let one = fx.iconst(1);
                let half = fx.b.ins().ishl(one, sv);
                let half = fx.b.ins().ushr_imm_u(half, 1);
                let r = fx.b.ins().iadd(p, half);
                fx.b.ins().sshr(r, sv)
            }
        };
        let v = fx.b.ins().iadd_imm_s(q, i64::from(zp));
        let lo_v = fx.iconst(i64::from(lo));
        let hi_v = fx.iconst(i64::from(hi));
        let v = fx.b.ins().smax(v, lo_v);
        let v = fx.b.ins().smin(v, hi_v);
        fx.store_i64(yd, ya, i, v);
    });
    Ok(())
}

/// Element `i` is −1 (bit 1) unless `x ≥ threshold` (`x ≤ threshold` when flipped); bits are
/// packed LSB-first into u32 words along rows of `last` elements, rows padded with 0 bits.
pub(crate) fn bin_threshold<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    threshold: &[i64],
    flip: &[bool],
    ch: Channels,
    last: usize,
) -> Result<(), ArmError> {
    let numel = same_numel(fx, x, y)?;
    let xd = fx.dtype(x)?;
    if matches!(xd, DType::F32 | DType::Bin) || fx.dtype(y)? != DType::Bin || last == 0 {
        return Err(fx.err(format!("BinThreshold of {xd} with rows of {last}")));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let ybytes = fx.bytes(y)?;
    let row_bytes = last.div_ceil(32) * 4;
    let th = fx.int_param("threshold", threshold)?;
    let flips: Vec<i64> = flip.iter().map(|&f| i64::from(f)).collect();
    let fl = fx.int_param("flip", &flips)?;
    fx.zero(ya, ybytes);
    // Column within the row and byte offset of the row, advanced per element.
    let col = fx.b.declare_var(cranelift_codegen::ir::types::I64);
    let row = fx.b.declare_var(cranelift_codegen::ir::types::I64);
    let z = fx.iconst(0);
    fx.b.def_var(col, z);
    fx.b.def_var(row, z);
    fx.for_each_ch(numel, ch, |fx, i, c| {
        let xv = fx.load_i64(xd, xa, i);
        let t = fx.get_int(&th, c);
        let keep = match fl {
            Param::Int(0) => fx.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, xv, t),
            Param::Int(_) => fx.b.ins().icmp(IntCC::SignedLessThanOrEqual, xv, t),
            _ => {
                let ge = fx.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, xv, t);
                let le = fx.b.ins().icmp(IntCC::SignedLessThanOrEqual, xv, t);
                let f = fx.get_int(&fl, c);
                let f = fx.b.ins().icmp_imm_s(IntCC::NotEqual, f, 0);
                fx.b.ins().select(f, le, ge)
            }
        };
        let keep = fx.b.ins().uextend(I32, keep);
        let bit = fx.b.ins().bxor_imm_u(keep, 1);
        let cv = fx.b.use_var(col);
        let rv = fx.b.use_var(row);
        let word = fx.b.ins().ushr_imm_u(cv, 5);
        let wa = fx.b.ins().iadd(ya, rv);
        let wa = fx.elem(wa, word, 4);
        let sh = fx.b.ins().ireduce(I32, cv);
        let sh = fx.b.ins().band_imm_u(sh, 31);
        let bit = fx.b.ins().ishl(bit, sh);
        let old = fx.b.ins().load(I32, mem(), wa, 0);
        let new = fx.b.ins().bor(old, bit);
        fx.b.ins().store(mem(), new, wa, 0);
        // col += 1; at the end of a row: col = 0, row += row_bytes.
        let next = fx.b.ins().iadd_imm_s(cv, 1);
        let wrap = fx.b.ins().icmp_imm_s(IntCC::Equal, next, last as i64);
        let zero = fx.iconst(0);
        let next = fx.b.ins().select(wrap, zero, next);
        let step = fx.iconst(row_bytes as i64);
        let adv = fx.b.ins().select(wrap, step, zero);
        let nr = fx.b.ins().iadd(rv, adv);
        fx.b.def_var(col, next);
        fx.b.def_var(row, nr);
    });
    Ok(())
}
