//! A plain Rust executor of a [`Plan`], written from the kernel doc comments alone. It checks the
//! lowering against the reference interpreter without any code generator in the way, so a
//! mismatch on a backend points at that backend, not at the plan.

use super::{BinaryOp, Kernel, Place, Plan, PoolKind, Reset, Value, ValueId, Window};
use snnc_ir::DType;

/// Memory of one running plan: arena and state (both zero at start).
pub struct PlanMachine<'p> {
    plan: &'p Plan,
    arena: Vec<u8>,
    state: Vec<i32>,
    outputs: Vec<Vec<u8>>,
}

impl<'p> PlanMachine<'p> {
    pub fn new(plan: &'p Plan) -> Self {
        PlanMachine {
            plan,
            arena: vec![0; plan.arena_bytes],
            state: vec![0; plan.state_bytes / 4],
            outputs: plan
                .outputs
                .iter()
                .map(|p| vec![0; plan.values[p.value].bytes()])
                .collect(),
        }
    }

    /// Zero the state (a new sample of a stateful model).
    pub fn init(&mut self) {
        self.state.fill(0);
    }

    /// One run (or time step): `inputs[i]` in port `i`'s storage format; returns the outputs'
    /// bytes.
    pub fn run(&mut self, inputs: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        for (i, p) in self.plan.inputs.iter().enumerate() {
            let need = self.plan.values[p.value].bytes();
            match inputs.get(i) {
                Some(b) if b.len() == need => {}
                _ => return Err(format!("input {i} must have {need} bytes")),
            }
        }
        for k in &self.plan.kernels {
            self.kernel(k, inputs);
        }
        Ok(self.outputs.clone())
    }

    fn bytes<'a>(&'a self, v: ValueId, inputs: &'a [&'a [u8]]) -> &'a [u8] {
        let val = &self.plan.values[v];
        match &val.place {
            Place::Const(b) => b,
            Place::Input(i) => inputs[*i],
            Place::Output(i) => &self.outputs[*i],
            Place::Arena(o) => &self.arena[*o..*o + val.bytes()],
        }
    }

    /// Element `i` of an integer (or bool, or bin) value.
    fn int(&self, v: ValueId, i: usize, inputs: &[&[u8]]) -> i64 {
        read_int(&self.plan.values[v], self.bytes(v, inputs), i)
    }

    fn float(&self, v: ValueId, i: usize, inputs: &[&[u8]]) -> f32 {
        let val = &self.plan.values[v];
        let b = self.bytes(v, inputs);
        if val.dtype == DType::F32 {
            f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
        } else {
            read_int(val, b, i) as f32
        }
    }

    fn write(&mut self, y: ValueId, data: Vec<Elem>) {
        let val = &self.plan.values[y];
        let bytes = write_all(val, &data);
        match val.place {
            Place::Arena(o) => self.arena[o..o + bytes.len()].copy_from_slice(&bytes),
            Place::Output(i) => self.outputs[i] = bytes,
            Place::Const(_) | Place::Input(_) => {}
        }
    }

    fn kernel(&mut self, k: &Kernel, inp: &[&[u8]]) {
        let numel = |v: ValueId| self.plan.values[v].numel();
        let out: Vec<Elem> = match k {
            Kernel::Quantize {
                x,
                scale,
                zero_point,
                ch,
                lo,
                hi,
                ..
            } => (0..numel(*x))
                .map(|i| {
                    let c = ch.of(i);
                    let r = (self.float(*x, i, inp) / scale[c]).round_ties_even();
                    Elem::I(if r.is_nan() {
                        i64::from(*lo)
                    } else {
                        (f64::from(r) + f64::from(zero_point[c]))
                            .clamp(f64::from(*lo), f64::from(*hi)) as i64
                    })
                })
                .collect(),
            Kernel::Dequantize {
                x,
                scale,
                zero_point,
                ch,
                ..
            } => (0..numel(*x))
                .map(|i| {
                    let c = ch.of(i);
                    Elem::F((self.int(*x, i, inp) - i64::from(zero_point[c])) as f32 * scale[c])
                })
                .collect(),
            Kernel::DenseInt {
                x,
                rows,
                k,
                n,
                w,
                bias,
                ..
            } => {
                let mut y = Vec::with_capacity(rows * n);
                for r in 0..*rows {
                    for j in 0..*n {
                        let mut acc = bias.as_ref().map_or(0i64, |b| i64::from(b[j]));
                        for kk in 0..*k {
                            acc = acc.wrapping_add(
                                self.int(*x, r * k + kk, inp) * i64::from(w[j * k + kk]),
                            );
                        }
                        y.push(Elem::I(i64::from(acc as i32)));
                    }
                }
                y
            }
            Kernel::DenseBin {
                x,
                rows,
                k,
                n,
                w,
                bias,
                ..
            } => {
                let words = k.div_ceil(32);
                let xb = self.bytes(*x, inp);
                let word = |i: usize| {
                    u32::from_le_bytes([xb[4 * i], xb[4 * i + 1], xb[4 * i + 2], xb[4 * i + 3]])
                };
                let mut y = Vec::with_capacity(rows * n);
                for r in 0..*rows {
                    for j in 0..*n {
                        let ones: u32 = (0..words)
                            .map(|t| (word(r * words + t) ^ w[j * words + t]).count_ones())
                            .sum();
                        let dot = *k as i64 - 2 * i64::from(ones);
                        let b = bias.as_ref().map_or(0, |b| i64::from(b[j]));
                        y.push(Elem::I(i64::from(dot.wrapping_add(b) as i32)));
                    }
                }
                y
            }
            Kernel::DenseBinW {
                x,
                rows,
                k,
                n,
                w,
                bias,
                ..
            } => {
                let words = k.div_ceil(32);
                let mut y = Vec::with_capacity(rows * n);
                for r in 0..*rows {
                    for j in 0..*n {
                        let mut acc = bias.as_ref().map_or(0i64, |b| i64::from(b[j]));
                        for kk in 0..*k {
                            let minus = w[j * words + kk / 32] >> (kk % 32) & 1 == 1;
                            let v = self.int(*x, r * k + kk, inp);
                            acc = acc.wrapping_add(if minus { -v } else { v });
                        }
                        y.push(Elem::I(i64::from(acc as i32)));
                    }
                }
                y
            }
            Kernel::DenseF32 {
                x,
                rows,
                k,
                n,
                w,
                alpha,
                bias,
                ..
            } => {
                let mut y = Vec::with_capacity(rows * n);
                for r in 0..*rows {
                    for j in 0..*n {
                        let mut acc = 0f32;
                        for kk in 0..*k {
                            acc = self
                                .float(*x, r * k + kk, inp)
                                .mul_add(w.get(j, kk, *k), acc);
                        }
                        if let Some(a) = alpha {
                            acc *= a;
                        }
                        if let Some(b) = bias {
                            acc += b[j];
                        }
                        y.push(Elem::F(acc));
                    }
                }
                y
            }
            Kernel::Conv2dInt {
                x, win, w, bias, ..
            } => self.conv(*x, win, w, bias.as_deref(), inp),
            Kernel::Pool2d { x, win, kind, .. } => self.pool(*x, win, *kind, inp),
            Kernel::Requant {
                x,
                multiplier,
                shift,
                zero_point,
                lo,
                hi,
                ch,
                ..
            } => (0..numel(*x))
                .map(|i| {
                    let c = ch.of(i);
                    let p = self.int(*x, i, inp) * multiplier[c];
                    let s = shift[c];
                    let q = if s == 0 { p } else { (p + (1 << (s - 1))) >> s };
                    Elem::I((q + i64::from(*zero_point)).clamp(i64::from(*lo), i64::from(*hi)))
                })
                .collect(),
            Kernel::BinThreshold {
                x,
                threshold,
                flip,
                ch,
                ..
            } => (0..numel(*x))
                .map(|i| {
                    let c = ch.of(i);
                    let v = self.int(*x, i, inp);
                    let plus = if flip[c] {
                        v <= threshold[c]
                    } else {
                        v >= threshold[c]
                    };
                    Elem::I(if plus { 1 } else { -1 })
                })
                .collect(),
            Kernel::IntLif {
                x,
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
                ..
            } => {
                let base = state / 4;
                let f = *frac_bits;
                (0..*n)
                    .map(|i| {
                        let v = i64::from(self.state[base + i]);
                        let mut leak = v * decay[i];
                        if f > 0 {
                            leak = (leak + (1 << (f - 1))) >> f;
                        }
                        let mut u = (leak + self.int(*x, i, inp) + bias[i]).clamp(*lo, *hi);
                        let fire = u > threshold[i];
                        if fire {
                            u = match reset {
                                Reset::ToValue => v_reset[i],
                                Reset::Subtract => (u - threshold[i]).clamp(*lo, *hi),
                            };
                        }
                        self.state[base + i] = u as i32;
                        Elem::I(i64::from(fire))
                    })
                    .collect()
            }
            Kernel::Elementwise {
                op,
                a,
                b,
                y,
                shape,
                a_strides,
                b_strides,
            } => {
                let float = self.plan.values[*y].dtype == DType::F32;
                let mut out = Vec::new();
                for i0 in 0..shape[0] {
                    for i1 in 0..shape[1] {
                        for i2 in 0..shape[2] {
                            for i3 in 0..shape[3] {
                                let idx = [i0, i1, i2, i3];
                                let at =
                                    |s: &[usize; 4]| idx.iter().zip(s).map(|(i, s)| i * s).sum();
                                let (ia, ib): (usize, usize) = (at(a_strides), at(b_strides));
                                out.push(if float {
                                    let (p, q) = (self.float(*a, ia, inp), self.float(*b, ib, inp));
                                    Elem::F(match op {
                                        BinaryOp::Add => p + q,
                                        BinaryOp::Mul => p * q,
                                    })
                                } else {
                                    let (p, q) = (self.int(*a, ia, inp), self.int(*b, ib, inp));
                                    Elem::I(match op {
                                        BinaryOp::Add => p.wrapping_add(q),
                                        BinaryOp::Mul => p.wrapping_mul(q),
                                    })
                                });
                            }
                        }
                    }
                }
                out
            }
            Kernel::ScaleShift {
                x,
                scale,
                shift,
                ch,
                ..
            } => (0..numel(*x))
                .map(|i| {
                    let c = ch.of(i);
                    Elem::F(self.float(*x, i, inp) * scale[c] + shift[c])
                })
                .collect(),
            Kernel::Clamp { x, lo, hi, .. } => {
                let float = self.plan.values[*x].dtype == DType::F32;
                (0..numel(*x))
                    .map(|i| {
                        if float {
                            let (lo, hi) = (*lo as f32, *hi as f32);
                            let mut e = self.float(*x, i, inp);
                            if e < lo {
                                e = lo;
                            }
                            if e > hi {
                                e = hi;
                            }
                            Elem::F(e)
                        } else {
                            Elem::I(self.int(*x, i, inp).max(*lo as i64).min(*hi as i64))
                        }
                    })
                    .collect()
            }
            Kernel::Copy { x, y } => {
                let b = self.bytes(*x, inp).to_vec();
                match self.plan.values[*y].place {
                    Place::Arena(o) => self.arena[o..o + b.len()].copy_from_slice(&b),
                    Place::Output(i) => self.outputs[i] = b,
                    Place::Const(_) | Place::Input(_) => {}
                }
                return;
            }
        };
        let (_, y) = super::reads_writes(k);
        self.write(y, out);
    }

    fn conv(
        &self,
        x: ValueId,
        win: &Window,
        w: &[i32],
        bias: Option<&[i32]>,
        inp: &[&[u8]],
    ) -> Vec<Elem> {
        let cig = win.c_in / win.groups;
        let cog = win.c_out / win.groups;
        let mut y = Vec::new();
        for o in 0..win.c_out {
            let g0 = (o / cog) * cig;
            for oy in 0..win.out_h {
                for ox in 0..win.out_w {
                    let mut acc = bias.map_or(0i64, |b| i64::from(b[o]));
                    for ci in 0..cig {
                        for (ky, kx, iy, ix) in taps(win, oy, ox) {
                            let xi = ((g0 + ci) * win.h + iy) * win.w + ix;
                            let wi = ((o * cig + ci) * win.kh + ky) * win.kw + kx;
                            acc = acc.wrapping_add(self.int(x, xi, inp) * i64::from(w[wi]));
                        }
                    }
                    y.push(Elem::I(i64::from(acc as i32)));
                }
            }
        }
        y
    }

    fn pool(&self, x: ValueId, win: &Window, kind: PoolKind, inp: &[&[u8]]) -> Vec<Elem> {
        let val = &self.plan.values[x];
        let float = val.dtype == DType::F32;
        let lowest = val.dtype.int_range().map_or(i64::MIN, |r| r.0);
        let mut y = Vec::new();
        for c in 0..win.c_in {
            for oy in 0..win.out_h {
                for ox in 0..win.out_w {
                    let idx: Vec<usize> = taps(win, oy, ox)
                        .map(|(_, _, iy, ix)| (c * win.h + iy) * win.w + ix)
                        .collect();
                    y.push(match (kind, float) {
                        (PoolKind::Max, true) => {
                            let mut best = f32::MIN;
                            for &i in &idx {
                                let v = self.float(x, i, inp);
                                if v > best {
                                    best = v;
                                }
                            }
                            Elem::F(best)
                        }
                        (PoolKind::Sum, true) => {
                            Elem::F(idx.iter().fold(0f32, |s, &i| s + self.float(x, i, inp)))
                        }
                        (PoolKind::Max, false) => Elem::I(
                            idx.iter()
                                .map(|&i| self.int(x, i, inp))
                                .fold(lowest, i64::max),
                        ),
                        (PoolKind::Sum, false) => Elem::I(
                            idx.iter()
                                .fold(0i64, |s, &i| s.wrapping_add(self.int(x, i, inp))),
                        ),
                    });
                }
            }
        }
        y
    }
}

/// The in-bounds taps `(ky, kx, iy, ix)` of output position `(oy, ox)`, in kernel order.
fn taps(
    win: &Window,
    oy: usize,
    ox: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
    (0..win.kh).flat_map(move |ky| {
        (0..win.kw).filter_map(move |kx| {
            let iy = (oy * win.stride[0] + ky * win.dilation[0]).checked_sub(win.pad[0])?;
            let ix = (ox * win.stride[1] + kx * win.dilation[1]).checked_sub(win.pad[1])?;
            (iy < win.h && ix < win.w).then_some((ky, kx, iy, ix))
        })
    })
}

/// An element on its way into storage.
enum Elem {
    I(i64),
    F(f32),
}

fn read_int(val: &Value, b: &[u8], i: usize) -> i64 {
    match val.dtype {
        DType::Bin => {
            let last = val.shape.last().copied().unwrap_or(1).max(1);
            let words = last.div_ceil(32);
            let (r, k) = (i / last, i % last);
            let at = (r * words + k / 32) * 4;
            let w = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            if w >> (k % 32) & 1 == 1 {
                -1
            } else {
                1
            }
        }
        DType::Bool | DType::U8 => i64::from(b[i]),
        DType::I8 => i64::from(b[i] as i8),
        DType::I16 => i64::from(i16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
        DType::U16 => i64::from(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
        DType::I32 => i64::from(i32::from_le_bytes([
            b[4 * i],
            b[4 * i + 1],
            b[4 * i + 2],
            b[4 * i + 3],
        ])),
        _ => 0,
    }
}

fn write_all(val: &Value, data: &[Elem]) -> Vec<u8> {
    let ints: Vec<i64> = data
        .iter()
        .map(|e| match e {
            Elem::I(v) => *v,
            Elem::F(f) => *f as i64,
        })
        .collect();
    match val.dtype {
        DType::F32 => data
            .iter()
            .flat_map(|e| match e {
                Elem::F(f) => f.to_le_bytes(),
                Elem::I(v) => (*v as f32).to_le_bytes(),
            })
            .collect(),
        DType::Bin => {
            let last = val.shape.last().copied().unwrap_or(1);
            let rows = ints.len().checked_div(last).unwrap_or(0);
            super::pack_bin_rows(&ints, rows, last)
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect()
        }
        DType::Bool | DType::U8 | DType::I8 => ints.iter().map(|&v| v as u8).collect(),
        DType::I16 | DType::U16 => ints
            .iter()
            .flat_map(|&v| (v as u16).to_le_bytes())
            .collect(),
        _ => ints
            .iter()
            .flat_map(|&v| (v as u32).to_le_bytes())
            .collect(),
    }
}
