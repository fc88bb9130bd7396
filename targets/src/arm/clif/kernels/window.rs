//! Window kernels over one `[C, H, W]` image: integer convolution and pooling.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_module::Module;
use snnc_ir::DType;

use super::super::fx::Fx;
use crate::arm::plan::{PoolKind, Window};
use crate::arm::ArmError;

/// Whether every tap of every output position lies inside the input (then no bounds checks
/// are emitted).
fn all_inside(win: &Window) -> bool {
    let last = |out: usize, s: usize, k: usize, d: usize| {
        out.saturating_sub(1) * s + k.saturating_sub(1) * d
    };
    win.pad == [0, 0]
        && last(win.out_h, win.stride[0], win.kh, win.dilation[0]) < win.h.max(1)
        && last(win.out_w, win.stride[1], win.kw, win.dilation[1]) < win.w.max(1)
}

/// The tap `(ky, kx)` of output `(oy, ox)`: its flat offset `iy·w + ix` in a plane (0 for a
/// padded tap, so the load stays in bounds) and, when bounds checks are needed, whether it
/// lies inside the input.
fn tap<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    win: &Window,
    checked: bool,
    pos: [Value; 4],
) -> (Value, Option<Value>) {
    let [oy, ox, ky, kx] = pos;
    let coord = |fx: &mut Fx<'_, '_, M>, o: Value, k: Value, s: usize, d: usize, p: usize| {
        let a = fx.b.ins().imul_imm_s(o, s as i64);
        let b = fx.b.ins().imul_imm_s(k, d as i64);
        let c = fx.b.ins().iadd(a, b);
        if p == 0 {
            c
        } else {
            fx.b.ins().iadd_imm_s(c, -(p as i64))
        }
    };
    let iy = coord(fx, oy, ky, win.stride[0], win.dilation[0], win.pad[0]);
    let ix = coord(fx, ox, kx, win.stride[1], win.dilation[1], win.pad[1]);
    let row = fx.b.ins().imul_imm_s(iy, win.w as i64);
    let off = fx.b.ins().iadd(row, ix);
    if !checked {
        return (off, None);
    }
    let vy =
        fx.b.ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, iy, win.h as i64);
    let vx =
        fx.b.ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, ix, win.w as i64);
    let valid = fx.b.ins().band(vy, vx);
    let zero = fx.iconst(0);
    let off = fx.b.ins().select(valid, off, zero);
    (off, Some(valid))
}

/// `y[o][oy][ox] = wrap_i32(bias[o] + Σ x·w)` over the taps inside the input, in i32.
pub(crate) fn conv2d_int<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    win: &Window,
    w_dtype: DType,
    w: &[i32],
    bias: Option<&[i32]>,
) -> Result<(), ArmError> {
    let xd = fx.dtype(x)?;
    let yd = fx.dtype(y)?;
    let groups = win.groups.max(1);
    let (cpg, opg) = (win.c_in / groups, win.c_out / groups);
    if matches!(xd, DType::F32 | DType::Bin)
        || w.len() != win.c_out * cpg * win.kh * win.kw
        || bias.is_some_and(|b| b.len() != win.c_out)
    {
        return Err(fx.err(format!(
            "Conv2dInt over {xd} with {} weights for {win:?}",
            w.len()
        )));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let wbytes = match w_dtype.size_bytes() {
        1 => w.iter().map(|&v| v as u8).collect(),
        2 => w.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
        _ => w.iter().flat_map(|&v| v.to_le_bytes()).collect(),
    };
    let wa = fx.table("w", wbytes)?;
    let bias = match bias {
        Some(b) => fx.int_param("bias", &b.iter().map(|&v| i64::from(v)).collect::<Vec<_>>())?,
        None => super::super::fx::Param::Int(0),
    };
    let checked = !all_inside(win);
    let plane = win.h * win.w;
    let (kh, kw) = (win.kh, win.kw);
    fx.loop_n(groups, |fx, g| {
        fx.loop_n(opg, |fx, oo| {
            let o = fx.b.ins().imul_imm_s(g, opg as i64);
            let o = fx.b.ins().iadd(o, oo);
            fx.loop_n(win.out_h, |fx, oy| {
                fx.loop_n(win.out_w, |fx, ox| {
                    let acc = fx.b.declare_var(I32);
                    let b0 = fx.get_int(&bias, o);
                    let b0 = fx.b.ins().ireduce(I32, b0);
                    fx.b.def_var(acc, b0);
                    fx.loop_n(cpg, |fx, cig| {
                        let ci = fx.b.ins().imul_imm_s(g, cpg as i64);
                        let ci = fx.b.ins().iadd(ci, cig);
                        let xplane = fx.elem(xa, ci, plane * xd.size_bytes());
                        let oc = fx.b.ins().imul_imm_s(o, cpg as i64);
                        let oc = fx.b.ins().iadd(oc, cig);
                        let wk = fx.elem(wa, oc, kh * kw * w_dtype.size_bytes());
                        fx.loop_n(kh, |fx, ky| {
                            fx.loop_n(kw, |fx, kx| {
                                let (off, valid) = tap(fx, win, checked, [oy, ox, ky, kx]);
                                let mut xv = fx.load_i32(xd, xplane, off);
                                if let Some(v) = valid {
                                    let z = fx.iconst32(0);
                                    xv = fx.b.ins().select(v, xv, z);
                                }
                                let ti = fx.b.ins().imul_imm_s(ky, kw as i64);
                                let ti = fx.b.ins().iadd(ti, kx);
                                let wv = fx.load_i32(w_dtype, wk, ti);
                                let p = fx.b.ins().imul(xv, wv);
                                let a = fx.b.use_var(acc);
                                let a = fx.b.ins().iadd(a, p);
                                fx.b.def_var(acc, a);
                            });
                        });
                    });
                    let idx = out_index(fx, win, o, oy, ox);
                    let a = fx.b.use_var(acc);
                    fx.store_i32(yd, ya, idx, a);
                });
            });
        });
    });
    Ok(())
}

/// Flat index of output `(o, oy, ox)`.
fn out_index<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    win: &Window,
    o: Value,
    oy: Value,
    ox: Value,
) -> Value {
    let a = fx.b.ins().imul_imm_s(o, win.out_h as i64);
    let a = fx.b.ins().iadd(a, oy);
    let a = fx.b.ins().imul_imm_s(a, win.out_w as i64);
    fx.b.ins().iadd(a, ox)
}

/// Max or sum per channel over the taps inside the input.
pub(crate) fn pool2d<M: Module>(
    fx: &mut Fx<'_, '_, M>,
    (x, y): (usize, usize),
    win: &Window,
    kind: PoolKind,
) -> Result<(), ArmError> {
    let xd = fx.dtype(x)?;
    let yd = fx.dtype(y)?;
    // Integer sum pooling may widen (the IR's i8 sum is i32): x is read as its dtype, the
    // result wrapped to y's.
    if (xd == DType::F32) != (yd == DType::F32) || xd == DType::Bin || yd == DType::Bin {
        return Err(fx.err(format!("Pool2d from {xd} to {yd}")));
    }
    let xa = fx.addr(x)?;
    let ya = fx.addr(y)?;
    let checked = !all_inside(win);
    let plane = win.h * win.w;
    let float = xd == DType::F32;
    let lowest = xd.int_range().map_or(i64::MIN, |r| r.0);
    fx.loop_n(win.c_in, |fx, c| {
        let xplane = fx.elem(xa, c, plane * xd.size_bytes());
        fx.loop_n(win.out_h, |fx, oy| {
            fx.loop_n(win.out_w, |fx, ox| {
                let acc = fx.b.declare_var(if float { F32 } else { I64 });
                let init = match (float, kind) {
                    (true, PoolKind::Max) => fx.b.ins().f32const(f32::MIN),
                    (true, PoolKind::Sum) => fx.b.ins().f32const(0.0),
                    (false, PoolKind::Max) => fx.iconst(lowest),
                    (false, PoolKind::Sum) => fx.iconst(0),
                };
                fx.b.def_var(acc, init);
                fx.loop_n(win.kh, |fx, ky| {
                    fx.loop_n(win.kw, |fx, kx| {
                        let (off, valid) = tap(fx, win, checked, [oy, ox, ky, kx]);
                        let a = fx.b.use_var(acc);
                        let (take, next) = if float {
                            let v = fx.load_f32(xplane, off);
                            match kind {
                                PoolKind::Max => {
                                    (Some(fx.b.ins().fcmp(FloatCC::GreaterThan, v, a)), v)
                                }
                                PoolKind::Sum => (None, fx.b.ins().fadd(a, v)),
                            }
                        } else {
                            let v = fx.load_i64(xd, xplane, off);
                            match kind {
                                PoolKind::Max => {
                                    (Some(fx.b.ins().icmp(IntCC::SignedGreaterThan, v, a)), v)
                                }
                                PoolKind::Sum => (None, fx.b.ins().iadd(a, v)),
                            }
                        };
                        let take = match (take, valid) {
                            (Some(t), Some(v)) => Some(fx.b.ins().band(t, v)),
                            (t, None) => t,
                            (None, v) => v,
                        };
                        let r = match take {
                            Some(t) => fx.b.ins().select(t, next, a),
                            None => next,
                        };
                        fx.b.def_var(acc, r);
                    });
                });
                let idx = out_index(fx, win, c, oy, ox);
                let a = fx.b.use_var(acc);
                if float {
                    fx.store_f32(ya, idx, a);
                } else {
                    fx.store_i64(yd, ya, idx, a);
                }
            });
        });
    });
    Ok(())
}
