//! The closed set of kernels both ARM backends implement. Each kernel's doc comment is its exact
//! semantics: the lowering (`lower.rs`) has already resolved every broadcast, transposition and
//! float pre-computation of the reference interpreter, so a backend that follows these comments
//! literally agrees with `snnc_ir::interp` bit for bit.
//!
//! Storage of a value of each dtype (row-major, element `i` at byte `i·size`):
//! `f32` (IEEE single), `i8`, `u8`, `i16`, `u16`, `i32` (two's complement, little endian),
//! `bool` (one byte, 0 or 1), `bin` (±1 packed LSB-first along the **last** axis into u32 words,
//! bit 1 meaning −1, every row padded with 0 bits to whole words: DESIGN.md §4).
//!
//! Integer arithmetic: "wrap to T" means keep the low bits of the exact result as two's
//! complement T (C: compute in `uint32_t`, cast); every integer kernel's inputs are read as the
//! signed/unsigned value of their dtype, a `bool` as 0/1, a `bin` element as −1/+1.
//! Float arithmetic: IEEE single precision, round to nearest even, no fused multiply-add (C:
//! `-ffp-contract=off`) except where a kernel says `fma`, operations in exactly the order
//! written.

use snnc_ir::DType;

use super::ValueId;

/// Which element of a per-channel parameter vector applies to flat element `i`:
/// `(i / inner) % channels`. A per-tensor parameter has `channels == 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    pub channels: usize,
    pub inner: usize,
}

impl Channels {
    /// One parameter for the whole tensor.
    pub const TENSOR: Channels = Channels {
        channels: 1,
        inner: 1,
    };

    /// The parameter index of flat element `i`.
    pub fn of(&self, i: usize) -> usize {
        (i / self.inner.max(1)) % self.channels.max(1)
    }
}

/// Elementwise binary operation of [`Kernel::Elementwise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Mul,
}

/// Pooling reduction of [`Kernel::Pool2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Largest element of the window; padded taps are skipped. Integer: start from the dtype's
    /// minimum; f32: start from `f32::MIN` (−3.4028235e38) and take `v` when `v > best`.
    Max,
    /// Sum of the window, wrapped to the output dtype (integer) or summed in tap order (f32).
    Sum,
}

/// What happens to the membrane of a neuron that fired ([`Kernel::IntLif`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// `v = v_reset`.
    ToValue,
    /// `v = clamp(u − threshold, lo, hi)`.
    Subtract,
}

/// Geometry of a 2-D window op (convolution or pooling) over one image `[C, H, W]` (the batch
/// dimension is 1 or absent; 1-D ops have `h == out_h == 1`, `kh == 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before the first row and column: input row of output row `oy`, tap `ky` is
    /// `oy·stride[0] + ky·dilation[0] − pad[0]`; taps outside `[0, h)` (or `[0, w)`) are skipped.
    pub pad: [usize; 2],
    pub groups: usize,
}

/// The weights `w[j][k]` of a float dense layer.
#[derive(Clone, Debug, PartialEq)]
pub enum F32Weights {
    /// `[n][k]` row-major.
    Dense(Vec<f32>),
    /// Every weight of row `j` is `±scale[j]` (a binarized layer kept in float, e.g. QONNX
    /// BipolarQuant weights times their scale): signs packed `[n][words]` like binary weights
    /// (bit 1 = `−scale[j]`). The weight rebuilt from sign and scale is bit-identical to the
    /// original, so the arithmetic is unchanged; the storage is 1 bit per weight.
    Signs { bits: Vec<u32>, scale: Vec<f32> },
}

impl F32Weights {
    /// `w[j][kk]` of a layer with rows of `k`.
    pub fn get(&self, j: usize, kk: usize, k: usize) -> f32 {
        match self {
            F32Weights::Dense(w) => w[j * k + kk],
            F32Weights::Signs { bits, scale } => {
                let words = k.div_ceil(32);
                if bits[j * words + kk / 32] >> (kk % 32) & 1 == 1 {
                    -scale[j]
                } else {
                    scale[j]
                }
            }
        }
    }
}

/// One step of a compiled model. `x`, `y`, `a`, `b` name values of the plan; `y` is always
/// written completely before any later kernel reads it, and never aliases an input.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// f32 → integer (ONNX QuantizeLinear): `r = round_half_even(x[i] / scale[c])` in f32;
    /// `y[i] = lo` when `r` is NaN, else `clamp(r + zero_point[c], lo, hi)` (computed in f64,
    /// so ±inf clamp too). `lo`/`hi` are the output dtype's range.
    Quantize {
        x: ValueId,
        y: ValueId,
        scale: Vec<f32>,
        zero_point: Vec<i32>,
        ch: Channels,
        lo: i32,
        hi: i32,
    },
    /// integer → f32 (ONNX DequantizeLinear): `y[i] = (f32)(x[i] − zero_point[c]) · scale[c]`
    /// (the difference exact in i64, converted to f32 with round to nearest even).
    Dequantize {
        x: ValueId,
        y: ValueId,
        scale: Vec<f32>,
        zero_point: Vec<i32>,
        ch: Channels,
    },
    /// Integer dense layer: `y[r][j] = wrap_i32(Σ_k x[r][k]·w[j][k] + bias[j])` for `r < rows`,
    /// `j < n`, `k < k`. `x` is u8/i8/u16/i16/i32/bool; `w` is `[n][k]` row-major of dtype
    /// `w_dtype` (i8, u8, i16 or i32); `bias` absent means 0.
    DenseInt {
        x: ValueId,
        y: ValueId,
        rows: usize,
        k: usize,
        n: usize,
        w_dtype: DType,
        w: Vec<i32>,
        bias: Option<Vec<i32>>,
    },
    /// Binary dense layer (XNOR-popcount): `x` is bin `[rows][k]` packed, `w` is `[n][words]`
    /// packed the same way (`words = ceil(k/32)`, padding bits 0 in both, so they cancel):
    /// `y[r][j] = wrap_i32(k − 2·Σ_words popcount(x_word XOR w_word) + bias[j])`, y i32.
    DenseBin {
        x: ValueId,
        y: ValueId,
        rows: usize,
        k: usize,
        n: usize,
        w: Vec<u32>,
        bias: Option<Vec<i32>>,
    },
    /// Integer input × binary weights (a BNN's first layer): `w` packed `[n][words]` as in
    /// [`Kernel::DenseBin`], element `k` of row `j` being −1 when its bit is 1, else +1:
    /// `y[r][j] = wrap_i32(Σ_k x[r][k]·w[j][k] + bias[j])` (equivalently `Σ_k x − 2·Σ_{bit set}
    /// x`), `x` u8/i8/u16/i16/i32/bool, y i32.
    DenseBinW {
        x: ValueId,
        y: ValueId,
        rows: usize,
        k: usize,
        n: usize,
        w: Vec<u32>,
        bias: Option<Vec<i32>>,
    },
    /// Float dense layer: `acc = 0.0; for k in 0..K { acc = fma(x[r][k], w[j][k], acc) }` (one
    /// rounding per step, as the reference's `f32::mul_add`; x f32, or
    /// bool 0/1, or bin ±1, converted to f32), then `acc = acc·alpha` when `alpha` is given,
    /// then `y[r][j] = acc + bias[j]` when `bias` is given (bias already multiplied by beta).
    DenseF32 {
        x: ValueId,
        y: ValueId,
        rows: usize,
        k: usize,
        n: usize,
        w: F32Weights,
        alpha: Option<f32>,
        bias: Option<Vec<f32>>,
    },
    /// Integer convolution over `[c_in, h, w]` → `[c_out, out_h, out_w]` (y i32):
    /// `y[o][oy][ox] = wrap_i32(bias[o] + Σ_{ci in group, ky, kx} x[ci][iy][ix]·w[o][ci−g0][ky][kx])`
    /// with skipped padded taps (see [`Window`]), `g0` the group's first input channel; `x`
    /// u8/i8/i16/i32/bool, `w` `[c_out][c_in/groups][kh][kw]` of `w_dtype`.
    Conv2dInt {
        x: ValueId,
        y: ValueId,
        win: Window,
        w_dtype: DType,
        w: Vec<i32>,
        bias: Option<Vec<i32>>,
    },
    /// Pooling per channel over the window (`c_out == c_in`, no weights); `x` is read as its
    /// own dtype and the result stored as `y`'s (integer sum pooling widens, e.g. i8 → i32,
    /// wrapping to it; f32 stays f32).
    Pool2d {
        x: ValueId,
        y: ValueId,
        win: Window,
        kind: PoolKind,
    },
    /// Integer rescale (DESIGN.md §4, `snnc_ir::op::int::requant_scale`): with
    /// `p = x[i]·m[c]` exact in i64 (`x` ≤ 32 bits, `m < 2^31`) and `s = shift[c]`:
    /// `q = s == 0 ? p : (p + 2^(s−1)) >> s` (arithmetic shift), then
    /// `y[i] = clamp(q + zero_point, lo, hi)` stored as `y`'s dtype.
    Requant {
        x: ValueId,
        y: ValueId,
        multiplier: Vec<i64>,
        shift: Vec<u32>,
        zero_point: i32,
        lo: i32,
        hi: i32,
        ch: Channels,
    },
    /// Integer → bin: element `i` is +1 when `x[i] ≥ threshold[c]` (`x[i] ≤ threshold[c]` when
    /// `flip[c]`), else −1; `y` packed along its last axis of length `last` (bit 1 = −1).
    BinThreshold {
        x: ValueId,
        y: ValueId,
        threshold: Vec<i64>,
        flip: Vec<bool>,
        ch: Channels,
        last: usize,
    },
    /// Fixed-point LIF, one time step over `n` neurons whose i32 membranes live in the state
    /// region at `state` (bytes; zero after init): `leak = v·decay` (i64), `leak = f > 0 ?
    /// (leak + 2^(f−1)) >> f : leak`; `u = clamp(leak + x[i] + bias[i], lo, hi)`; fire when `u >
    /// threshold[i]`: then `u = v_reset[i]` (ToValue) or `clamp(u − threshold[i], lo, hi)`
    /// (Subtract); `v = u`; `y[i] = fire` (bool). All parameters are expanded per neuron and
    /// every intermediate fits i64 (`|v| < 2^31`, `|decay| < 2^31`).
    IntLif {
        x: ValueId,
        y: ValueId,
        n: usize,
        state: usize,
        decay: Vec<i64>,
        bias: Vec<i64>,
        threshold: Vec<i64>,
        v_reset: Vec<i64>,
        frac_bits: u32,
        lo: i64,
        hi: i64,
        reset: Reset,
    },
    /// `y[idx] = a[Σ idx·a_strides] op b[Σ idx·b_strides]` over the up-to-4-D index `idx` of
    /// `shape` (broadcast dimensions have stride 0; shapes padded with leading 1s to 4 dims).
    /// Integer: exact product/sum of the two integers wrapped to `y`'s dtype. f32: one IEEE op.
    Elementwise {
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
        y: ValueId,
        shape: [usize; 4],
        a_strides: [usize; 4],
        b_strides: [usize; 4],
    },
    /// f32 per-channel affine (a folded BatchNorm): `y[i] = x[i]·scale[c] + shift[c]` (product
    /// rounded, then sum rounded).
    ScaleShift {
        x: ValueId,
        y: ValueId,
        scale: Vec<f32>,
        shift: Vec<f32>,
        ch: Channels,
    },
    /// Clamp into `[lo, hi]` (ReLU is `lo = 0`, `hi = +inf`): integer values compared as
    /// integers (`lo`/`hi` are whole numbers here, possibly ±inf), f32 as `x < lo ? lo : x` then
    /// `x > hi ? hi : x` (NaN passes through).
    Clamp {
        x: ValueId,
        y: ValueId,
        lo: f64,
        hi: f64,
    },
    /// Byte copy of `x` into `y` (same dtype and element count): graph outputs that are
    /// reshapes of values still needed, or of graph inputs.
    Copy { x: ValueId, y: ValueId },
}

impl Kernel {
    /// The kind's name in reports, manifests and generated function names.
    pub fn kind(&self) -> &'static str {
        match self {
            Kernel::Quantize { .. } => "quantize",
            Kernel::Dequantize { .. } => "dequantize",
            Kernel::DenseInt { .. } => "dense_int",
            Kernel::DenseBin { .. } => "dense_bin",
            Kernel::DenseBinW { .. } => "dense_bin_weights",
            Kernel::DenseF32 { .. } => "dense_f32",
            Kernel::Conv2dInt { .. } => "conv2d_int",
            Kernel::Pool2d { .. } => "pool2d",
            Kernel::Requant { .. } => "requant",
            Kernel::BinThreshold { .. } => "bin_threshold",
            Kernel::IntLif { .. } => "int_lif",
            Kernel::Elementwise { .. } => "elementwise",
            Kernel::ScaleShift { .. } => "scale_shift",
            Kernel::Clamp { .. } => "clamp",
            Kernel::Copy { .. } => "copy",
        }
    }
}
