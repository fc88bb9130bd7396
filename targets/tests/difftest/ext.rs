//! What the generator adds around the integer core of [`Spec`](super::Spec): float sections
//! (f32 dense layers, rows stored as signs times a scale, BatchNorm, float elementwise, pooling
//! and clamps) with dequantize/quantize around them, extra graph inputs of several dtypes and
//! branches to extra outputs, and models the ARM targets must refuse (a `delay` op, a
//! recurrent edge). Drawn from a stream of its own (`seed ^ EXT_SALT`), so the integer core of
//! every seed is what it was before these existed: a seed whose draw here is empty builds the
//! same model as before.

use snnc_ir::DType;

use super::{Other, Rng};

/// Salt of the extension stream.
const EXT_SALT: u64 = 0x00e7_5a17_f10a_7000;

/// The extensions of one spec.
#[derive(Clone, Debug, Default)]
pub struct Ext {
    pub sections: Vec<Section>,
    pub inputs: Vec<ExtraInput>,
    pub refuse: Option<Refuse>,
}

/// Where a float section sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// On the f32 input, before the model's QuantizeLinear.
    Pre,
    /// After integer layer `i` (the last one when `i` is past the end; right after the
    /// quantize when there are none): dequantize, float layers, quantize back.
    After(usize),
    /// After the output stage: the model ends in float (or quantizes once more).
    Tail,
}

/// A run of float layers.
#[derive(Clone, Debug)]
pub struct Section {
    pub at: At,
    pub layers: Vec<FLayer>,
    /// Quantize the section's result to this dtype (always for `After`, sometimes for `Tail`).
    pub back: Option<DType>,
    /// Enter an integer value as ±1 (a BinThreshold) instead of dequantizing it, when the first
    /// layer is dense: a BNN's float last layer.
    pub binarize: bool,
    pub seed: u64,
}

/// One float layer; `seed` drives its values.
#[derive(Clone, Debug)]
pub struct FLayer {
    pub kind: FKind,
    pub seed: u64,
}

/// The float layer kinds and the choices shrinking can reduce.
#[derive(Clone, Debug, PartialEq)]
pub enum FKind {
    /// Gemm (or MatMul) with f32 weights on an f32, bool or bin input.
    Dense {
        n: usize,
        /// Every row `±s_j` (stored as packed signs and one scale per row).
        signs: bool,
        bias: bool,
        /// alpha and beta other than 1.
        scaled: bool,
        /// Percent of weights zeroed (not with `signs`).
        prune: u8,
        matmul: bool,
        rank1: bool,
    },
    /// Inference BatchNorm over axis 1 (`image`: of a `[1, C, H, W]` view).
    BatchNorm {
        image: bool,
        eps: u8,
    },
    Relu,
    Clip,
    Elementwise {
        mul: bool,
        other: Other,
    },
    Pool {
        max: bool,
        dims: usize,
    },
}

/// A further graph input.
#[derive(Clone, Debug)]
pub struct ExtraInput {
    /// Joined before integer layer `at` (`at` past the end: before the output stage).
    pub at: usize,
    pub dtype: DType,
    pub join: Join,
    pub seed: u64,
}

/// How an extra input enters the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Added to the current value (same shape, or broadcast along its last axis).
    Add,
    /// Multiplied with it (a bool input gates it).
    Mul,
    /// A branch of its own to an extra output.
    Own,
}

/// A node without an ARM kernel, placed after integer layer `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refuse {
    /// A `delay` of a few steps.
    Delay { at: usize, steps: u8 },
    /// An `add` of the value and its own previous result (a recurrent edge).
    Recurrent { at: usize },
}

fn flayer(r: &mut Rng, first: bool) -> FLayer {
    let kind = match if first { 0 } else { r.upto(0, 9) } {
        0..=3 => FKind::Dense {
            n: r.upto(1, 40),
            signs: r.chance(30),
            bias: r.chance(60),
            scaled: r.chance(20),
            prune: r.pick(&[0, 0, 0, 40, 80]),
            matmul: r.chance(20),
            rank1: r.chance(15),
        },
        4 | 5 => FKind::BatchNorm {
            image: r.chance(40),
            eps: r.upto(0, 2) as u8,
        },
        6 => FKind::Relu,
        7 => FKind::Clip,
        8 => FKind::Elementwise {
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
        _ => FKind::Pool {
            max: r.chance(50),
            dims: r.upto(1, 2),
        },
    };
    FLayer {
        kind,
        seed: r.next(),
    }
}

fn section(r: &mut Rng, n_layers: usize) -> Section {
    let at = match r.upto(0, 2) {
        0 => At::Pre,
        1 => At::After(r.upto(0, n_layers.saturating_sub(1))),
        _ => At::Tail,
    };
    // A section that starts from bool or bin values needs a dense layer first; most do.
    let first_dense = r.chance(75);
    let layers = (0..r.upto(1, 3))
        .map(|i| flayer(r, i == 0 && first_dense))
        .collect();
    let back = match at {
        At::Pre => None,
        At::After(_) => Some(r.pick(&[DType::I8, DType::I8, DType::U8, DType::I16])),
        At::Tail => r
            .chance(25)
            .then(|| r.pick(&[DType::I8, DType::U8, DType::I16])),
    };
    Section {
        at,
        layers,
        back,
        binarize: first_dense && r.chance(35),
        seed: r.next(),
    }
}

/// The extensions of `seed`'s spec, whose integer core has `n_layers` layers.
pub fn generate(seed: u64, n_layers: usize) -> Ext {
    let mut r = Rng::new(seed ^ EXT_SALT);
    let mut ext = Ext::default();
    if r.chance(45) {
        let count = if r.chance(25) { 2 } else { 1 };
        ext.sections = (0..count).map(|_| section(&mut r, n_layers)).collect();
    }
    if r.chance(22) {
        ext.inputs = (0..r.upto(1, 3))
            .map(|_| ExtraInput {
                at: r.upto(0, n_layers),
                dtype: r.pick(&[
                    DType::F32,
                    DType::F32,
                    DType::I8,
                    DType::U8,
                    DType::I16,
                    DType::U16,
                    DType::I32,
                    DType::Bool,
                    DType::Bin,
                ]),
                join: r.pick(&[Join::Add, Join::Add, Join::Mul, Join::Own]),
                seed: r.next(),
            })
            .collect();
    }
    if r.chance(4) {
        let at = r.upto(0, n_layers);
        ext.refuse = Some(if r.chance(50) {
            Refuse::Delay {
                at,
                steps: r.upto(1, 3) as u8,
            }
        } else {
            Refuse::Recurrent { at }
        });
    }
    ext
}
