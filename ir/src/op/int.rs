//! Integer-only ops produced by snnc's passes: requantization, binary thresholds and the
//! fixed-point LIF neuron. Their semantics are what integer targets execute bit for bit.

use crate::broadcast::{broadcasts_to, expand};
use crate::infer::fmt_shape;
use crate::interp::num::{i64_data, type_of};
use crate::{DType, IrError, Op, Tensor, TensorType};

use super::ResetMode;

/// Requantize an integer accumulator to a narrower integer type with a fixed-point scale:
/// `y = clamp(((x·m + 2^(s−1)) >> s) + zero_point, lo, hi)` with `m`, `s` per channel along
/// `axis` (or scalars), the product and shift in exact 64-bit integer arithmetic, `>>` an
/// arithmetic shift (so rounding is half toward +∞), and no rounding term when `s = 0`.
/// `m·2^(−s)` approximates the real scale ratio `s_in / s_out` (DESIGN.md §4).
#[derive(Clone, PartialEq, Debug)]
pub struct Requant {
    /// Integer multipliers, i64 tensor of shape `[]` or `[C]`, each in `[0, 2^31)`.
    pub multiplier: Tensor,
    /// Right shifts, i64 tensor of the multiplier's shape, each in `[0, 62]`.
    pub shift: Tensor,
    pub zero_point: i64,
    /// Channel axis of per-channel multipliers (ignored for scalars).
    pub axis: usize,
    pub out: DType,
    /// Saturation bounds (inclusive), inside `out`'s range; a fused ReLU raises `lo` to the zero
    /// point.
    pub lo: i64,
    pub hi: i64,
}

/// Binarize an integer accumulator with one threshold per channel (BatchNorm + sign folded):
/// `y = +1 if x ≥ threshold else −1`, or, where `flip` is set (negative BatchNorm scale),
/// `y = +1 if x ≤ threshold else −1`. Output dtype [`DType::Bin`].
#[derive(Clone, PartialEq, Debug)]
pub struct BinThreshold {
    /// i64 tensor `[]` or `[C]`.
    pub threshold: Tensor,
    /// i64 tensor of 0/1, the threshold's shape.
    pub flip: Tensor,
    pub axis: usize,
}

/// Fixed-point leaky integrate-and-fire neuron. Input: integer synaptic current `I` (already in
/// membrane units, the weights carry `dt/tau·r`). Per step, with `F = frac_bits`:
/// `v ← sat(((v·decay + 2^(F−1)) >> F) + I + bias)`, spike when `v > threshold`, then
/// `v ← v_reset` (ToValue) or `v ← v − threshold` (Subtract). `sat` clamps to a signed
/// `state_bits`-bit integer. Output: spikes as [`DType::Bool`] 0/1.
#[derive(Clone, PartialEq, Debug)]
pub struct IntLif {
    /// `round((1 − dt/tau)·2^F)` per neuron (i64 tensor, broadcast to the input shape).
    pub decay: Tensor,
    pub frac_bits: u8,
    /// Constant drive per step, `round(dt/tau·v_leak / scale)` (i64 tensor).
    pub bias: Tensor,
    /// i64 tensor.
    pub threshold: Tensor,
    /// i64 tensor.
    pub v_reset: Tensor,
    pub reset: ResetMode,
    /// Width of the membrane register (e.g. 16 or 32).
    pub state_bits: u8,
}

/// Largest Requant multiplier plus one: `m < 2^31` keeps `x·m` of an i32 accumulator in 63 bits.
pub const REQUANT_MULTIPLIER_LIMIT: i64 = 1 << 31;
/// Largest Requant shift.
pub const REQUANT_MAX_SHIFT: i64 = 62;
/// Largest IntLif `frac_bits`.
pub const INT_LIF_MAX_FRAC_BITS: u8 = 30;
/// Narrowest and widest IntLif membrane register.
pub const INT_LIF_STATE_BITS: std::ops::RangeInclusive<u8> = 2..=32;

/// The attribute rules of the integer ops (the verifier's checks, also applied by inference
/// and evaluation): `Ok` for every other op.
pub fn check_attrs(op: &Op) -> Result<(), String> {
    match op {
        Op::Requant(r) => check_requant(r),
        Op::BinThreshold(b) => check_bin_threshold(b),
        Op::IntLif(l) => check_int_lif(l),
        _ => Ok(()),
    }
}

/// The values of an attribute that must be an `i64` tensor.
fn i64_attr<'t>(name: &str, t: &'t Tensor) -> Result<&'t [i64], String> {
    match (t.dtype(), t.as_i64()) {
        (DType::I64, Some(v)) => Ok(v),
        _ => Err(format!(
            "attribute `{name}` must be an i64 tensor, got {}{}",
            t.dtype(),
            fmt_shape(t.shape())
        )),
    }
}

/// A per-channel attribute pair: shape `[]` or `[C]`, both the same shape.
fn check_channel_pair(a: (&str, &Tensor), b: (&str, &Tensor)) -> Result<(), String> {
    if a.1.rank() > 1 {
        return Err(format!(
            "attribute `{}` has shape {}, expected [] or [C]",
            a.0,
            fmt_shape(a.1.shape())
        ));
    }
    if a.1.shape() != b.1.shape() {
        return Err(format!(
            "attributes `{}` {} and `{}` {} must have the same shape",
            a.0,
            fmt_shape(a.1.shape()),
            b.0,
            fmt_shape(b.1.shape())
        ));
    }
    Ok(())
}

/// `lo ≤ hi` inside `out`'s range, `out` a plain integer type, multipliers in `[0, 2^31)`,
/// shifts in `[0, 62]`, the zero point in `[lo, hi]`, multiplier and shift i64 tensors of one
/// shape `[]` or `[C]`.
pub fn check_requant(r: &Requant) -> Result<(), String> {
    let (min, max) = match r.out.int_range() {
        Some(range) if !matches!(r.out, DType::Bool | DType::Bin) => range,
        _ => {
            return Err(format!(
                "attribute `out` must be an integer type other than bool and bin, got {}",
                r.out
            ))
        }
    };
    if r.lo > r.hi || r.lo < min || r.hi > max {
        return Err(format!(
            "bounds lo = {} and hi = {} must satisfy {min} <= lo <= hi <= {max} (the range of {})",
            r.lo, r.hi, r.out
        ));
    }
    if r.zero_point < r.lo || r.zero_point > r.hi {
        return Err(format!(
            "zero_point {} is outside [lo, hi] = [{}, {}]",
            r.zero_point, r.lo, r.hi
        ));
    }
    let m = i64_attr("multiplier", &r.multiplier)?;
    let s = i64_attr("shift", &r.shift)?;
    check_channel_pair(("multiplier", &r.multiplier), ("shift", &r.shift))?;
    if let Some((i, v)) = m
        .iter()
        .enumerate()
        .find(|(_, v)| !(0..REQUANT_MULTIPLIER_LIMIT).contains(*v))
    {
        return Err(format!("multiplier {v} at index {i} is outside [0, 2^31)"));
    }
    if let Some((i, v)) = s
        .iter()
        .enumerate()
        .find(|(_, v)| !(0..=REQUANT_MAX_SHIFT).contains(*v))
    {
        return Err(format!(
            "shift {v} at index {i} is outside [0, {REQUANT_MAX_SHIFT}]"
        ));
    }
    Ok(())
}

/// Threshold and flip i64 tensors of one shape `[]` or `[C]`, flips 0 or 1.
pub fn check_bin_threshold(b: &BinThreshold) -> Result<(), String> {
    i64_attr("threshold", &b.threshold)?;
    let flip = i64_attr("flip", &b.flip)?;
    check_channel_pair(("threshold", &b.threshold), ("flip", &b.flip))?;
    if let Some((i, v)) = flip.iter().enumerate().find(|(_, v)| !(0..=1).contains(*v)) {
        return Err(format!("flip {v} at index {i} is not 0 or 1"));
    }
    Ok(())
}

/// Signed range of a `bits`-wide register.
fn signed_range(bits: u8) -> (i64, i64) {
    let half = 1i64 << (bits.clamp(1, 63) - 1);
    (-half, half - 1)
}

/// `frac_bits` in `0..=30`, `state_bits` in `2..=32`, every parameter an i64 tensor, and
/// `v_reset` inside the membrane register's range (the register must be able to hold it).
pub fn check_int_lif(l: &IntLif) -> Result<(), String> {
    if l.frac_bits > INT_LIF_MAX_FRAC_BITS {
        return Err(format!(
            "frac_bits {} is outside 0..={INT_LIF_MAX_FRAC_BITS}",
            l.frac_bits
        ));
    }
    if !INT_LIF_STATE_BITS.contains(&l.state_bits) {
        return Err(format!(
            "state_bits {} is outside {}..={}",
            l.state_bits,
            INT_LIF_STATE_BITS.start(),
            INT_LIF_STATE_BITS.end()
        ));
    }
    for (name, t) in int_lif_params(l) {
        i64_attr(name, t)?;
    }
    let (lo, hi) = signed_range(l.state_bits);
    let v_reset = i64_attr("v_reset", &l.v_reset)?;
    if let Some((i, v)) = v_reset
        .iter()
        .enumerate()
        .find(|(_, v)| !(lo..=hi).contains(*v))
    {
        return Err(format!(
            "v_reset {v} at index {i} does not fit the {}-bit membrane [{lo}, {hi}]",
            l.state_bits
        ));
    }
    Ok(())
}

/// The tensor parameters of an IntLif, by name, in declaration order.
pub fn int_lif_params(l: &IntLif) -> [(&'static str, &Tensor); 4] {
    [
        ("decay", &l.decay),
        ("bias", &l.bias),
        ("threshold", &l.threshold),
        ("v_reset", &l.v_reset),
    ]
}

/// An integer input, or why not.
fn integer_input(x: &TensorType, what: &str) -> Result<(), String> {
    if x.dtype.is_float() {
        return Err(format!(
            "input 0 ({what}) must be an integer tensor, got {}{}",
            x.dtype,
            fmt_shape(&x.shape)
        ));
    }
    Ok(())
}

/// How element `i` (row-major) of a value finds its entry in a `[]` or `[C]` parameter.
#[derive(Clone, Copy, Debug)]
struct Channels {
    /// Entries of the parameter (1 for a scalar).
    count: usize,
    /// Elements per step of the channel axis (product of the dimensions after it).
    inner: usize,
}

impl Channels {
    /// The channel layout of a parameter of shape `param` along `axis` of `shape`.
    fn new(param: &[usize], shape: &[usize], axis: usize, what: &str) -> Result<Self, String> {
        match param {
            [] => Ok(Channels { count: 1, inner: 1 }),
            [c] => match shape.get(axis) {
                Some(d) if d == c => Ok(Channels {
                    count: *c,
                    inner: shape.get(axis + 1..).map_or(1, crate::numel),
                }),
                _ => Err(format!(
                    "per-channel `{what}` has shape [{c}] but input dimension {axis} of {} is {}",
                    fmt_shape(shape),
                    shape
                        .get(axis)
                        .map_or("missing".to_string(), |d| d.to_string())
                )),
            },
            _ => Err(format!(
                "attribute `{what}` has shape {}, expected [] or [C]",
                fmt_shape(param)
            )),
        }
    }

    fn of(self, i: usize) -> usize {
        (i / self.inner.max(1)) % self.count.max(1)
    }
}

/// Same shape as `x`, dtype `out`; `x` must be an integer tensor and per-channel parameters must
/// match `x.shape[axis]`.
pub fn infer_requant(r: &Requant, x: &TensorType) -> Result<TensorType, String> {
    check_requant(r)?;
    integer_input(x, "x")?;
    Channels::new(r.multiplier.shape(), &x.shape, r.axis, "multiplier")?;
    Ok(TensorType::new(r.out, x.shape.clone()))
}

/// Same shape as `x`, dtype [`DType::Bin`]; `x` must be an integer tensor.
pub fn infer_bin_threshold(b: &BinThreshold, x: &TensorType) -> Result<TensorType, String> {
    check_bin_threshold(b)?;
    integer_input(x, "x")?;
    Channels::new(b.threshold.shape(), &x.shape, b.axis, "threshold")?;
    Ok(TensorType::new(DType::Bin, x.shape.clone()))
}

/// Same shape as the current, dtype [`DType::Bool`] (spikes); the current must be an integer
/// tensor and every parameter must broadcast to its shape.
pub fn infer_int_lif(l: &IntLif, x: &TensorType) -> Result<TensorType, String> {
    check_int_lif(l)?;
    integer_input(x, "current")?;
    for (name, t) in int_lif_params(l) {
        if !broadcasts_to(t.shape(), &x.shape) {
            return Err(format!(
                "parameter `{name}` has shape {}, which does not broadcast to the input shape {}",
                fmt_shape(t.shape()),
                fmt_shape(&x.shape)
            ));
        }
    }
    Ok(TensorType::new(DType::Bool, x.shape.clone()))
}

/// `((x·m + 2^(s−1)) >> s)` exactly (no rounding term when `s = 0`), or `None` when the result
/// does not fit i64.
pub fn requant_scale(x: i64, m: i64, s: u32) -> Option<i64> {
    let prod = i128::from(x) * i128::from(m);
    let rounded = if s == 0 {
        prod
    } else {
        (prod + (1i128 << (s - 1))) >> s
    };
    i64::try_from(rounded).ok()
}

/// Reference Requant: `clamp(((x·m + 2^(s−1)) >> s) + zero_point, lo, hi)` per element with the
/// element's channel's `m` and `s`, exactly (i128 intermediates).
pub fn eval_requant(r: &Requant, x: &Tensor) -> Result<Tensor, IrError> {
    infer_requant(r, &type_of(x)).map_err(IrError::Tensor)?;
    let xs = i64_data(x)?;
    let m = i64_attr("multiplier", &r.multiplier).map_err(IrError::Tensor)?;
    let s = i64_attr("shift", &r.shift).map_err(IrError::Tensor)?;
    let ch = Channels::new(r.multiplier.shape(), x.shape(), r.axis, "multiplier")
        .map_err(IrError::Tensor)?;
    let mut out = Vec::with_capacity(xs.len());
    for (i, &v) in xs.iter().enumerate() {
        let c = ch.of(i);
        let (Some(&mc), Some(&sc)) = (m.get(c), s.get(c)) else {
            return Err(IrError::Tensor(format!(
                "requant: channel {c} has no parameters"
            )));
        };
        let shift = u32::try_from(sc)
            .map_err(|_| IrError::Tensor(format!("requant: shift {sc} is negative")))?;
        let scaled = requant_scale(v, mc, shift).ok_or_else(|| {
            IrError::Tensor(format!(
                "requant: ({v}·{mc} + 2^({sc}−1)) >> {sc} at index {i} does not fit i64"
            ))
        })?;
        let y = (i128::from(scaled) + i128::from(r.zero_point))
            .clamp(i128::from(r.lo), i128::from(r.hi));
        // In [lo, hi], so it fits i64.
        out.push(y as i64);
    }
    Tensor::from_i64(r.out, x.shape().to_vec(), out)
}

/// Reference BinThreshold: `+1` where `x ≥ threshold` (`x ≤ threshold` where `flip` is 1), else
/// `−1`, per channel along `axis`.
pub fn eval_bin_threshold(b: &BinThreshold, x: &Tensor) -> Result<Tensor, IrError> {
    infer_bin_threshold(b, &type_of(x)).map_err(IrError::Tensor)?;
    let xs = i64_data(x)?;
    let thr = i64_attr("threshold", &b.threshold).map_err(IrError::Tensor)?;
    let flip = i64_attr("flip", &b.flip).map_err(IrError::Tensor)?;
    let ch = Channels::new(b.threshold.shape(), x.shape(), b.axis, "threshold")
        .map_err(IrError::Tensor)?;
    let mut out = Vec::with_capacity(xs.len());
    for (i, &v) in xs.iter().enumerate() {
        let c = ch.of(i);
        let (Some(&t), Some(&f)) = (thr.get(c), flip.get(c)) else {
            return Err(IrError::Tensor(format!(
                "bin_threshold: channel {c} has no parameters"
            )));
        };
        let on = if f == 1 { v <= t } else { v >= t };
        out.push(if on { 1 } else { -1 });
    }
    Tensor::from_i64(DType::Bin, x.shape().to_vec(), out)
}

/// The membrane of one running IntLif node plus its parameters broadcast to the node's shape.
/// Zero at t = 0 and again after [`IntLifState::reset`].
#[derive(Clone, PartialEq, Debug)]
pub struct IntLifState {
    shape: Vec<usize>,
    decay: Vec<i64>,
    bias: Vec<i64>,
    threshold: Vec<i64>,
    v_reset: Vec<i64>,
    frac_bits: u32,
    reset: ResetMode,
    /// The membrane register's signed range.
    lo: i64,
    hi: i64,
    v: Vec<i64>,
}

impl IntLifState {
    /// The t = 0 state of `l` for currents of `shape`. Fails on invalid attributes or a
    /// parameter that does not broadcast to `shape`.
    pub fn new(l: &IntLif, shape: &[usize]) -> Result<Self, IrError> {
        check_int_lif(l).map_err(IrError::Tensor)?;
        let p = |name: &str, t: &Tensor| -> Result<Vec<i64>, IrError> {
            let v = i64_attr(name, t).map_err(IrError::Tensor)?;
            expand(v, t.shape(), shape).ok_or_else(|| {
                IrError::Tensor(format!(
                    "int_lif: parameter `{name}` of shape {} does not broadcast to {}",
                    fmt_shape(t.shape()),
                    fmt_shape(shape)
                ))
            })
        };
        let (lo, hi) = signed_range(l.state_bits);
        Ok(IntLifState {
            shape: shape.to_vec(),
            decay: p("decay", &l.decay)?,
            bias: p("bias", &l.bias)?,
            threshold: p("threshold", &l.threshold)?,
            v_reset: p("v_reset", &l.v_reset)?,
            frac_bits: u32::from(l.frac_bits),
            reset: l.reset,
            lo,
            hi,
            v: vec![0; crate::numel(shape)],
        })
    }

    /// One step with integer current `input` (the node's shape): returns the spikes as a
    /// [`DType::Bool`] tensor.
    pub fn step(&mut self, input: &Tensor) -> Result<Tensor, IrError> {
        if input.shape() != self.shape.as_slice() {
            return Err(IrError::Tensor(format!(
                "int_lif: state of shape {} stepped with an input of shape {}",
                fmt_shape(&self.shape),
                fmt_shape(input.shape())
            )));
        }
        let current = i64_data(input)?;
        let (lo, hi) = (i128::from(self.lo), i128::from(self.hi));
        let f = self.frac_bits;
        let mut spikes = Vec::with_capacity(current.len());
        let params = self
            .decay
            .iter()
            .zip(&self.bias)
            .zip(&self.threshold)
            .zip(&self.v_reset);
        for ((v, &i_in), (((&decay, &bias), &thr), &v_reset)) in
            self.v.iter_mut().zip(current).zip(params)
        {
            let mut leak = i128::from(*v) * i128::from(decay);
            if f > 0 {
                leak = (leak + (1i128 << (f - 1))) >> f;
            }
            // Saturated to the register, so the casts below are exact.
            let mut u = (leak + i128::from(i_in) + i128::from(bias)).clamp(lo, hi);
            let fire = u > i128::from(thr);
            if fire {
                u = match self.reset {
                    ResetMode::ToValue => i128::from(v_reset),
                    ResetMode::Subtract => (u - i128::from(thr)).clamp(lo, hi),
                };
            }
            *v = u as i64;
            spikes.push(i64::from(fire));
        }
        Tensor::from_i64(DType::Bool, self.shape.clone(), spikes)
    }

    /// Back to t = 0: every membrane 0.
    pub fn reset(&mut self) {
        self.v.fill(0);
    }

    /// The membranes after the last step (after any reset).
    pub fn membrane(&self) -> &[i64] {
        &self.v
    }

    /// The node's value shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}
