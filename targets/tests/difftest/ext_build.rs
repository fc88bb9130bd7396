//! Building the extensions of [`ext`](super::ext) into the graph: float sections, extra inputs
//! and the nodes the ARM targets must refuse.

use snnc_ir::op::elementwise::binary_dtype;
use snnc_ir::op::{
    BatchNorm, BinThreshold, Clip, Delay, DequantizeLinear, Gemm, Pool, PoolKind, QuantizeLinear,
};
use snnc_ir::{DType, Op, Tensor, TensorType};

use super::ext::{At, Ext, FKind, FLayer, Join, Refuse, Section};
use super::{numel, window_params, Builder, Cur, Other, Res, Rng};

/// Most graph inputs, and most outputs, a model gets: the Cortex-M harness driver handles 4.
pub const MAX_PORTS: usize = 4;

fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Res<Tensor> {
    Tensor::from_f32(shape, v).map_err(|e| e.to_string())
}

/// A float in `[-m, m)` with a full mantissa.
fn sym(r: &mut Rng, m: f32) -> f32 {
    (r.unit() * 2.0 - 1.0) * m
}

impl Builder {
    /// The sections of `ext` whose place satisfies `here`, applied to `c` in order.
    pub(super) fn sections(&mut self, ext: &Ext, here: impl Fn(At) -> bool, c: Cur) -> Res<Cur> {
        let mut c = c;
        for s in ext.sections.iter().filter(|s| here(s.at)) {
            c = self.section(s, c)?;
        }
        Ok(c)
    }

    fn section(&mut self, s: &Section, c: Cur) -> Res<Cur> {
        let mut r = Rng::new(s.seed);
        let r = &mut r;
        let lead_dense = matches!(s.layers.first().map(|l| &l.kind), Some(FKind::Dense { .. }));
        let mut c = c;
        self.feat(match s.at {
            At::Pre => "float section before quantize",
            At::After(_) => "float section between integer layers",
            At::Tail => "float section at the end",
        });
        match c.dtype {
            DType::F32 => {}
            DType::Bin if c.shape.last().copied() != Some(numel(&c.shape)) => {
                // A packed tensor cannot be flattened: leave it alone.
                self.feat("float section skipped (packed bin rows)");
                return Ok(c);
            }
            DType::Bool | DType::Bin => {
                if !lead_dense {
                    let d = FLayer {
                        kind: FKind::Dense {
                            n: r.upto(1, 16),
                            signs: false,
                            bias: true,
                            scaled: false,
                            prune: 0,
                            matmul: false,
                            rank1: false,
                        },
                        seed: r.next(),
                    };
                    c = self.flayer(&d, c)?;
                }
            }
            _ if s.binarize && lead_dense => c = self.binarize(c, r)?,
            _ => c = self.dequant(c, r)?,
        }
        for l in &s.layers {
            c = self.flayer(l, c)?;
        }
        if let Some(dt) = s.back {
            c = self.quant(c, dt, r)?;
        }
        Ok(c)
    }

    /// An integer value as a packed ±1 row `[1, K]` (BinThreshold per channel or per tensor).
    fn binarize(&mut self, c: Cur, r: &mut Rng) -> Res<Cur> {
        let c = self.int_input(c, r, false, true)?;
        let x = self.as_matrix(&c, false)?;
        let k = x.shape[1];
        let (lo, hi) = x.dtype.int_range().unwrap_or((-100, 100));
        let (lo, hi) = (lo.max(-1000), hi.min(1000));
        let cnt = if r.chance(50) { k } else { 1 };
        let th = (0..cnt).map(|_| r.range(lo, hi)).collect();
        let fl = (0..cnt).map(|_| r.range(0, 1)).collect();
        let shape = if cnt > 1 { vec![k] } else { vec![] };
        let bt = BinThreshold {
            threshold: Tensor::from_i64(DType::I64, shape.clone(), th)
                .map_err(|e| e.to_string())?,
            flip: Tensor::from_i64(DType::I64, shape, fl).map_err(|e| e.to_string())?,
            axis: 1,
        };
        self.feat("float section entered by binarizing");
        self.node("binarize", Op::BinThreshold(bt), &[x.id])
    }

    /// DequantizeLinear of an integer value into roughly [-8, 8].
    fn dequant(&mut self, c: Cur, r: &mut Rng) -> Res<Cur> {
        let c = self.int_input(c, r, false, true)?;
        let pc = c.shape.len() >= 2 && r.chance(30);
        let cnt = if pc { c.shape[1] } else { 1 };
        let bits = 8 * c.dtype.size_bytes() as i32;
        let sc = (0..cnt)
            .map(|_| (0.5 + r.unit()) * 2f32.powi(4 - bits))
            .collect();
        let pshape = if pc { vec![cnt] } else { vec![] };
        let s = self.konst("ds", f32s(pshape.clone(), sc)?);
        let (lo, hi) = c.dtype.int_range().ok_or("no range")?;
        let zp = (0..cnt)
            .map(|_| {
                if r.chance(50) {
                    0i64.clamp(lo, hi)
                } else {
                    r.range(lo.max(-20), hi.min(20))
                }
            })
            .collect();
        let z = self.ints("dz", c.dtype, pshape, zp)?;
        self.feat(format!("dequantize {} → float section", c.dtype));
        self.node(
            "dq",
            Op::DequantizeLinear(DequantizeLinear { axis: 1 }),
            &[c.id, s, z],
        )
    }

    /// QuantizeLinear of an f32 value to `dt`.
    fn quant(&mut self, c: Cur, dt: DType, r: &mut Rng) -> Res<Cur> {
        let c = if c.shape.len() < 2 {
            let n = numel(&c.shape);
            self.reshape(&c, vec![1, n])?
        } else {
            c
        };
        let pc = r.chance(25);
        let cnt = if pc { c.shape[1] } else { 1 };
        let wide = dt.size_bytes() > 1;
        let sc = (0..cnt)
            .map(|_| {
                let e = if wide { r.range(8, 12) } else { r.range(2, 6) };
                (0.5 + r.unit()) * 2f32.powi(-(e as i32))
            })
            .collect();
        let pshape = if pc { vec![cnt] } else { vec![] };
        let s = self.konst("qs", f32s(pshape.clone(), sc)?);
        let (lo, hi) = dt.int_range().ok_or("no range")?;
        let zp = (0..cnt)
            .map(|_| {
                if r.chance(50) {
                    0i64.clamp(lo, hi)
                } else {
                    r.range(lo.max(-100), hi.min(100))
                }
            })
            .collect();
        let z = self.ints("qz", dt, pshape, zp)?;
        self.feat(format!(
            "quantize float → {dt}{}",
            if pc { " per channel" } else { "" }
        ));
        self.node(
            "q",
            Op::QuantizeLinear(QuantizeLinear { axis: 1, out: dt }),
            &[c.id, s, z],
        )
    }

    fn flayer(&mut self, l: &FLayer, c: Cur) -> Res<Cur> {
        let mut r = Rng::new(l.seed);
        let r = &mut r;
        if c.dtype != DType::F32 && !matches!(l.kind, FKind::Dense { .. }) {
            return Err(format!("float layer {:?} on {}", l.kind, c.dtype));
        }
        match &l.kind {
            FKind::Dense {
                n,
                signs,
                bias,
                scaled,
                prune,
                matmul,
                rank1,
            } => self.fdense(c, r, *n, *signs, *bias, *scaled, *prune, *matmul, *rank1),
            FKind::BatchNorm { image, eps } => {
                let x = if *image {
                    self.as_image(&c, 2, false, r)?
                } else if c.shape.len() < 2 {
                    let n = numel(&c.shape);
                    self.reshape(&c, vec![1, n])?
                } else {
                    c
                };
                let ch = x.shape[1];
                let scale = (0..ch)
                    .map(|_| if r.chance(10) { 0.0 } else { sym(r, 2.0) })
                    .collect();
                let bias = (0..ch).map(|_| sym(r, 1.0)).collect();
                let mean = (0..ch).map(|_| sym(r, 1.0)).collect();
                let var = (0..ch)
                    .map(|_| if r.chance(10) { 0.0 } else { r.unit() * 2.0 })
                    .collect();
                let epsilon = [1e-5f32, 1e-3, 0.1][usize::from(*eps).min(2)];
                let mut ops = vec![x.id];
                for (name, v) in [("bns", scale), ("bnb", bias), ("bnm", mean), ("bnv", var)] {
                    ops.push(self.konst(name, f32s(vec![ch], v)?));
                }
                self.feat(format!("batchnorm f32 rank {}", x.shape.len()));
                self.node("bn", Op::BatchNorm(BatchNorm { epsilon }), &ops)
            }
            FKind::Relu => {
                self.feat("relu f32");
                self.node("frelu", Op::Relu, &[c.id])
            }
            FKind::Clip => {
                let mut lo = (!r.chance(15)).then(|| -f64::from(r.unit() * 3.0));
                let mut hi = (!r.chance(15)).then(|| f64::from(r.unit() * 3.0));
                if r.chance(10) {
                    (lo, hi) = (hi, lo);
                }
                self.feat("clip f32");
                self.node("fclip", Op::Clip(Clip { min: lo, max: hi }), &[c.id])
            }
            FKind::Elementwise { mul, other } => {
                let (op, what) = if *mul {
                    (Op::Mul, "mul f32")
                } else {
                    (Op::Add, "add f32")
                };
                let skip = if *other == Other::Skip {
                    let cands: Vec<Cur> = self
                        .history
                        .iter()
                        .filter(|h| h.id != c.id && h.shape == c.shape && h.dtype == DType::F32)
                        .cloned()
                        .collect();
                    (!cands.is_empty())
                        .then(|| cands[(r.next() % cands.len() as u64) as usize].clone())
                } else {
                    None
                };
                let b = match (other, skip) {
                    (_, Some(s)) => {
                        self.feat(format!("{what}: skip connection"));
                        s.id
                    }
                    (Other::Const(bc), None) => {
                        let shape: Vec<usize> = match bc {
                            0 => vec![],
                            1 if c.shape.len() >= 2 => {
                                let mut s = vec![1; c.shape.len() - 1];
                                s[0] = c.shape[1];
                                s
                            }
                            3 => vec![*c.shape.last().unwrap_or(&1)],
                            _ => c.shape.clone(),
                        };
                        let v = (0..numel(&shape)).map(|_| sym(r, 2.0)).collect();
                        self.feat(format!("{what}: constant, broadcast {bc}"));
                        self.konst("fk", f32s(shape, v)?)
                    }
                    _ => {
                        let side = self.node("fside", Op::Relu, &[c.id])?;
                        self.feat(format!("{what}: two branches"));
                        side.id
                    }
                };
                self.node(if *mul { "fmul" } else { "fadd" }, op, &[c.id, b])
            }
            FKind::Pool { max, dims } => {
                let x = self.as_image(&c, *dims, false, r)?;
                let spatial = x.shape[2..].to_vec();
                let k = [r.upto(1, 3), r.upto(1, 3)];
                let st = [r.upto(1, 2), r.upto(1, 2)];
                let pad = [r.upto(0, 1), r.upto(0, 1), r.upto(0, 1), r.upto(0, 1)];
                let (ks, st, pb, pe, dl) = window_params(&spatial, *dims, k, st, pad, [1, 1]);
                let kind = if *max { PoolKind::Max } else { PoolKind::Sum };
                self.feat(format!("pool{dims}d {kind:?} f32"));
                let p = Pool {
                    kind,
                    kernel: ks,
                    stride: st,
                    pads: pb.into_iter().chain(pe).collect(),
                    dilation: dl,
                    ceil_mode: r.chance(20),
                    count_include_pad: false,
                };
                self.node("fpool", Op::Pool(p), &[x.id])
            }
        }
    }

    /// A float dense layer (Gemm or MatMul, f32 weights) on an f32, bool or bin value; the
    /// result is `[1, n]`.
    #[allow(clippy::too_many_arguments)]
    fn fdense(
        &mut self,
        c: Cur,
        r: &mut Rng,
        n: usize,
        signs: bool,
        bias: bool,
        scaled: bool,
        prune: u8,
        matmul: bool,
        rank1: bool,
    ) -> Res<Cur> {
        let x = self.as_matrix(&c, rank1)?;
        let k = numel(&x.shape).max(1);
        let n = n.max(1);
        let norm = 1.0 / (k as f32).sqrt();
        // w[j][kk], row-major [n][k].
        let w: Vec<f32> = if signs {
            let scales: Vec<f32> = (0..n).map(|_| (0.25 + r.unit()) * norm).collect();
            (0..n * k)
                .map(|i| {
                    if r.chance(50) {
                        -scales[i / k]
                    } else {
                        scales[i / k]
                    }
                })
                .collect()
        } else {
            (0..n * k)
                .map(|_| {
                    if r.chance(u64::from(prune)) {
                        0.0
                    } else {
                        sym(r, 1.5 * norm)
                    }
                })
                .collect()
        };
        let trans_b = !matmul && r.chance(60);
        let (wshape, wv) = if trans_b {
            (vec![n, k], w)
        } else {
            let t = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
            (vec![k, n], t)
        };
        let wid = self.konst("fw", f32s(wshape, wv)?);
        let mut ops = vec![x.id, wid];
        self.feat(format!("dense f32: {} input", x.dtype));
        if signs {
            self.feat("dense f32: rows ±s (stored as signs)");
        } else if prune > 0 {
            self.feat("dense f32: pruned");
        }
        if rank1 {
            self.feat("dense f32: rank-1 A");
        }
        let y = if matmul {
            self.feat("dense f32: MatMul");
            self.node("fmatmul", Op::MatMul, &ops)?
        } else {
            if bias {
                let bshape = if rank1 || r.chance(50) {
                    vec![n]
                } else {
                    vec![1, n]
                };
                let bv = (0..n).map(|_| sym(r, 2.0)).collect();
                ops.push(self.konst("fb", f32s(bshape, bv)?));
                self.feat("dense f32: bias");
            }
            let (alpha, beta) = if scaled {
                self.feat("dense f32: alpha, beta ≠ 1");
                let (ua, ub) = (0.1 + r.unit(), r.unit());
                (
                    r.pick(&[0.5f32, -1.25, 3.0, ua]),
                    r.pick(&[0.0f32, 0.5, -2.0, ub]),
                )
            } else {
                (1.0, 1.0)
            };
            let gm = Gemm {
                alpha,
                beta,
                trans_b,
                ..Gemm::default()
            };
            self.node("fdense", Op::Gemm(gm), &ops)?
        };
        if y.shape.len() < 2 {
            self.reshape(&y, vec![1, n])
        } else {
            Ok(y)
        }
    }

    /// The extra inputs of `ext` that join before integer layer `i` (of `len`), joined to `c`.
    pub(super) fn join_inputs(&mut self, ext: &Ext, i: usize, len: usize, c: Cur) -> Res<Cur> {
        let mut c = c;
        for inp in ext.inputs.iter().filter(|x| x.at.min(len) == i) {
            if self.g.inputs().len() >= MAX_PORTS {
                break;
            }
            let mut r = Rng::new(inp.seed);
            let r = &mut r;
            let room = self.g.outputs().len() + 1 < MAX_PORTS;
            let join = match inp.join {
                _ if inp.dtype == DType::Bin && !room => continue,
                _ if inp.dtype == DType::Bin => Join::Own,
                Join::Own if !room => Join::Add,
                Join::Add | Join::Mul if matches!(c.dtype, DType::Bin | DType::F32) && room => {
                    Join::Own
                }
                j => j,
            };
            if join != Join::Own && matches!(c.dtype, DType::Bin | DType::F32) {
                continue;
            }
            let name = self.name("x");
            let nth = self.g.inputs().len();
            self.feat(format!("input {nth}: {} ({join:?})", inp.dtype));
            if join == Join::Own {
                // Sometimes wide: binary rows of more than 31 words, long dot products.
                let m = if r.chance(15) {
                    self.feat("wide input (K ≥ 900)");
                    r.upto(900, 2200)
                } else {
                    r.upto(1, 24)
                };
                let x = self.input(name, inp.dtype, vec![1, m])?;
                let y = self.own_branch(x, r)?;
                self.output(&y)?;
                continue;
            }
            let shape = if r.chance(70) || c.shape.is_empty() {
                c.shape.clone()
            } else {
                self.feat("input broadcast along the last axis");
                vec![*c.shape.last().unwrap_or(&1)]
            };
            let x = if inp.dtype == DType::F32 {
                let x = self.input(name, DType::F32, shape.clone())?;
                let dt = if c.dtype == DType::Bool {
                    DType::I8
                } else {
                    c.dtype
                };
                let s = self.konst("qs", f32s(vec![], vec![(0.5 + r.unit()) / 16.0])?);
                self.node(
                    "qx",
                    Op::QuantizeLinear(QuantizeLinear { axis: 0, out: dt }),
                    &[x.id, s],
                )?
            } else {
                let fits = |d: DType| !matches!(binary_dtype(c.dtype, d), DType::I64 | DType::U32);
                let dt = if fits(inp.dtype) { inp.dtype } else { c.dtype };
                self.input(name, dt, shape)?
            };
            let (op, what) = if join == Join::Mul {
                (Op::Mul, "mul")
            } else {
                (Op::Add, "add")
            };
            self.feat(format!("{what} of two graph inputs' values"));
            c = self.node(what, op, &[c.id, x.id])?;
        }
        Ok(c)
    }

    fn input(&mut self, name: String, dtype: DType, shape: Vec<usize>) -> Res<Cur> {
        let id = self
            .g
            .add_input(name, TensorType::new(dtype, shape.clone()));
        let c = Cur { id, dtype, shape };
        self.history.push(c.clone());
        Ok(c)
    }

    /// A small branch from an extra input to an output of its own (sometimes the input itself).
    fn own_branch(&mut self, x: Cur, r: &mut Rng) -> Res<Cur> {
        let n = if numel(&x.shape) > 100 {
            r.upto(1, 4)
        } else {
            r.upto(1, 12)
        };
        if r.chance(12) {
            self.feat("an input that is also an output");
            return Ok(x);
        }
        if matches!(x.dtype, DType::F32 | DType::Bool | DType::Bin) && r.chance(50) {
            let signs = r.chance(30);
            return self.fdense(x, r, n, signs, true, false, 0, false, false);
        }
        let gm = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        let k = numel(&x.shape);
        if x.dtype == DType::Bin {
            let w = (0..n * k)
                .map(|_| if r.chance(50) { 1 } else { -1 })
                .collect();
            let wid = self.ints("wb", DType::Bin, vec![n, k], w)?;
            self.feat("dense binary on a graph input");
            return self.node("own_dense_bin", Op::Gemm(gm), &[x.id, wid]);
        }
        let x = if x.dtype == DType::F32 {
            let s = self.konst("qs", f32s(vec![], vec![(0.5 + r.unit()) / 32.0])?);
            self.node(
                "qx",
                Op::QuantizeLinear(QuantizeLinear {
                    axis: 1,
                    out: DType::I8,
                }),
                &[x.id, s],
            )?
        } else {
            self.int_input(x, r, true, false)?
        };
        let wid = if r.chance(35) {
            let w = (0..n * k)
                .map(|_| if r.chance(50) { 1 } else { -1 })
                .collect();
            self.feat("dense: integer input × ±1 weights on a graph input");
            self.ints("wb", DType::Bin, vec![n, k], w)?
        } else {
            let w = (0..n * k).map(|_| r.range(-128, 127)).collect();
            self.ints("w", DType::I8, vec![n, k], w)?
        };
        self.node("own_dense", Op::Gemm(gm), &[x.id, wid])
    }

    /// The refused node of `ext` if it sits after integer layer `i` (of `len`).
    pub(super) fn refuse_at(&mut self, ext: &Ext, i: usize, len: usize, c: Cur) -> Res<Cur> {
        let Some(rf) = ext.refuse else {
            return Ok(c);
        };
        let at = match rf {
            Refuse::Delay { at, .. } | Refuse::Recurrent { at } => at,
        };
        if at.min(len.saturating_sub(1)) != i {
            return Ok(c);
        }
        let recurrent =
            matches!(rf, Refuse::Recurrent { .. }) && !matches!(c.dtype, DType::Bool | DType::Bin);
        if recurrent {
            let name = self.name("rec_add");
            let id = self.g.add_node_untyped(name.clone(), Op::Add);
            self.g
                .connect(c.id, id, 0, false)
                .map_err(|e| e.to_string())?;
            self.g.connect(id, id, 1, true).map_err(|e| e.to_string())?;
            self.g.infer_types().map_err(|e| e.to_string())?;
            self.feat("refused: recurrent edge");
            self.refused = Some(name);
            let ty = self.g.ty(id).clone();
            let y = Cur {
                id,
                dtype: ty.dtype,
                shape: ty.shape,
            };
            self.history.push(y.clone());
            return Ok(y);
        }
        let steps = match rf {
            Refuse::Delay { steps, .. } => steps.max(1),
            Refuse::Recurrent { .. } => 1,
        };
        let d = Tensor::scalar_f32(f32::from(steps) * 1e-3);
        let y = self.node("delay", Op::Delay(Delay { delay: d }), &[c.id])?;
        self.feat("refused: delay");
        self.refused = Some(self.g.node(y.id).name.clone());
        Ok(y)
    }
}
