//! Elementwise kernels: fixed-point LIF step, broadcast add/mul, affine, clamp, copy.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::InstBuilder;
use cranelift_module::Module;
use snnc_ir::DType;

use super::super::fx::Fx;
use crate::arm::plan::{BinaryOp, Channels, Reset};
use crate::arm::ArmError;

/// Parameters of [`Kernel::IntLif`](crate::arm::plan::Kernel::IntLif) after the value ids.
pub(crate) struct LifParams<'p> {
    pub n: usize,
    pub state: usize,
    pub decay: &'p [i64],
    pub bias: &'p [i64],
    pub threshold: &'p [i64],
    pub v_reset: &'p [i64],
    pub frac_bits: u32,
    pub lo: i64,
    pub hi: i64,
    pub reset: Reset,
}

/// One LIF time step per neuron, membranes as i32 in the state region.
pub(crate) fn int_lif<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    p: &LifParams<'_>,
) -> Result<(), ArmError> {
    let xd = fx.dtype(x)?;
    let yd = fx.dtype(y)?;
    let n = p.n;
    let lens = [
        p.decay.len(),
        p.bias.len(),
        p.threshold.len(),
        p.v_reset.len(),
    ];
    if matches!(xd, DType::F32 | DType::Bin)
        || lens.iter().any(|&l| l != n)
        || fx.numel(x)? != n
        || p.frac_bits > 62
    {
        return Err(fx.err(format!("IntLif of {n} neurons over {xd}")));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let sa = fx.state_addr(p.state)?;
    let decay = fx.int_param("decay", p.decay)?;
    let bias = fx.int_param("bias", p.bias)?;
    let th = fx.int_param("threshold", p.threshold)?;
    let vr = fx.int_param("v_reset", p.v_reset)?;
    let (f, lo, hi, reset) = (p.frac_bits, p.lo, p.hi, p.reset);
    fx.loop_n(n, |fx, i| {
        let v = fx.load_i64(DType::I32, sa, i);
        let d = fx.get_int(&decay, i);
        let mut leak = fx.b.ins().imul(v, d);
        if f > 0 {
            leak = fx.b.ins().iadd_imm_s(leak, 1i64 << (f - 1));
            leak = fx.b.ins().sshr_imm_u(leak, i64::from(f));
        }
        let xv = fx.load_i64(xd, xa, i);
        let bv = fx.get_int(&bias, i);
        let u = fx.b.ins().iadd(leak, xv);
        let u = fx.b.ins().iadd(u, bv);
        let lo_v = fx.iconst(lo);
        let hi_v = fx.iconst(hi);
        let u = fx.b.ins().smax(u, lo_v);
        let u = fx.b.ins().smin(u, hi_v);
        let t = fx.get_int(&th, i);
        let fire = fx.b.ins().icmp(IntCC::SignedGreaterThan, u, t);
        let after = match reset {
            Reset::ToValue => fx.get_int(&vr, i),
            Reset::Subtract => {
                let s = fx.b.ins().isub(u, t);
                let s = fx.b.ins().smax(s, lo_v);
                fx.b.ins().smin(s, hi_v)
            }
        };
        let u = fx.b.ins().select(fire, after, u);
        fx.store_i64(DType::I32, sa, i, u);
        let fire = fx.b.ins().uextend(I64, fire);
        fx.store_i64(yd, ya, i, fire);
    });
    Ok(())
}

/// Operands and shapes of [`Kernel::Elementwise`](crate::arm::plan::Kernel::Elementwise).
pub(crate) struct Broadcast {
    pub op: BinaryOp,
    pub a: usize,
    pub b: usize,
    pub y: usize,
    pub shape: [usize; 4],
    pub a_strides: [usize; 4],
    pub b_strides: [usize; 4],
}

/// `y[idx] = a[idx·a_strides] op b[idx·b_strides]` over the 4-D index, `y` dense row-major.
pub(crate) fn elementwise<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    e: &Broadcast,
) -> Result<(), ArmError> {
    let (ad, bd, yd) = (fx.dtype(e.a)?, fx.dtype(e.b)?, fx.dtype(e.y)?);
    let float = yd == DType::F32;
    if (float && (ad != DType::F32 || bd != DType::F32))
        || (!float && (ad == DType::F32 || bd == DType::F32))
        || [ad, bd, yd].contains(&DType::Bin)
        || fx.numel(e.y)? != e.shape.iter().product::<usize>()
    {
        return Err(fx.err(format!("Elementwise {ad} and {bd} into {yd}")));
    }
    let aa = fx.addr(e.a)?;
    let ba = fx.addr(e.b)?;
    let ya = fx.addr(e.y)?;
    let [s0, s1, s2, s3] = e.shape;
    let dot = |fx: &mut Fx<'_, '_, M>, idx: [cranelift_codegen::ir::Value; 4], st: [usize; 4]| {
        let mut acc = fx.iconst(0);
        for (v, s) in idx.into_iter().zip(st) {
            if s != 0 {
                let t = fx.b.ins().imul_imm_s(v, s as i64);
                acc = fx.b.ins().iadd(acc, t);
            }
        }
        acc
    };
    let ystrides = [s1 * s2 * s3, s2 * s3, s3, 1];
    fx.loop_n(s0, |fx, i0| {
        fx.loop_n(s1, |fx, i1| {
            fx.loop_n(s2, |fx, i2| {
                fx.loop_n(s3, |fx, i3| {
                    let idx = [i0, i1, i2, i3];
                    let ai = dot(fx, idx, e.a_strides);
                    let bi = dot(fx, idx, e.b_strides);
                    let yi = dot(fx, idx, ystrides);
                    if float {
                        let av = fx.load_f32(aa, ai);
                        let bv = fx.load_f32(ba, bi);
                        let r = match e.op {
                            BinaryOp::Add => fx.b.ins().fadd(av, bv),
                            BinaryOp::Mul => fx.b.ins().fmul(av, bv),
                        };
                        fx.store_f32(ya, yi, r);
                    } else {
                        let av = fx.load_i64(ad, aa, ai);
                        let bv = fx.load_i64(bd, ba, bi);
                        let r = match e.op {
                            BinaryOp::Add => fx.b.ins().iadd(av, bv),
                            BinaryOp::Mul => fx.b.ins().imul(av, bv),
                        };
                        fx.store_i64(yd, ya, yi, r);
                    }
                });
            });
        });
    });
    Ok(())
}

/// `y = x·scale[c] + shift[c]` (f32, two rounded operations).
pub(crate) fn scale_shift<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    scale: &[f32],
    shift: &[f32],
    ch: Channels,
) -> Result<(), ArmError> {
    let numel = fx.numel(x)?;
    if fx.dtype(x)? != DType::F32 || fx.dtype(y)? != DType::F32 || fx.numel(y)? != numel {
        return Err(fx.err("ScaleShift of a non-f32 value"));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let sc = fx.f32_param("scale", scale)?;
    let sh = fx.f32_param("shift", shift)?;
    fx.for_each_ch(numel, ch, |fx, i, c| {
        let xv = fx.load_f32(xa, i);
        let s = fx.get_f32(&sc, c);
        let t = fx.get_f32(&sh, c);
        let p = fx.b.ins().fmul(xv, s);
        let v = fx.b.ins().fadd(p, t);
        fx.store_f32(ya, i, v);
    });
    Ok(())
}

/// Clamp into `[lo, hi]`: integers as integers, f32 as `x < lo ? lo : x`, `x > hi ? hi : x`.
pub(crate) fn clamp<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    lo: f64,
    hi: f64,
) -> Result<(), ArmError> {
    let xd = fx.dtype(x)?;
    let numel = fx.numel(x)?;
    if fx.dtype(y)? != xd || fx.numel(y)? != numel || xd == DType::Bin || lo.is_nan() || hi.is_nan()
    {
        return Err(fx.err(format!("Clamp of {xd} into [{lo}, {hi}]")));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    fx.loop_n(numel, |fx, i| {
        if xd == DType::F32 {
            let mut v = fx.load_f32(xa, i);
            if lo != f64::NEG_INFINITY {
                let l = fx.b.ins().f32const(lo as f32);
                let below = fx.b.ins().fcmp(FloatCC::LessThan, v, l);
                v = fx.b.ins().select(below, l, v);
            }
            if hi != f64::INFINITY {
                let h = fx.b.ins().f32const(hi as f32);
                let above = fx.b.ins().fcmp(FloatCC::GreaterThan, v, h);
                v = fx.b.ins().select(above, h, v);
            }
            fx.store_f32(ya, i, v);
        } else {
            let mut v = fx.load_i64(xd, xa, i);
            if lo.is_finite() {
                let l = fx.iconst(lo as i64);
                v = fx.b.ins().smax(v, l);
            }
            if hi.is_finite() {
                let h = fx.iconst(hi as i64);
                v = fx.b.ins().smin(v, h);
            }
            fx.store_i64(xd, ya, i, v);
        }
    });
    Ok(())
}

/// Byte copy of `x` into `y`.
pub(crate) fn copy<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
) -> Result<(), ArmError> {
    let bytes = fx.bytes(x)?;
    if fx.bytes(y)? != bytes {
        return Err(fx.err("Copy between values of different sizes"));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    fx.copy(ya, xa, bytes);
    Ok(())
}
