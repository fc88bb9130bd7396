//! Op attributes in the text form: `{key = value, ...}`.
//!
//! Printing and parsing of every op's attributes sit side by side here, one arm per op, so the
//! two cannot drift apart unnoticed (the round-trip tests cover every variant). Every attribute
//! is always printed and always required when parsing: a text never depends on defaults that
//! could change.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::literal::{parse_f32, parse_f64, write_f32, write_f64};
use super::print::write_tensor;
use super::PrintOptions;
use crate::op::{
    BatchNorm, BinThreshold, Clip, Conv, CubaLif, Delay, DequantizeLinear, Flatten, Gemm, IfNeuron,
    IntLif, Integrator, Li, Lif, Pool, PoolKind, Quant, QuantizeLinear, Requant, ResetMode,
    Reshape, RoundingMode, Threshold, Trunc,
};
use crate::{DType, IrError, Op, QuantParams, Tensor};

/// A line and column in the source.
pub(crate) type Pos = (usize, usize);

fn error_at(pos: Pos, reason: impl Into<String>) -> IrError {
    IrError::Parse {
        line: pos.0,
        col: pos.1,
        reason: reason.into(),
    }
}

/// An attribute value as written, before the op says what type it must have. Scalars keep their
/// spelling so that an f64 bound is parsed as f64, never through f32.
pub(crate) enum Value {
    /// A number or a word (`1.5`, `true`, `none`, `half_even`, `i8`).
    Atom(String),
    /// `[a, b, ...]` of atoms, each with its position.
    List(Vec<(String, Pos)>),
    /// `f32[2] [1.0, 2.0]`.
    Tensor(Tensor),
}

/// The attributes of one op (or of a type's `quant {...}`), consumed by typed getters.
pub(crate) struct Attrs {
    what: String,
    pos: Pos,
    map: BTreeMap<String, (Value, Pos)>,
}

impl Attrs {
    /// Attributes of `what` (an op mnemonic), reported at `pos` when one is missing.
    pub fn new(what: &str, pos: Pos) -> Self {
        Attrs {
            what: what.to_string(),
            pos,
            map: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, key: &str, pos: Pos, v: Value) -> Result<(), IrError> {
        if self.map.contains_key(key) {
            return Err(error_at(pos, format!("attribute `{key}` is given twice")));
        }
        self.map.insert(key.to_string(), (v, pos));
        Ok(())
    }

    /// Fails on the first attribute no getter asked for.
    pub fn finish(self) -> Result<(), IrError> {
        match self.map.into_iter().next() {
            Some((key, (_, pos))) => Err(error_at(
                pos,
                format!("{} has no attribute `{key}`", self.what),
            )),
            None => Ok(()),
        }
    }

    fn take(&mut self, key: &str) -> Result<(Value, Pos), IrError> {
        self.map
            .remove(key)
            .ok_or_else(|| error_at(self.pos, format!("{} needs attribute `{key}`", self.what)))
    }

    fn atom(&mut self, key: &str, kind: &str) -> Result<(String, Pos), IrError> {
        match self.take(key)? {
            (Value::Atom(s), pos) => Ok((s, pos)),
            (_, pos) => Err(error_at(pos, format!("attribute `{key}` must be {kind}"))),
        }
    }

    fn list(&mut self, key: &str, kind: &str) -> Result<Vec<(String, Pos)>, IrError> {
        match self.take(key)? {
            (Value::List(v), _) => Ok(v),
            (_, pos) => Err(error_at(
                pos,
                format!("attribute `{key}` must be a list of {kind}"),
            )),
        }
    }

    pub fn f32(&mut self, key: &str) -> Result<f32, IrError> {
        let (s, pos) = self.atom(key, "a float")?;
        parse_f32(&s).ok_or_else(|| error_at(pos, format!("`{key}`: `{s}` is not a float")))
    }

    pub fn opt_f64(&mut self, key: &str) -> Result<Option<f64>, IrError> {
        let (s, pos) = self.atom(key, "a float or `none`")?;
        if s == "none" {
            return Ok(None);
        }
        parse_f64(&s)
            .map(Some)
            .ok_or_else(|| error_at(pos, format!("`{key}`: `{s}` is not a float")))
    }

    pub fn bool(&mut self, key: &str) -> Result<bool, IrError> {
        let (s, pos) = self.atom(key, "`true` or `false`")?;
        match s.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(error_at(
                pos,
                format!("`{key}`: expected `true` or `false`, found `{s}`"),
            )),
        }
    }

    pub fn usize(&mut self, key: &str) -> Result<usize, IrError> {
        let (s, pos) = self.atom(key, "a non-negative integer")?;
        parse_usize(&s, pos)
    }

    pub fn i64(&mut self, key: &str) -> Result<i64, IrError> {
        let (s, pos) = self.atom(key, "an integer")?;
        s.parse::<i64>()
            .map_err(|_| error_at(pos, format!("`{key}`: `{s}` is not an integer")))
    }

    pub fn u8(&mut self, key: &str) -> Result<u8, IrError> {
        let (s, pos) = self.atom(key, "an integer in 0..=255")?;
        s.parse::<u8>()
            .map_err(|_| error_at(pos, format!("`{key}`: `{s}` is not an integer in 0..=255")))
    }

    pub fn opt_usize(&mut self, key: &str) -> Result<Option<usize>, IrError> {
        let (s, pos) = self.atom(key, "a non-negative integer or `none`")?;
        if s == "none" {
            return Ok(None);
        }
        parse_usize(&s, pos).map(Some)
    }

    pub fn usizes(&mut self, key: &str) -> Result<Vec<usize>, IrError> {
        self.list(key, "non-negative integers")?
            .into_iter()
            .map(|(s, pos)| parse_usize(&s, pos))
            .collect()
    }

    pub fn f32s(&mut self, key: &str) -> Result<Vec<f32>, IrError> {
        self.list(key, "floats")?
            .into_iter()
            .map(|(s, pos)| {
                parse_f32(&s).ok_or_else(|| error_at(pos, format!("`{s}` is not a float")))
            })
            .collect()
    }

    pub fn i64s(&mut self, key: &str) -> Result<Vec<i64>, IrError> {
        self.list(key, "integers")?
            .into_iter()
            .map(|(s, pos)| {
                s.parse::<i64>()
                    .map_err(|_| error_at(pos, format!("`{s}` is not an integer")))
            })
            .collect()
    }

    pub fn tensor(&mut self, key: &str) -> Result<Tensor, IrError> {
        match self.take(key)? {
            (Value::Tensor(t), _) => Ok(t),
            (_, pos) => Err(error_at(
                pos,
                format!("attribute `{key}` must be a tensor such as `f32[] [1.0]`"),
            )),
        }
    }

    pub fn dtype(&mut self, key: &str) -> Result<DType, IrError> {
        let (s, pos) = self.atom(key, "an element type")?;
        s.parse::<DType>().map_err(|e| error_at(pos, e))
    }

    /// A word naming one of `all`, spelled as `name` spells it.
    fn choice<T: Copy>(
        &mut self,
        key: &str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Result<T, IrError> {
        let (s, pos) = self.atom(key, "a word")?;
        all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            error_at(
                pos,
                format!("`{key}`: `{s}` is not one of {}", names.join(", ")),
            )
        })
    }
}

fn parse_usize(s: &str, pos: Pos) -> Result<usize, IrError> {
    s.parse::<usize>()
        .map_err(|_| error_at(pos, format!("`{s}` is not a non-negative integer")))
}

/// Writes ` {key = value, ...}` (nothing at all when no attribute is written).
pub(crate) struct AttrWriter<'o> {
    out: &'o mut String,
    opts: &'o PrintOptions,
    open: &'static str,
    any: bool,
}

impl<'o> AttrWriter<'o> {
    /// `open` is what precedes the first attribute, e.g. `" {"` or `" quant {"`.
    pub fn new(out: &'o mut String, opts: &'o PrintOptions, open: &'static str) -> Self {
        AttrWriter {
            out,
            opts,
            open,
            any: false,
        }
    }

    fn key(&mut self, key: &str) {
        if self.any {
            self.out.push_str(", ");
        } else {
            self.out.push_str(self.open);
            self.any = true;
        }
        self.out.push_str(key);
        self.out.push_str(" = ");
    }

    pub fn finish(self) {
        if self.any {
            self.out.push('}');
        }
    }

    pub fn f32(&mut self, key: &str, v: f32) {
        self.key(key);
        write_f32(self.out, v);
    }

    pub fn opt_f64(&mut self, key: &str, v: Option<f64>) {
        self.key(key);
        match v {
            Some(v) => write_f64(self.out, v),
            None => self.out.push_str("none"),
        }
    }

    pub fn bool(&mut self, key: &str, v: bool) {
        self.word(key, if v { "true" } else { "false" });
    }

    pub fn word(&mut self, key: &str, w: &str) {
        self.key(key);
        self.out.push_str(w);
    }

    pub fn usize(&mut self, key: &str, v: usize) {
        self.key(key);
        let _ = write!(self.out, "{v}");
    }

    pub fn i64(&mut self, key: &str, v: i64) {
        self.key(key);
        let _ = write!(self.out, "{v}");
    }

    pub fn opt_usize(&mut self, key: &str, v: Option<usize>) {
        match v {
            Some(v) => self.usize(key, v),
            None => self.word(key, "none"),
        }
    }

    fn list<T>(&mut self, key: &str, items: &[T], mut each: impl FnMut(&mut String, &T)) {
        self.key(key);
        self.out.push('[');
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            each(self.out, x);
        }
        self.out.push(']');
    }

    pub fn usizes(&mut self, key: &str, v: &[usize]) {
        self.list(key, v, |o, x| {
            let _ = write!(o, "{x}");
        });
    }

    pub fn f32s(&mut self, key: &str, v: &[f32]) {
        self.list(key, v, |o, x| write_f32(o, *x));
    }

    pub fn i64s(&mut self, key: &str, v: &[i64]) {
        self.list(key, v, |o, x| {
            let _ = write!(o, "{x}");
        });
    }

    pub fn tensor(&mut self, key: &str, t: &Tensor) {
        self.key(key);
        write_tensor(self.out, t, self.opts);
    }
}

pub(crate) const POOL_KINDS: [PoolKind; 3] = [PoolKind::Max, PoolKind::Avg, PoolKind::Sum];

pub(crate) fn pool_kind_name(k: PoolKind) -> &'static str {
    match k {
        PoolKind::Max => "max",
        PoolKind::Avg => "avg",
        PoolKind::Sum => "sum",
    }
}

pub(crate) const ROUNDING_MODES: [RoundingMode; 7] = [
    RoundingMode::HalfEven,
    RoundingMode::HalfUp,
    RoundingMode::HalfDown,
    RoundingMode::Ceil,
    RoundingMode::Floor,
    RoundingMode::TowardZero,
    RoundingMode::AwayFromZero,
];

pub(crate) fn rounding_name(r: RoundingMode) -> &'static str {
    match r {
        RoundingMode::HalfEven => "half_even",
        RoundingMode::HalfUp => "half_up",
        RoundingMode::HalfDown => "half_down",
        RoundingMode::Ceil => "ceil",
        RoundingMode::Floor => "floor",
        RoundingMode::TowardZero => "toward_zero",
        RoundingMode::AwayFromZero => "away_from_zero",
    }
}

pub(crate) const RESET_MODES: [ResetMode; 2] = [ResetMode::ToValue, ResetMode::Subtract];

pub(crate) fn reset_name(r: ResetMode) -> &'static str {
    match r {
        ResetMode::ToValue => "to_value",
        ResetMode::Subtract => "subtract",
    }
}

/// Write the attributes of `op` (graph input/output indices and constant data are not
/// attributes; the printer writes them in their own places).
pub(crate) fn write_op(w: &mut AttrWriter<'_>, op: &Op) {
    match op {
        Op::Input { .. }
        | Op::Output { .. }
        | Op::Const(_)
        | Op::MatMul
        | Op::Add
        | Op::Mul
        | Op::Relu
        | Op::Sign
        | Op::BipolarQuant => {}
        Op::Gemm(g) => {
            w.f32("alpha", g.alpha);
            w.f32("beta", g.beta);
            w.bool("trans_a", g.trans_a);
            w.bool("trans_b", g.trans_b);
        }
        Op::Conv(c) => {
            w.usizes("stride", &c.stride);
            w.usizes("pads", &c.pads);
            w.usizes("dilation", &c.dilation);
            w.usize("groups", c.groups);
        }
        Op::Pool(p) => {
            w.word("kind", pool_kind_name(p.kind));
            w.usizes("kernel", &p.kernel);
            w.usizes("stride", &p.stride);
            w.usizes("pads", &p.pads);
            w.usizes("dilation", &p.dilation);
            w.bool("ceil_mode", p.ceil_mode);
            w.bool("count_include_pad", p.count_include_pad);
        }
        Op::Flatten(f) => {
            w.usize("start_dim", f.start_dim);
            w.usize("end_dim", f.end_dim);
        }
        Op::Reshape(r) => w.usizes("shape", &r.shape),
        Op::Clip(c) => {
            w.opt_f64("min", c.min);
            w.opt_f64("max", c.max);
        }
        Op::BatchNorm(b) => w.f32("epsilon", b.epsilon),
        Op::Threshold(t) => w.tensor("threshold", &t.threshold),
        Op::Quant(q) => write_rounding(w, q.signed, q.narrow, q.rounding),
        Op::Trunc(t) => write_rounding(w, t.signed, t.narrow, t.rounding),
        Op::QuantizeLinear(q) => {
            w.usize("axis", q.axis);
            w.word("out", q.out.name());
        }
        Op::DequantizeLinear(d) => w.usize("axis", d.axis),
        Op::Lif(l) => {
            w.tensor("tau", &l.tau);
            w.tensor("r", &l.r);
            w.tensor("v_leak", &l.v_leak);
            w.tensor("v_threshold", &l.v_threshold);
            w.tensor("v_reset", &l.v_reset);
            w.word("reset", reset_name(l.reset));
        }
        Op::CubaLif(c) => {
            w.tensor("tau_syn", &c.tau_syn);
            w.tensor("tau_mem", &c.tau_mem);
            w.tensor("r", &c.r);
            w.tensor("v_leak", &c.v_leak);
            w.tensor("v_threshold", &c.v_threshold);
            w.tensor("v_reset", &c.v_reset);
            w.tensor("w_in", &c.w_in);
            w.word("reset", reset_name(c.reset));
        }
        Op::If(n) => {
            w.tensor("r", &n.r);
            w.tensor("v_threshold", &n.v_threshold);
            w.tensor("v_reset", &n.v_reset);
            w.word("reset", reset_name(n.reset));
        }
        Op::Li(l) => {
            w.tensor("tau", &l.tau);
            w.tensor("r", &l.r);
            w.tensor("v_leak", &l.v_leak);
        }
        Op::Integrator(i) => w.tensor("r", &i.r),
        Op::Delay(d) => w.tensor("delay", &d.delay),
        Op::Requant(r) => {
            w.tensor("multiplier", &r.multiplier);
            w.tensor("shift", &r.shift);
            w.i64("zero_point", r.zero_point);
            w.usize("axis", r.axis);
            w.word("out", r.out.name());
            w.i64("lo", r.lo);
            w.i64("hi", r.hi);
        }
        Op::BinThreshold(b) => {
            w.tensor("threshold", &b.threshold);
            w.tensor("flip", &b.flip);
            w.usize("axis", b.axis);
        }
        Op::IntLif(l) => {
            w.tensor("decay", &l.decay);
            w.usize("frac_bits", usize::from(l.frac_bits));
            w.tensor("bias", &l.bias);
            w.tensor("threshold", &l.threshold);
            w.tensor("v_reset", &l.v_reset);
            w.word("reset", reset_name(l.reset));
            w.usize("state_bits", usize::from(l.state_bits));
        }
    }
}

fn write_rounding(w: &mut AttrWriter<'_>, signed: bool, narrow: bool, rounding: RoundingMode) {
    w.bool("signed", signed);
    w.bool("narrow", narrow);
    w.word("rounding", rounding_name(rounding));
}

/// Build the op named `name` from its attributes; `None` for a name that is not an attribute-only
/// op (unknown, or `input`/`output`/`const`, which the parser builds itself).
pub(crate) fn build_op(name: &str, a: &mut Attrs) -> Result<Option<Op>, IrError> {
    Ok(Some(match name {
        "gemm" => Op::Gemm(Gemm {
            alpha: a.f32("alpha")?,
            beta: a.f32("beta")?,
            trans_a: a.bool("trans_a")?,
            trans_b: a.bool("trans_b")?,
        }),
        "matmul" => Op::MatMul,
        "conv" => Op::Conv(Conv {
            stride: a.usizes("stride")?,
            pads: a.usizes("pads")?,
            dilation: a.usizes("dilation")?,
            groups: a.usize("groups")?,
        }),
        "pool" => Op::Pool(Pool {
            kind: a.choice("kind", &POOL_KINDS, pool_kind_name)?,
            kernel: a.usizes("kernel")?,
            stride: a.usizes("stride")?,
            pads: a.usizes("pads")?,
            dilation: a.usizes("dilation")?,
            ceil_mode: a.bool("ceil_mode")?,
            count_include_pad: a.bool("count_include_pad")?,
        }),
        "flatten" => Op::Flatten(Flatten {
            start_dim: a.usize("start_dim")?,
            end_dim: a.usize("end_dim")?,
        }),
        "reshape" => Op::Reshape(Reshape {
            shape: a.usizes("shape")?,
        }),
        "add" => Op::Add,
        "mul" => Op::Mul,
        "relu" => Op::Relu,
        "clip" => Op::Clip(Clip {
            min: a.opt_f64("min")?,
            max: a.opt_f64("max")?,
        }),
        "batchnorm" => Op::BatchNorm(BatchNorm {
            epsilon: a.f32("epsilon")?,
        }),
        "sign" => Op::Sign,
        "threshold" => Op::Threshold(Threshold {
            threshold: a.tensor("threshold")?,
        }),
        "quant" => Op::Quant(Quant {
            signed: a.bool("signed")?,
            narrow: a.bool("narrow")?,
            rounding: a.choice("rounding", &ROUNDING_MODES, rounding_name)?,
        }),
        "bipolar_quant" => Op::BipolarQuant,
        "trunc" => Op::Trunc(Trunc {
            signed: a.bool("signed")?,
            narrow: a.bool("narrow")?,
            rounding: a.choice("rounding", &ROUNDING_MODES, rounding_name)?,
        }),
        "quantize_linear" => Op::QuantizeLinear(QuantizeLinear {
            axis: a.usize("axis")?,
            out: a.dtype("out")?,
        }),
        "dequantize_linear" => Op::DequantizeLinear(DequantizeLinear {
            axis: a.usize("axis")?,
        }),
        "lif" => Op::Lif(Lif {
            tau: a.tensor("tau")?,
            r: a.tensor("r")?,
            v_leak: a.tensor("v_leak")?,
            v_threshold: a.tensor("v_threshold")?,
            v_reset: a.tensor("v_reset")?,
            reset: a.choice("reset", &RESET_MODES, reset_name)?,
        }),
        "cuba_lif" => Op::CubaLif(CubaLif {
            tau_syn: a.tensor("tau_syn")?,
            tau_mem: a.tensor("tau_mem")?,
            r: a.tensor("r")?,
            v_leak: a.tensor("v_leak")?,
            v_threshold: a.tensor("v_threshold")?,
            v_reset: a.tensor("v_reset")?,
            w_in: a.tensor("w_in")?,
            reset: a.choice("reset", &RESET_MODES, reset_name)?,
        }),
        "if" => Op::If(IfNeuron {
            r: a.tensor("r")?,
            v_threshold: a.tensor("v_threshold")?,
            v_reset: a.tensor("v_reset")?,
            reset: a.choice("reset", &RESET_MODES, reset_name)?,
        }),
        "li" => Op::Li(Li {
            tau: a.tensor("tau")?,
            r: a.tensor("r")?,
            v_leak: a.tensor("v_leak")?,
        }),
        "integrator" => Op::Integrator(Integrator { r: a.tensor("r")? }),
        "delay" => Op::Delay(Delay {
            delay: a.tensor("delay")?,
        }),
        "requant" => Op::Requant(Requant {
            multiplier: a.tensor("multiplier")?,
            shift: a.tensor("shift")?,
            zero_point: a.i64("zero_point")?,
            axis: a.usize("axis")?,
            out: a.dtype("out")?,
            lo: a.i64("lo")?,
            hi: a.i64("hi")?,
        }),
        "bin_threshold" => Op::BinThreshold(BinThreshold {
            threshold: a.tensor("threshold")?,
            flip: a.tensor("flip")?,
            axis: a.usize("axis")?,
        }),
        "int_lif" => Op::IntLif(IntLif {
            decay: a.tensor("decay")?,
            frac_bits: a.u8("frac_bits")?,
            bias: a.tensor("bias")?,
            threshold: a.tensor("threshold")?,
            v_reset: a.tensor("v_reset")?,
            reset: a.choice("reset", &RESET_MODES, reset_name)?,
            state_bits: a.u8("state_bits")?,
        }),
        _ => return Ok(None),
    }))
}

/// Write the quantization of a type as ` quant {...}`.
pub(crate) fn write_quant(w: &mut AttrWriter<'_>, q: &QuantParams) {
    w.f32s("scale", &q.scale);
    w.i64s("zero_point", &q.zero_point);
    w.opt_usize("axis", q.axis);
    w.usize("bits", usize::from(q.bits));
    w.bool("signed", q.signed);
    w.bool("narrow", q.narrow);
}

/// Read the quantization of a type from `quant {...}`.
pub(crate) fn build_quant(a: &mut Attrs) -> Result<QuantParams, IrError> {
    let scale = a.f32s("scale")?;
    let zero_point = a.i64s("zero_point")?;
    let axis = a.opt_usize("axis")?;
    let pos = a.pos;
    let bits = u8::try_from(a.usize("bits")?)
        .map_err(|_| error_at(pos, "quantization `bits` must be at most 255"))?;
    Ok(QuantParams {
        scale,
        zero_point,
        axis,
        bits,
        signed: a.bool("signed")?,
        narrow: a.bool("narrow")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_tables_cover_every_spelling_once() {
        let mut names: Vec<&str> = ROUNDING_MODES.iter().map(|r| rounding_name(*r)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 7);
        assert_eq!(POOL_KINDS.map(pool_kind_name), ["max", "avg", "sum"]);
        assert_eq!(RESET_MODES.map(reset_name), ["to_value", "subtract"]);
    }

    #[test]
    fn missing_unknown_and_mistyped_attributes() {
        let mut a = Attrs::new("gemm", (3, 7));
        a.insert("alpha", (3, 12), Value::Atom("true".into()))
            .unwrap();
        a.insert("bogus", (3, 20), Value::Atom("1".into())).unwrap();
        assert!(a.insert("bogus", (3, 30), Value::Atom("1".into())).is_err());
        assert_eq!(
            a.f32("alpha").unwrap_err(),
            error_at((3, 12), "`alpha`: `true` is not a float")
        );
        assert_eq!(
            a.f32("beta").unwrap_err(),
            error_at((3, 7), "gemm needs attribute `beta`")
        );
        assert_eq!(
            a.finish().unwrap_err(),
            error_at((3, 20), "gemm has no attribute `bogus`")
        );
    }
}
