//! Seeded random models for the differential test: a [`Spec`] (layer list with the random
//! choices that matter for shrinking, and the float sections, extra inputs and refused nodes
//! of [`ext`]) and [`build`], which turns it into a verified graph. Weight and parameter *values* are drawn at build time from each layer's own seed, so
//! removing or shrinking one layer leaves the others' values alone; shape mismatches between
//! layers are bridged by small adapters (flatten/reshape, a requant to i8, a spike weighting),
//! so most edits of a spec still build.

use std::collections::BTreeSet;

#[path = "ext.rs"]
pub mod ext;
#[path = "ext_build.rs"]
mod ext_build;

use ext::{At, Ext};
use ext_build::MAX_PORTS;

use snnc_ir::op::{
    BinThreshold, Clip, Conv, DequantizeLinear, Flatten, Gemm, IntLif, Pool, PoolKind,
    QuantizeLinear, Requant, ResetMode, Reshape,
};
use snnc_ir::rng::SplitMix64;
use snnc_ir::{verify, DType, Graph, NodeId, Op, Tensor, TensorType};

/// SplitMix64 with the draws the generator needs.
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `[lo, hi]` (inclusive).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }
    pub fn upto(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Weight value sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    I8,
    /// int4 values stored as i8.
    Int4,
    U8,
    I16,
    /// ±1 (binary weights; conv lowers them to i8).
    Bin,
}

/// One layer of a spec; `seed` drives every value it draws at build time.
#[derive(Clone, Debug)]
pub struct Layer {
    pub kind: Kind,
    pub seed: u64,
    /// Also expose this layer's result as a graph output.
    pub extra_output: bool,
}

/// The layer kinds and the choices shrinking can reduce.
#[derive(Clone, Debug)]
pub enum Kind {
    Dense {
        n: usize,
        weights: Weights,
        bias: bool,
        /// Percent of weights zeroed.
        prune: u8,
        small: bool,
        trans_b: bool,
        rank1: bool,
    },
    /// BinThreshold → binary × binary Gemm.
    DenseBin {
        n: usize,
        per_channel: bool,
        bias: bool,
    },
    Conv {
        dims: usize,
        c_out: usize,
        k: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        dil: [usize; 2],
        groups: usize,
        weights: Weights,
        bias: bool,
        prune: u8,
        small: bool,
        batchless: bool,
    },
    Pool {
        max: bool,
        dims: usize,
        k: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        dil: [usize; 2],
        ceil: bool,
    },
    Requant {
        out: DType,
        per_channel: bool,
        wild: bool,
        clamp: bool,
    },
    Lif {
        state_bits: u8,
        frac_bits: u8,
        subtract: bool,
        /// 0: scalar parameters, 1: per last axis, 2: per neuron.
        params: u8,
        wild: bool,
    },
    Elementwise {
        mul: bool,
        other: Other,
    },
    Clip {
        relu: bool,
    },
    Reshape {
        how: u8,
    },
}

/// Second operand of an elementwise layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Other {
    /// A constant broadcast from: 0 scalar, 1 per channel, 2 full shape, 3 last axis.
    Const(u8),
    /// An earlier value of the same shape (a skip connection), else a clamp of the current one.
    Skip,
    /// A clamp of the current value (two branches of one value).
    Side,
}

/// How the f32 input is prepared before QuantizeLinear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatPre {
    None,
    Relu,
    Clip,
    SumPool,
    MaxPool,
}

/// The end of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutStage {
    Direct,
    Dequant { per_channel: bool, relu: bool },
    Bin,
    RequantU8,
}

/// A model to build.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub input: Vec<usize>,
    pub quant: DType,
    pub quant_per_channel: bool,
    pub pre: FloatPre,
    pub layers: Vec<Layer>,
    pub out: OutStage,
    pub steps: usize,
    pub samples: usize,
    /// Float sections, extra inputs and refused nodes (see [`ext`]).
    pub ext: Ext,
}

/// A built model: the verified graph, its time steps and the features it exercises.
pub struct Built {
    pub graph: Graph,
    pub steps: usize,
    pub features: BTreeSet<String>,
    /// The node every ARM target must refuse (a `delay` or a recurrent edge), if any.
    pub refused: Option<String>,
}

/// A random spec for `seed` (it may still fail to build; the caller regenerates).
pub fn generate(seed: u64) -> Spec {
    let mut r = Rng::new(seed);
    let input = if r.chance(50) {
        vec![1, r.upto(1, 100)]
    } else {
        vec![1, r.upto(1, 4), r.upto(1, 8), r.upto(1, 8)]
    };
    let quant = r.pick(&[DType::U8, DType::I8]);
    let pre = r.pick(&[
        FloatPre::None,
        FloatPre::None,
        FloatPre::None,
        FloatPre::Relu,
        FloatPre::Clip,
        FloatPre::SumPool,
        FloatPre::MaxPool,
    ]);
    let stateful = r.chance(35);
    let n_layers = r.upto(1, 4);
    let mut layers: Vec<Layer> = (0..n_layers).map(|_| random_layer(&mut r)).collect();
    if stateful {
        // requant → int_lif, once or twice, somewhere after the first layer.
        let lifs = if r.chance(30) { 2 } else { 1 };
        for _ in 0..lifs {
            let at = r.upto(1, layers.len());
            let lif = lif_layer(&mut r);
            let rq = requant_layer(&mut r);
            layers.insert(at, lif);
            layers.insert(at, rq);
        }
    }
    let out = match r.upto(0, 5) {
        0 | 1 => OutStage::Direct,
        2 | 3 => OutStage::Dequant {
            per_channel: r.chance(40),
            relu: r.chance(30),
        },
        4 => OutStage::Bin,
        _ => OutStage::RequantU8,
    };
    let ext = ext::generate(seed, layers.len());
    Spec {
        seed,
        input,
        quant,
        quant_per_channel: r.chance(25),
        pre,
        layers,
        out,
        steps: if stateful { r.upto(1, 6) } else { 1 },
        // 8 ordinary samples and 2 of special values (run.rs).
        samples: 10,
        ext,
    }
}

fn weights(r: &mut Rng) -> Weights {
    r.pick(&[
        Weights::I8,
        Weights::I8,
        Weights::Int4,
        Weights::U8,
        Weights::I16,
        Weights::Bin,
    ])
}

fn requant_layer(r: &mut Rng) -> Layer {
    Layer {
        kind: Kind::Requant {
            out: r.pick(&[DType::I8, DType::I8, DType::U8, DType::I16, DType::I32]),
            per_channel: r.chance(40),
            wild: r.chance(20),
            clamp: r.chance(30),
        },
        seed: r.next(),
        extra_output: false,
    }
}

fn lif_layer(r: &mut Rng) -> Layer {
    Layer {
        kind: Kind::Lif {
            state_bits: r.upto(8, 32) as u8,
            frac_bits: r.upto(0, 16) as u8,
            subtract: r.chance(50),
            params: r.upto(0, 2) as u8,
            wild: r.chance(15),
        },
        seed: r.next(),
        extra_output: r.chance(15),
    }
}

fn random_layer(r: &mut Rng) -> Layer {
    let kind = match r.upto(0, 13) {
        0..=2 => Kind::Dense {
            n: r.upto(1, 48),
            weights: weights(r),
            bias: r.chance(60),
            prune: r.pick(&[0, 0, 30, 60, 90]),
            small: false,
            trans_b: r.chance(70),
            rank1: r.chance(15),
        },
        3 => Kind::DenseBin {
            n: r.upto(1, 48),
            per_channel: r.chance(50),
            bias: r.chance(50),
        },
        4..=6 => {
            let dims = r.upto(1, 2);
            Kind::Conv {
                dims,
                c_out: r.upto(1, 8),
                k: [r.upto(1, 3), r.upto(1, 3)],
                stride: [r.upto(1, 2), r.upto(1, 3)],
                pad: [r.upto(0, 2), r.upto(0, 2), r.upto(0, 2), r.upto(0, 2)],
                dil: [r.pick(&[1, 1, 2]), r.pick(&[1, 1, 2, 3])],
                groups: r.pick(&[1, 1, 1, 2, 4]),
                weights: weights(r),
                bias: r.chance(60),
                prune: r.pick(&[0, 0, 50]),
                small: false,
                batchless: r.chance(15),
            }
        }
        7 => Kind::Pool {
            max: r.chance(50),
            dims: r.upto(1, 2),
            k: [r.upto(1, 3), r.upto(1, 3)],
            stride: [r.upto(1, 2), r.upto(1, 3)],
            pad: [r.upto(0, 1), r.upto(0, 2), r.upto(0, 1), r.upto(0, 2)],
            dil: [1, r.pick(&[1, 1, 2])],
            ceil: r.chance(25),
        },
        8 | 9 => return requant_layer(r),
        10 => Kind::Elementwise {
            mul: r.chance(40),
            other: r.pick(&[
                Other::Const(0),
                Other::Const(1),
                Other::Const(2),
                Other::Const(3),
                Other::Skip,
                Other::Side,
            ]),
        },
        11 => Kind::Clip { relu: r.chance(40) },
        _ => Kind::Reshape {
            how: r.upto(0, 3) as u8,
        },
    };
    Layer {
        kind,
        seed: r.next(),
        extra_output: r.chance(10),
    }
}

/// The current value while building.
#[derive(Clone, Debug)]
struct Cur {
    id: NodeId,
    dtype: DType,
    shape: Vec<usize>,
}

struct Builder {
    g: Graph,
    features: BTreeSet<String>,
    history: Vec<Cur>,
    names: usize,
    refused: Option<String>,
}

type Res<T> = Result<T, String>;

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

impl Builder {
    fn feat(&mut self, f: impl Into<String>) {
        self.features.insert(f.into());
    }

    fn name(&mut self, what: &str) -> String {
        self.names += 1;
        format!("{what}{}", self.names)
    }

    fn node(&mut self, what: &str, op: Op, operands: &[NodeId]) -> Res<Cur> {
        let name = self.name(what);
        let id = self
            .g
            .add_node(name, op, operands)
            .map_err(|e| e.to_string())?;
        let ty = self.g.ty(id).clone();
        if matches!(ty.dtype, DType::I64 | DType::U32) {
            return Err(format!("{what} gives {}", ty.dtype));
        }
        let c = Cur {
            id,
            dtype: ty.dtype,
            shape: ty.shape,
        };
        self.history.push(c.clone());
        Ok(c)
    }

    fn konst(&mut self, what: &str, t: Tensor) -> NodeId {
        let name = self.name(what);
        self.g.add_const(name, t)
    }

    fn ints(&mut self, what: &str, dt: DType, shape: Vec<usize>, v: Vec<i64>) -> Res<NodeId> {
        let t = Tensor::from_i64(dt, shape, v).map_err(|e| e.to_string())?;
        Ok(self.konst(what, t))
    }

    fn reshape(&mut self, c: &Cur, shape: Vec<usize>) -> Res<Cur> {
        if shape == c.shape {
            return Ok(c.clone());
        }
        self.node("reshape", Op::Reshape(Reshape { shape }), &[c.id])
    }

    /// An integer value the next kernel reads: bool is weighted into i32 when `bool_ok` is false,
    /// i32 is requantized to i8 when `i32_ok` is false.
    fn int_input(&mut self, c: Cur, r: &mut Rng, bool_ok: bool, i32_ok: bool) -> Res<Cur> {
        let mut c = c;
        if c.dtype == DType::Bool && !bool_ok {
            let w = self.ints("spikew", DType::I16, vec![], vec![r.range(-300, 300)])?;
            c = self.node("weigh", Op::Mul, &[c.id, w])?;
            self.feat("adapter: spike weighting");
        }
        if c.dtype == DType::I32 && !i32_ok {
            let rq = requant_op(r, &c, DType::I8, false, false, false)?;
            c = self.node("adapt_rq", Op::Requant(rq), &[c.id])?;
        }
        Ok(c)
    }

    /// `c` as `[1, K]` (or `[K]` with `rank1`).
    fn as_matrix(&mut self, c: &Cur, rank1: bool) -> Res<Cur> {
        let k = numel(&c.shape);
        if rank1 {
            return self.reshape(c, vec![k]);
        }
        match c.shape.as_slice() {
            [1, _] => Ok(c.clone()),
            [1, ..] if c.shape.len() > 2 => {
                self.feat("flatten");
                let end = c.shape.len() - 1;
                self.node(
                    "flatten",
                    Op::Flatten(Flatten {
                        start_dim: 1,
                        end_dim: end,
                    }),
                    &[c.id],
                )
            }
            _ => self.reshape(c, vec![1, k]),
        }
    }

    /// `c` as `[1, C, W]` (dims 1) or `[1, C, H, W]` (dims 2), optionally without the batch.
    fn as_image(&mut self, c: &Cur, dims: usize, batchless: bool, r: &mut Rng) -> Res<Cur> {
        let s = &c.shape;
        let mut want: Vec<usize> = match (s.len(), dims) {
            (3, 1) | (4, 2) if s[0] == 1 => s.clone(),
            (4, 1) if s[0] == 1 => vec![1, s[1], s[2] * s[3]],
            (3, 2) if s[0] == 1 => vec![1, s[1], 1, s[2]],
            _ => {
                // Split the elements into channels and space.
                let n = numel(s);
                let divs: Vec<usize> = (1..=n.min(8)).filter(|d| n % d == 0).collect();
                let ch = r.pick(&divs);
                let rest = n / ch;
                if dims == 1 {
                    vec![1, ch, rest]
                } else {
                    let hs: Vec<usize> = (1..=rest.min(8)).filter(|d| rest % d == 0).collect();
                    let h = r.pick(&hs);
                    vec![1, ch, h, rest / h]
                }
            }
        };
        if batchless {
            want.remove(0);
        }
        self.reshape(c, want)
    }

    fn apply(&mut self, layer: &Layer, c: Cur) -> Res<Cur> {
        let mut r = Rng::new(layer.seed);
        let r = &mut r;
        match &layer.kind {
            Kind::Dense {
                n,
                weights,
                bias,
                prune,
                small,
                trans_b,
                rank1,
            } => {
                let c = self.int_input(c, r, true, false)?;
                let x = self.as_matrix(&c, *rank1)?;
                let k = numel(&x.shape);
                let n = *n;
                let w: Vec<i64> = (0..n * k)
                    .map(|_| weight(r, *weights, *prune, *small))
                    .collect();
                let (wd, wshape, wv) = if *trans_b {
                    (weights.dtype(), vec![n, k], w)
                } else {
                    let t = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
                    (weights.dtype(), vec![k, n], t)
                };
                let wid = self.ints("w", wd, wshape, wv)?;
                let mut ops = vec![x.id, wid];
                if *bias {
                    let bshape = if *rank1 || r.chance(50) {
                        vec![n]
                    } else {
                        vec![1, n]
                    };
                    let big = r.chance(10);
                    let b = (0..n)
                        .map(|_| {
                            if big {
                                r.range(i32::MIN as i64, i32::MAX as i64)
                            } else {
                                r.range(-5000, 5000)
                            }
                        })
                        .collect();
                    ops.push(self.ints("b", DType::I32, bshape, b)?);
                    self.feat("dense: bias");
                }
                self.feat(format!("dense: {:?} weights", weights));
                self.feat(format!("dense: {} input", x.dtype));
                if *prune >= 50 {
                    self.feat("dense: pruned ≥ 50%");
                }
                if !*trans_b {
                    self.feat("dense: B not transposed");
                }
                if *rank1 {
                    self.feat("dense: rank-1 A");
                }
                let gm = Gemm {
                    trans_b: *trans_b,
                    ..Gemm::default()
                };
                self.node("dense", Op::Gemm(gm), &ops)
            }
            Kind::DenseBin {
                n,
                per_channel,
                bias,
            } => {
                let c = self.int_input(c, r, false, true)?;
                let x = self.as_matrix(&c, false)?;
                let k = x.shape[1];
                let (lo, hi) = x.dtype.int_range().unwrap_or((-100, 100));
                let (lo, hi) = (lo.max(-1000), hi.min(1000));
                let cnt = if *per_channel { k } else { 1 };
                let th = (0..cnt).map(|_| r.range(lo, hi)).collect();
                let fl = (0..cnt).map(|_| r.range(0, 1)).collect();
                let shape = if *per_channel { vec![k] } else { vec![] };
                let bt = BinThreshold {
                    threshold: Tensor::from_i64(DType::I64, shape.clone(), th)
                        .map_err(|e| e.to_string())?,
                    flip: Tensor::from_i64(DType::I64, shape, fl).map_err(|e| e.to_string())?,
                    axis: 1,
                };
                let xb = self.node("binarize", Op::BinThreshold(bt), &[x.id])?;
                let w = (0..n * k)
                    .map(|_| if r.chance(50) { 1 } else { -1 })
                    .collect();
                let wid = self.ints("wb", DType::Bin, vec![*n, k], w)?;
                let mut ops = vec![xb.id, wid];
                if *bias {
                    let b = (0..*n).map(|_| r.range(-500, 500)).collect();
                    ops.push(self.ints("b", DType::I32, vec![*n], b)?);
                }
                self.feat("dense binary");
                if k % 32 != 0 {
                    self.feat("dense binary: partial word");
                }
                if k > 32 {
                    self.feat("dense binary: > 1 word");
                }
                let gm = Gemm {
                    trans_b: true,
                    ..Gemm::default()
                };
                self.node("dense_bin", Op::Gemm(gm), &ops)
            }
            Kind::Conv {
                dims,
                c_out,
                k,
                stride,
                pad,
                dil,
                groups,
                weights,
                bias,
                prune,
                small,
                batchless,
            } => {
                let c = self.int_input(c, r, true, false)?;
                let x = self.as_image(&c, *dims, *batchless, r)?;
                let lead = usize::from(!*batchless);
                let c_in = x.shape[lead];
                let spatial = &x.shape[lead + 1..];
                let mut g = (*groups).max(1);
                while c_in % g != 0 {
                    g -= 1;
                }
                let c_out = (*c_out).max(1).div_ceil(g) * g;
                let (ks, st, pb, pe, dl) = window_params(spatial, *dims, *k, *stride, *pad, *dil);
                let wshape: Vec<usize> = [c_out, c_in / g].into_iter().chain(ks.clone()).collect();
                let w = (0..numel(&wshape))
                    .map(|_| weight(r, *weights, *prune, *small))
                    .collect();
                let wid = self.ints("cw", weights.dtype(), wshape, w)?;
                let mut ops = vec![x.id, wid];
                if *bias {
                    let b = (0..c_out).map(|_| r.range(-3000, 3000)).collect();
                    ops.push(self.ints("cb", DType::I32, vec![c_out], b)?);
                }
                self.feat(format!("conv{}d", dims));
                self.feat(format!("conv: {:?} weights", weights));
                self.feat(format!("conv: {} input", x.dtype));
                if g > 1 {
                    self.feat("conv: groups");
                }
                if st.iter().any(|&s| s > 1) {
                    self.feat("conv: stride");
                }
                if dl.iter().any(|&d| d > 1) {
                    self.feat("conv: dilation");
                }
                if pb.iter().chain(&pe).any(|&p| p > 0) {
                    self.feat("conv: padding");
                }
                if *batchless {
                    self.feat("conv: no batch axis");
                }
                let pads = pb.into_iter().chain(pe).collect();
                let op = Op::Conv(Conv {
                    stride: st,
                    pads,
                    dilation: dl,
                    groups: g,
                });
                self.node("conv", op, &ops)
            }
            Kind::Pool {
                max,
                dims,
                k,
                stride,
                pad,
                dil,
                ceil,
            } => {
                // Sum pooling of i32 would give i64; max pooling keeps the dtype.
                let c = self.int_input(c, r, false, *max)?;
                let x = self.as_image(&c, *dims, false, r)?;
                let spatial = x.shape[2..].to_vec();
                let (ks, st, pb, pe, dl) = window_params(&spatial, *dims, *k, *stride, *pad, *dil);
                let kind = if *max { PoolKind::Max } else { PoolKind::Sum };
                self.feat(format!("pool{}d {:?} {}", dims, kind, x.dtype));
                if *ceil {
                    self.feat("pool: ceil_mode");
                }
                let p = Pool {
                    kind,
                    kernel: ks,
                    stride: st,
                    pads: pb.into_iter().chain(pe).collect(),
                    dilation: dl,
                    ceil_mode: *ceil,
                    count_include_pad: false,
                };
                self.node("pool", Op::Pool(p), &[x.id])
            }
            Kind::Requant {
                out,
                per_channel,
                wild,
                clamp,
            } => {
                let c = self.int_input(c, r, false, true)?;
                let rq = requant_op(r, &c, *out, *per_channel, *wild, *clamp)?;
                self.feat(format!("requant {} → {}", c.dtype, out));
                if *per_channel && c.shape.len() >= 2 {
                    self.feat("requant: per channel");
                }
                self.node("requant", Op::Requant(rq), &[c.id])
            }
            Kind::Lif {
                state_bits,
                frac_bits,
                subtract,
                params,
                wild,
            } => {
                let c = self.int_input(c, r, false, true)?;
                let sb = (*state_bits).clamp(2, 32);
                let f = (*frac_bits).min(30);
                let half = 1i64 << (sb - 1);
                let pshape = match params {
                    0 => vec![],
                    1 => vec![*c.shape.last().unwrap_or(&1)],
                    _ => c.shape.clone(),
                };
                let cnt = numel(&pshape);
                let mut draw = |lo: i64, hi: i64| -> Res<Tensor> {
                    let v = (0..cnt).map(|_| r.range(lo, hi)).collect();
                    Tensor::from_i64(DType::I64, pshape.clone(), v).map_err(|e| e.to_string())
                };
                let one = 1i64 << f;
                let decay = if *wild {
                    draw(-(one.min((1 << 31) - 1)), (1 << 31) - 1)?
                } else {
                    draw(one / 2, one)?
                };
                let threshold = if *wild {
                    draw(-half, half - 1)?
                } else {
                    draw(1, (half - 1).min(3000))?
                };
                let bias = draw(-50, 50)?;
                let v_reset = draw((-half).max(-100), (half - 1).min(100))?;
                let l = IntLif {
                    decay,
                    frac_bits: f,
                    bias,
                    threshold,
                    v_reset,
                    reset: if *subtract {
                        ResetMode::Subtract
                    } else {
                        ResetMode::ToValue
                    },
                    state_bits: sb,
                };
                self.feat(format!(
                    "int_lif: {} reset",
                    if *subtract { "subtract" } else { "to value" }
                ));
                self.feat(format!("int_lif: {} input", c.dtype));
                if sb < 32 {
                    self.feat("int_lif: state < 32 bits");
                }
                self.node("lif", Op::IntLif(l), &[c.id])
            }
            Kind::Elementwise { mul, other } => {
                let op = if *mul { Op::Mul } else { Op::Add };
                let what = if *mul { "mul" } else { "add" };
                let skip = if *other == Other::Skip {
                    let cands: Vec<Cur> = self
                        .history
                        .iter()
                        .filter(|h| {
                            let narrow = |d: DType| {
                                matches!(
                                    d,
                                    DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::Bool
                                )
                            };
                            h.id != c.id
                                && h.shape == c.shape
                                && (h.dtype == c.dtype || (narrow(h.dtype) && narrow(c.dtype)))
                        })
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
                                let mut s = vec![1; c.shape.len()];
                                s[1] = c.shape[1];
                                s.remove(0);
                                s
                            }
                            3 => vec![*c.shape.last().unwrap_or(&1)],
                            _ => c.shape.clone(),
                        };
                        let dt = if c.dtype == DType::Bool {
                            DType::I8
                        } else {
                            c.dtype
                        };
                        let (lo, hi) = dt.int_range().unwrap_or((-100, 100));
                        let (lo, hi) = if *mul && r.chance(70) {
                            (lo.max(-3), hi.min(3))
                        } else {
                            (lo, hi)
                        };
                        let v = (0..numel(&shape)).map(|_| r.range(lo, hi)).collect();
                        self.feat(format!("{what}: constant, broadcast {bc}"));
                        self.ints("k", dt, shape, v)?
                    }
                    _ => {
                        if c.dtype == DType::Bool {
                            c.id
                        } else {
                            let lo = r.range(-50, 10) as f64;
                            let side = self.node(
                                "side",
                                Op::Clip(Clip {
                                    min: Some(lo),
                                    max: Some(lo + r.range(0, 200) as f64),
                                }),
                                &[c.id],
                            )?;
                            self.feat(format!("{what}: two branches"));
                            side.id
                        }
                    }
                };
                self.feat(format!("{what} {}", c.dtype));
                self.node(what, op, &[c.id, b])
            }
            Kind::Clip { relu } => {
                let c = self.int_input(c, r, false, true)?;
                if *relu {
                    self.feat(format!("relu {}", c.dtype));
                    return self.node("relu", Op::Relu, &[c.id]);
                }
                let bound = |r: &mut Rng| -> Option<f64> {
                    if r.chance(15) {
                        None
                    } else {
                        Some(r.range(-3000, 3000) as f64 / r.pick(&[1.0, 1.0, 2.0, 4.0]))
                    }
                };
                let mut min = bound(r);
                let mut max = bound(r);
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        (min, max) = (Some(b), Some(a));
                    }
                }
                self.feat(format!("clip {}", c.dtype));
                self.node("clip", Op::Clip(Clip { min, max }), &[c.id])
            }
            Kind::Reshape { how } => {
                let n = numel(&c.shape);
                self.feat("reshape");
                match how {
                    0 => self.as_matrix(&c, false),
                    1 => self.reshape(&c, vec![n]),
                    _ => {
                        let d = if *how == 2 { 1 } else { 2 };
                        self.as_image(&c, d, false, r)
                    }
                }
            }
        }
    }

    fn output(&mut self, c: &Cur) -> Res<()> {
        let name = self.name("y");
        self.g.add_output(name, c.id).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Kernel, stride, begin and end pads and dilation of a window over `spatial` that fits.
#[allow(clippy::type_complexity)]
fn window_params(
    spatial: &[usize],
    dims: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    dil: [usize; 2],
) -> (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>) {
    // 2-D parameters use index 0 for H and 1 for W; 1-D uses index 1.
    let axes: Vec<usize> = if dims == 1 { vec![1] } else { vec![0, 1] };
    let (mut ks, mut st, mut pb, mut pe, mut dl) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, &a) in axes.iter().enumerate() {
        let len = spatial.get(i).copied().unwrap_or(1);
        let (b, e) = (pad[a], pad[2 + a]);
        let mut kk = k[a].max(1);
        let mut d = dil[a].max(1);
        while d * (kk - 1) + 1 > len + b + e {
            if d > 1 {
                d -= 1;
            } else {
                kk -= 1;
            }
        }
        ks.push(kk);
        st.push(stride[a].max(1));
        pb.push(b);
        pe.push(e);
        dl.push(d);
    }
    (ks, st, pb, pe, dl)
}

impl Weights {
    fn dtype(self) -> DType {
        match self {
            Weights::I8 | Weights::Int4 => DType::I8,
            Weights::U8 => DType::U8,
            Weights::I16 => DType::I16,
            Weights::Bin => DType::Bin,
        }
    }
}

fn weight(r: &mut Rng, w: Weights, prune: u8, small: bool) -> i64 {
    if w != Weights::Bin && r.chance(u64::from(prune)) {
        return 0;
    }
    match (w, small) {
        (Weights::Bin, _) => {
            if r.chance(50) {
                1
            } else {
                -1
            }
        }
        (Weights::U8, true) => r.range(0, 1),
        (_, true) => r.range(-1, 1),
        (Weights::I8, _) => r.range(-128, 127),
        (Weights::Int4, _) => r.range(-8, 7),
        (Weights::U8, _) => r.range(0, 255),
        (Weights::I16, _) => r.range(-32768, 32767),
    }
}

/// A requant of `c` to `out`: a plausible scale (or, `wild`, any multiplier and shift).
fn requant_op(
    r: &mut Rng,
    c: &Cur,
    out: DType,
    per_channel: bool,
    wild: bool,
    clamp: bool,
) -> Res<Requant> {
    let (mut lo, mut hi) = out.int_range().ok_or("no range")?;
    if clamp {
        let a = r.range(lo, hi);
        let b = r.range(lo, hi);
        (lo, hi) = (a.min(b), a.max(b));
    }
    let zero_point = r.range(lo, hi);
    let zero_point = if r.chance(40) {
        0i64.clamp(lo, hi)
    } else {
        zero_point
    };
    let axis = 1.min(c.shape.len().saturating_sub(1));
    let cnt = if per_channel && !c.shape.is_empty() {
        c.shape[axis]
    } else {
        1
    };
    // Bits of headroom the input has over the output.
    let in_bits = match c.dtype {
        DType::I32 => r.range(8, 24),
        DType::I16 | DType::U16 => r.range(4, 12),
        _ => r.range(0, 4),
    };
    let (mut m, mut s) = (Vec::new(), Vec::new());
    for _ in 0..cnt {
        if wild {
            m.push(r.range(0, (1 << 31) - 1));
            s.push(r.range(0, 40));
        } else {
            m.push(r.range(1 << 30, (1 << 31) - 1));
            s.push((31 + in_bits + r.range(-2, 2)).clamp(0, 40));
        }
    }
    let shape = if per_channel && !c.shape.is_empty() {
        vec![cnt]
    } else {
        vec![]
    };
    Ok(Requant {
        multiplier: Tensor::from_i64(DType::I64, shape.clone(), m).map_err(|e| e.to_string())?,
        shift: Tensor::from_i64(DType::I64, shape, s).map_err(|e| e.to_string())?,
        zero_point,
        axis,
        out,
        lo,
        hi,
    })
}

/// Builds and verifies `spec`.
pub fn build(spec: &Spec) -> Res<Built> {
    let mut b = Builder {
        g: Graph::new(format!("diff{}", spec.seed)),
        features: BTreeSet::new(),
        history: Vec::new(),
        names: 0,
        refused: None,
    };
    let mut r = Rng::new(spec.seed ^ 0x5eed);
    let x =
        b.g.add_input("x", TensorType::new(DType::F32, spec.input.clone()));
    let mut c = Cur {
        id: x,
        dtype: DType::F32,
        shape: spec.input.clone(),
    };
    match spec.pre {
        FloatPre::None => {}
        FloatPre::Relu => c = b.node("frelu", Op::Relu, &[c.id])?,
        FloatPre::Clip => {
            let op = Op::Clip(Clip {
                min: Some(-(r.range(0, 8) as f64) / 4.0),
                max: Some(r.range(1, 16) as f64 / 4.0),
            });
            c = b.node("fclip", op, &[c.id])?;
        }
        FloatPre::SumPool | FloatPre::MaxPool => {
            let dims = if c.shape.len() == 4 { 2 } else { 1 };
            let spatial = c.shape[c.shape.len() - dims..].to_vec();
            let k = [r.upto(1, 3), r.upto(1, 3)];
            let st = [r.upto(1, 2), r.upto(1, 2)];
            let pad = [r.upto(0, 1), r.upto(0, 1), r.upto(0, 1), r.upto(0, 1)];
            let (ks, st, pb, pe, dl) = window_params(&spatial, dims, k, st, pad, [1, 1]);
            let kind = if spec.pre == FloatPre::MaxPool {
                PoolKind::Max
            } else {
                PoolKind::Sum
            };
            let p = Pool {
                kind,
                kernel: ks,
                stride: st,
                pads: pb.into_iter().chain(pe).collect(),
                dilation: dl,
                ceil_mode: false,
                count_include_pad: false,
            };
            c = b.node("fpool", Op::Pool(p), &[c.id])?;
        }
    }
    if spec.pre != FloatPre::None {
        b.feat(format!("f32 {:?} before quantize", spec.pre));
    }
    c = b.sections(&spec.ext, |a| a == At::Pre, c)?;
    // QuantizeLinear: scales so that roughly [-4, 4] spans the output range.
    let axis = 1;
    let cnt = if spec.quant_per_channel {
        c.shape[axis]
    } else {
        1
    };
    let scales: Vec<f32> = (0..cnt).map(|_| (r.range(1, 64) as f32) / 512.0).collect();
    let (zlo, zhi) = spec.quant.int_range().ok_or("no range")?;
    let zps: Vec<i64> = (0..cnt)
        .map(|_| {
            if r.chance(50) {
                0i64.max(zlo)
            } else {
                r.range(zlo, zhi)
            }
        })
        .collect();
    let pshape = if spec.quant_per_channel {
        vec![cnt]
    } else {
        vec![]
    };
    let s = b.konst(
        "qs",
        Tensor::from_f32(pshape.clone(), scales).map_err(|e| e.to_string())?,
    );
    let z = b.ints("qz", spec.quant, pshape, zps)?;
    b.feat(format!(
        "quantize → {}{}",
        spec.quant,
        if spec.quant_per_channel {
            " per channel"
        } else {
            ""
        }
    ));
    c = b.node(
        "q",
        Op::QuantizeLinear(QuantizeLinear {
            axis,
            out: spec.quant,
        }),
        &[c.id, s, z],
    )?;
    let len = spec.layers.len();
    if len == 0 {
        c = b.sections(&spec.ext, |a| matches!(a, At::After(_)), c)?;
    }
    for (i, layer) in spec.layers.iter().enumerate() {
        c = b.join_inputs(&spec.ext, i, len, c)?;
        c = b.apply(layer, c)?;
        // One output is kept for the end.
        if layer.extra_output && b.g.outputs().len() + 1 < MAX_PORTS {
            b.feat("extra output");
            b.output(&c)?;
        }
        let here = |a: At| matches!(a, At::After(j) if j == i || (i + 1 == len && j > i));
        c = b.sections(&spec.ext, here, c)?;
        c = b.refuse_at(&spec.ext, i, len, c)?;
    }
    c = b.join_inputs(&spec.ext, len, len, c)?;
    if len == 0 {
        c = b.refuse_at(&spec.ext, 0, 0, c)?;
    }
    match spec.out {
        OutStage::Direct => {}
        OutStage::Dequant { per_channel, relu } => {
            if c.dtype != DType::Bool {
                let pc = per_channel && c.shape.len() >= 2;
                let cnt = if pc { c.shape[1] } else { 1 };
                let sc: Vec<f32> = (0..cnt).map(|_| r.range(1, 1000) as f32 / 4096.0).collect();
                let pshape = if pc { vec![cnt] } else { vec![] };
                let s = b.konst(
                    "ds",
                    Tensor::from_f32(pshape.clone(), sc).map_err(|e| e.to_string())?,
                );
                let (lo, hi) = c.dtype.int_range().ok_or("no range")?;
                let zp = (0..cnt)
                    .map(|_| r.range(lo.max(-100), hi.min(100)))
                    .collect();
                let z = b.ints("dz", c.dtype, pshape, zp)?;
                b.feat(format!("dequantize {}", c.dtype));
                c = b.node(
                    "dq",
                    Op::DequantizeLinear(DequantizeLinear { axis: 1 }),
                    &[c.id, s, z],
                )?;
                if relu {
                    c = b.node("frelu_out", Op::Relu, &[c.id])?;
                }
            }
        }
        OutStage::Bin => {
            if c.dtype != DType::Bool {
                let th = Tensor::from_i64(DType::I64, vec![], vec![r.range(-20, 20)])
                    .map_err(|e| e.to_string())?;
                let fl = Tensor::from_i64(DType::I64, vec![], vec![r.range(0, 1)])
                    .map_err(|e| e.to_string())?;
                b.feat("bin output");
                c = b.node(
                    "bin_out",
                    Op::BinThreshold(BinThreshold {
                        threshold: th,
                        flip: fl,
                        axis: 0,
                    }),
                    &[c.id],
                )?;
            }
        }
        OutStage::RequantU8 => {
            let c2 = b.int_input(c, &mut r, false, true)?;
            let rq = requant_op(&mut r, &c2, DType::U8, false, false, false)?;
            c = b.node("rq_out", Op::Requant(rq), &[c2.id])?;
        }
    }
    c = b.sections(&spec.ext, |a| a == At::Tail, c)?;
    b.feat(format!("output {}", c.dtype));
    b.output(&c)?;
    let (ins, outs) = (b.g.inputs().len(), b.g.outputs().len());
    if ins > 1 {
        b.feat(format!("inputs: {ins}"));
    }
    if outs > 1 {
        b.feat(format!("outputs: {outs}"));
    }
    verify(&b.g).map_err(|e| format!("verify: {e}"))?;
    let stateful = spec
        .layers
        .iter()
        .any(|l| matches!(l.kind, Kind::Lif { .. }));
    if stateful {
        b.feat("stateful");
    }
    Ok(Built {
        graph: b.g,
        steps: spec.steps.max(1),
        features: b.features,
        refused: b.refused,
    })
}
