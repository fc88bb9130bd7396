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

#[cfg(test)]
mod tests {
    use super::*;

    fn i64t(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(DType::I64, shape.to_vec(), v.to_vec()).unwrap()
    }
    fn s(v: i64) -> Tensor {
        i64t(&[], &[v])
    }
    fn i32t(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(DType::I32, shape.to_vec(), v.to_vec()).unwrap()
    }
    fn requant(m: Tensor, sh: Tensor, zp: i64, axis: usize, lo: i64, hi: i64) -> Requant {
        Requant {
            multiplier: m,
            shift: sh,
            zero_point: zp,
            axis,
            out: DType::I8,
            lo,
            hi,
        }
    }
    fn values(t: &Tensor) -> Vec<i64> {
        t.as_i64().unwrap().to_vec()
    }

    #[test]
    fn requant_rounds_half_up_on_both_signs() {
        // m = 1, s = 1: x/2 with halves toward +inf: 0.5→1, -0.5→0, 1.5→2, -1.5→-1, 1, -1.
        let r = requant(s(1), s(1), 0, 0, -128, 127);
        let x = i32t(&[6], &[1, -1, 3, -3, 2, -2]);
        let y = eval_requant(&r, &x).unwrap();
        assert_eq!(y.dtype(), DType::I8);
        assert_eq!(values(&y), vec![1, 0, 2, -1, 1, -1]);
        // m = 3, s = 2: 1.5→2, -1.5→-1, -2.25→-2, 2.25→2, -0.75→-1, 0.75→1.
        let r = requant(s(3), s(2), 0, 0, -128, 127);
        let x = i32t(&[6], &[2, -2, -3, 3, -1, 1]);
        assert_eq!(
            values(&eval_requant(&r, &x).unwrap()),
            vec![2, -1, -2, 2, -1, 1]
        );
        // s = 0: no rounding term at all, exactly x·m.
        let r = requant(s(5), s(0), 0, 0, -128, 127);
        assert_eq!(
            values(&eval_requant(&r, &i32t(&[2], &[7, -7])).unwrap()),
            vec![35, -35]
        );
    }

    #[test]
    fn requant_per_channel_with_zero_point() {
        // x [1,2,2], channels along axis 1: ch0 m=1 s=0, ch1 m=3 s=1 (×1.5); zp = 5.
        // ch0: 10+5, -10+5; ch1: (21+1)>>1 = 11 → 16, (-21+1)>>1 = -10 → -5.
        let r = requant(i64t(&[2], &[1, 3]), i64t(&[2], &[0, 1]), 5, 1, -128, 127);
        let x = i32t(&[1, 2, 2], &[10, -10, 7, -7]);
        let y = eval_requant(&r, &x).unwrap();
        assert_eq!(y.shape(), &[1, 2, 2]);
        assert_eq!(values(&y), vec![15, -5, 16, -5]);
        // The channel count must match the axis.
        let wrong_axis = Requant {
            axis: 2,
            ..r.clone()
        };
        assert!(eval_requant(&wrong_axis, &i32t(&[1, 2, 3], &[0; 6])).is_err());
        let err = infer_requant(&r, &TensorType::new(DType::I32, vec![1, 3, 2])).unwrap_err();
        assert!(
            err.contains("per-channel `multiplier` has shape [2]"),
            "{err}"
        );
    }

    #[test]
    fn requant_saturates_and_fuses_relu() {
        let r = requant(s(1), s(0), 0, 0, -128, 127);
        assert_eq!(
            values(&eval_requant(&r, &i32t(&[3], &[200, -300, 127])).unwrap()),
            vec![127, -128, 127]
        );
        // A fused ReLU raises lo to the zero point -3.
        let r = requant(s(1), s(0), -3, 0, -3, 127);
        assert_eq!(
            values(&eval_requant(&r, &i32t(&[2], &[-10, 4])).unwrap()),
            vec![-3, 1]
        );
    }

    #[test]
    fn requant_rejects_float_input_overflow_and_bad_attributes() {
        let r = requant(s(1), s(0), 0, 0, -128, 127);
        let f = Tensor::from_f32(vec![1], vec![1.0]).unwrap();
        assert!(eval_requant(&r, &f).is_err());
        let err = infer_requant(&r, &TensorType::f32(vec![1])).unwrap_err();
        assert!(err.contains("must be an integer tensor"), "{err}");
        // An i64 accumulator times a large multiplier does not fit i64 after the shift.
        let big = requant(s((1 << 31) - 1), s(0), 0, 0, -128, 127);
        let x = Tensor::from_i64(DType::I64, vec![1], vec![i64::MAX]).unwrap();
        let err = eval_requant(&big, &x).unwrap_err().to_string();
        assert!(err.contains("does not fit i64"), "{err}");
        // Exact beyond 64 bits: (−2^40·(2^31−1) + 2^30) >> 31 = ⌊−2^40 + 2^9 + 0.5⌋.
        assert_eq!(
            requant_scale(-(1 << 40), (1 << 31) - 1, 31),
            Some(-(1 << 40) + 512)
        );
        let bad = |r: Requant| check_requant(&r).unwrap_err();
        assert!(bad(requant(s(1 << 31), s(0), 0, 0, -128, 127)).contains("multiplier"));
        assert!(bad(requant(s(-1), s(0), 0, 0, -128, 127)).contains("multiplier"));
        assert!(bad(requant(s(1), s(63), 0, 0, -128, 127)).contains("shift 63"));
        assert!(bad(requant(s(1), s(0), 0, 0, 5, 4)).contains("lo <= hi"));
        assert!(bad(requant(s(1), s(0), 0, 0, -129, 127)).contains("lo <= hi"));
        assert!(bad(requant(s(1), s(0), -5, 0, -3, 127)).contains("zero_point"));
        assert!(bad(requant(i64t(&[2], &[1, 1]), s(0), 0, 0, -1, 1)).contains("same shape"));
        let m32 = Tensor::from_i64(DType::I32, vec![], vec![1]).unwrap();
        assert!(bad(requant(m32, s(0), 0, 0, -1, 1)).contains("i64 tensor"));
        let to_f32 = Requant {
            out: DType::F32,
            ..requant(s(1), s(0), 0, 0, 0, 0)
        };
        assert!(bad(to_f32).contains("attribute `out`"));
        let to_bin = Requant {
            out: DType::Bin,
            ..requant(s(1), s(0), 0, 0, -1, 1)
        };
        assert!(bad(to_bin).contains("attribute `out`"));
    }

    #[test]
    fn bin_threshold_per_channel_with_flip() {
        // x [2,2], channels along axis 1: ch0 x ≥ 0, ch1 (flipped) x ≤ 5.
        let b = BinThreshold {
            threshold: i64t(&[2], &[0, 5]),
            flip: i64t(&[2], &[0, 1]),
            axis: 1,
        };
        let x = i32t(&[2, 2], &[0, 6, -1, 5]);
        let y = eval_bin_threshold(&b, &x).unwrap();
        assert_eq!(y.dtype(), DType::Bin);
        assert_eq!(values(&y), vec![1, -1, -1, 1]);
        let ty = infer_bin_threshold(&b, &TensorType::new(DType::I32, vec![2, 2])).unwrap();
        assert_eq!(ty, TensorType::new(DType::Bin, vec![2, 2]));
        // Scalars apply everywhere, whatever the axis.
        let scalar = BinThreshold {
            threshold: s(-2),
            flip: s(0),
            axis: 7,
        };
        assert_eq!(
            values(&eval_bin_threshold(&scalar, &i32t(&[3], &[-3, -2, 9])).unwrap()),
            vec![-1, 1, 1]
        );
        let bad_flip = BinThreshold {
            flip: i64t(&[2], &[0, 2]),
            ..b.clone()
        };
        assert!(check_bin_threshold(&bad_flip)
            .unwrap_err()
            .contains("flip 2"));
        let f = Tensor::from_f32(vec![2], vec![0.0, 1.0]).unwrap();
        assert!(eval_bin_threshold(&scalar, &f).is_err());
    }

    fn int_lif(decay: Tensor, frac_bits: u8, bias: Tensor, reset: ResetMode) -> IntLif {
        IntLif {
            decay,
            frac_bits,
            bias,
            threshold: s(10),
            v_reset: s(-2),
            reset,
            state_bits: 16,
        }
    }

    fn run(st: &mut IntLifState, input: &[i64], steps: usize) -> Vec<(Vec<i64>, Vec<i64>)> {
        let x = i32t(&[input.len()], input);
        (0..steps)
            .map(|_| {
                let y = st.step(&x).unwrap();
                assert_eq!(y.dtype(), DType::Bool);
                (values(&y), st.membrane().to_vec())
            })
            .collect()
    }

    #[test]
    fn int_lif_decays_with_rounding_and_resets_to_value() {
        // F = 2. Neuron 0: decay 3 (0.75), bias 0, I = 4:
        //   v 4; (12+2)>>2 = 3 → 7; (21+2)>>2 = 5 → 9; (27+2)>>2 = 7 → 11 > 10 spike → v_reset −2;
        //   (−6+2)>>2 = −1 → 3. (Without the rounding term step 4 would give 10: no spike.)
        // Neuron 1: decay 2 (0.5), bias 1, I = −6:
        //   −5; (−10+2)>>2 = −2 → −7; (−14+2)>>2 = −3 → −8; (−16+2)>>2 = −4 → −9;
        //   (−18+2)>>2 = −4 → −9.
        let l = int_lif(
            i64t(&[2], &[3, 2]),
            2,
            i64t(&[2], &[0, 1]),
            ResetMode::ToValue,
        );
        let mut st = IntLifState::new(&l, &[2]).unwrap();
        let trace = run(&mut st, &[4, -6], 5);
        let spikes: Vec<Vec<i64>> = trace.iter().map(|t| t.0.clone()).collect();
        let v: Vec<Vec<i64>> = trace.iter().map(|t| t.1.clone()).collect();
        assert_eq!(
            spikes,
            vec![vec![0, 0], vec![0, 0], vec![0, 0], vec![1, 0], vec![0, 0]]
        );
        assert_eq!(
            v,
            vec![
                vec![4, -5],
                vec![7, -7],
                vec![9, -8],
                vec![-2, -9],
                vec![3, -9]
            ]
        );
        st.reset();
        assert_eq!(st.membrane(), &[0, 0]);
        assert_eq!(run(&mut st, &[4, -6], 5), trace);
    }

    #[test]
    fn int_lif_subtract_reset_and_saturation() {
        // F = 0 (no rounding term), decay 1, state_bits 4: v in [−8, 7], threshold 5, subtract.
        // Neuron 0, I = 3: 3; 6 spike → 1; 4; 7 spike → 2; 5 (not > 5); 8 → sat 7 spike → 2.
        // Neuron 1, I = −20: −20 → sat −8, stays −8.
        let l = IntLif {
            decay: s(1),
            frac_bits: 0,
            bias: s(0),
            threshold: s(5),
            v_reset: s(0),
            reset: ResetMode::Subtract,
            state_bits: 4,
        };
        let mut st = IntLifState::new(&l, &[2]).unwrap();
        let trace = run(&mut st, &[3, -20], 6);
        let s0: Vec<i64> = trace.iter().map(|t| t.0[0]).collect();
        let v0: Vec<i64> = trace.iter().map(|t| t.1[0]).collect();
        let v1: Vec<i64> = trace.iter().map(|t| t.1[1]).collect();
        assert_eq!(s0, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(v0, vec![3, 1, 4, 2, 5, 2]);
        assert_eq!(v1, vec![-8; 6]);
        // A large input saturates at +7 before the spike test: 7 > 5, v ← 2.
        let mut st = IntLifState::new(&l, &[1]).unwrap();
        assert_eq!(run(&mut st, &[1000], 1), vec![(vec![1], vec![2])]);
    }

    #[test]
    fn int_lif_checks() {
        let l = int_lif(s(3), 2, s(0), ResetMode::ToValue);
        let ty = infer_int_lif(&l, &TensorType::new(DType::I16, vec![2, 3])).unwrap();
        assert_eq!(ty, TensorType::new(DType::Bool, vec![2, 3]));
        assert!(infer_int_lif(&l, &TensorType::f32(vec![2])).is_err());
        let wide = IntLif {
            decay: i64t(&[4], &[1, 2, 3, 4]),
            ..l.clone()
        };
        let err = infer_int_lif(&wide, &TensorType::new(DType::I32, vec![3])).unwrap_err();
        assert!(err.contains("`decay` has shape [4]"), "{err}");
        assert!(IntLifState::new(&wide, &[3]).is_err());
        let bad = |l: IntLif| check_int_lif(&l).unwrap_err();
        assert!(bad(IntLif {
            frac_bits: 31,
            ..l.clone()
        })
        .contains("frac_bits 31"));
        assert!(bad(IntLif {
            state_bits: 1,
            ..l.clone()
        })
        .contains("state_bits 1"));
        assert!(bad(IntLif {
            state_bits: 33,
            ..l.clone()
        })
        .contains("state_bits 33"));
        assert!(bad(IntLif {
            v_reset: s(200),
            state_bits: 8,
            ..l.clone()
        })
        .contains("v_reset 200"));
        let f = Tensor::scalar_f32(1.0);
        assert!(bad(IntLif {
            bias: f,
            ..l.clone()
        })
        .contains("`bias` must be an i64 tensor"));
        let mut st = IntLifState::new(&l, &[2]).unwrap();
        assert!(st.step(&i32t(&[3], &[1, 2, 3])).is_err());
        assert!(st
            .step(&Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap())
            .is_err());
    }
}
