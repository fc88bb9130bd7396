//! Folding the float epilogue of an integer accumulator (the per-channel scale, bias, BatchNorm,
//! ...) together with the sign after it into one integer threshold per channel, exactly.
//!
//! An accumulator channel takes integer values in a known range `[lo, hi]`. For each channel the
//! decision "the sign is +1" is evaluated at accumulator values by running the epilogue itself,
//! copied into a small probe graph, through the reference interpreter: the same f32 operations
//! in the same order as the model, so the folded threshold reproduces the unfolded graph bit for
//! bit. The decision must be monotone in the accumulator (false…true: `x ≥ t`; true…false: the
//! flipped comparison `x ≤ t`, which a negative BatchNorm scale produces).
//!
//! When a channel's range holds at most [`SCAN_LIMIT`] values, every value is evaluated and
//! monotonicity is checked exhaustively. Wider ranges (8-bit inputs over long reductions) are
//! bisected: the epilogue is a chain of elementwise ops each monotone in its input (multiply or
//! add a constant, BatchNorm, ReLU, clip), so it is monotone; the bisection still checks the
//! ends and 33 evenly spaced values per channel against the threshold it found.

use snnc_ir::{interp, verify, DType, Graph, GraphInfo, NodeId, Op, Tensor, TensorType};

use super::graph_util::const_value;
use crate::passes::PassError;

/// Widest per-channel range evaluated value by value.
pub const SCAN_LIMIT: i64 = 1 << 17;
/// Most probe elements evaluated in one interpreter run.
const PROBE_ELEMENTS: usize = 1 << 20;

/// One integer threshold and comparison per channel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Thresholds {
    pub threshold: Vec<i64>,
    /// 1 where the comparison is flipped (`x ≤ t`).
    pub flip: Vec<i64>,
    /// Channels whose sign does not depend on the accumulator.
    pub constant: usize,
    /// Whether every value of every range was evaluated (else bisection).
    pub exhaustive: bool,
}

impl Thresholds {
    pub(crate) fn flipped(&self) -> usize {
        self.flip.iter().filter(|f| **f == 1).count()
    }
}

/// Why an epilogue does not fold.
#[derive(Debug)]
pub(crate) enum FoldError {
    /// An op of the epilogue is not per channel (a per-position parameter, a non-constant
    /// operand): the float path stays.
    NotPerChannel(String),
    /// The sign is not monotone in the accumulator: no single threshold reproduces it.
    NotMonotone(String),
    Pass(PassError),
}

/// The epilogue between an accumulator and a sign.
pub(crate) struct Epilogue<'a> {
    pub graph: &'a Graph,
    /// The accumulator node (integer).
    pub acc: NodeId,
    /// The nodes from the accumulator's reader to the sign's input, in data-flow order; each
    /// reads the previous one (the first reads `acc`) and constants otherwise.
    pub path: &'a [NodeId],
    /// The channel axis of the accumulator's shape.
    pub axis: usize,
    /// Per channel, the inclusive range of accumulator values.
    pub ranges: &'a [(i64, i64)],
}

/// The thresholds that make `BinThreshold(acc)` equal `sign(epilogue(acc))` on every value of
/// every channel's range.
pub(crate) fn fold(e: &Epilogue<'_>, pass: &str) -> Result<Thresholds, FoldError> {
    let widest = e
        .ranges
        .iter()
        .map(|(lo, hi)| hi - lo + 1)
        .max()
        .unwrap_or(0);
    if widest <= SCAN_LIMIT {
        scan(e, widest, pass)
    } else {
        bisect(e, pass)
    }
}

fn scan(e: &Epilogue<'_>, widest: i64, pass: &str) -> Result<Thresholds, FoldError> {
    let c = e.ranges.len();
    let widest = usize::try_from(widest.max(1)).unwrap_or(1);
    let rows = (PROBE_ELEMENTS / c.max(1)).clamp(1, widest);
    let probe = Probe::new(e, rows, pass)?;
    let mut seqs: Vec<Vec<bool>> = e
        .ranges
        .iter()
        .map(|(lo, hi)| Vec::with_capacity(usize::try_from(hi - lo + 1).unwrap_or(0)))
        .collect();
    let mut start = 0usize;
    while start < widest {
        let d = probe.eval(|r, ch| {
            let (lo, hi) = e.ranges[ch];
            (lo + (start + r) as i64).min(hi)
        })?;
        for (ch, seq) in seqs.iter_mut().enumerate() {
            let (lo, hi) = e.ranges[ch];
            for r in 0..rows {
                if lo + ((start + r) as i64) <= hi {
                    seq.push(d[r * c + ch]);
                }
            }
        }
        start += rows;
    }
    let mut out = Thresholds {
        threshold: Vec::with_capacity(c),
        flip: Vec::with_capacity(c),
        constant: 0,
        exhaustive: true,
    };
    for (ch, seq) in seqs.iter().enumerate() {
        let (lo, _) = e.ranges[ch];
        let (t, f, constant) = from_sequence(lo, seq).map_err(|at| {
            FoldError::NotMonotone(format!(
                "channel {ch}: the sign changes more than once over the accumulator range \
                 (again at accumulator value {at})"
            ))
        })?;
        out.threshold.push(t);
        out.flip.push(f);
        out.constant += usize::from(constant);
    }
    Ok(out)
}

/// `(threshold, flip, constant)` from the decisions at `lo, lo+1, ...`, or the accumulator value
/// where a second change of sign happens.
fn from_sequence(lo: i64, seq: &[bool]) -> Result<(i64, i64, bool), i64> {
    let changes: Vec<usize> = (1..seq.len()).filter(|i| seq[*i] != seq[i - 1]).collect();
    let first = seq.first().copied().unwrap_or(false);
    match (changes.as_slice(), first) {
        ([], true) => Ok((lo, 0, true)),
        ([], false) => Ok((lo + seq.len() as i64, 0, true)),
        ([i], false) => Ok((lo + *i as i64, 0, false)),
        ([i], true) => Ok((lo + *i as i64 - 1, 1, false)),
        ([_, second, ..], _) => Err(lo + *second as i64),
    }
}

fn bisect(e: &Epilogue<'_>, pass: &str) -> Result<Thresholds, FoldError> {
    let c = e.ranges.len();
    let ends = Probe::new(e, 2, pass)?;
    let d = ends.eval(|r, ch| {
        if r == 0 {
            e.ranges[ch].0
        } else {
            e.ranges[ch].1
        }
    })?;
    // Per channel: the bracket (l, h) with decision(l) = at_lo and decision(h) != at_lo.
    let mut bracket: Vec<Option<(i64, i64)>> = Vec::with_capacity(c);
    let mut at_lo = Vec::with_capacity(c);
    for ch in 0..c {
        let (dl, dh) = (d[ch], d[c + ch]);
        at_lo.push(dl);
        bracket.push((dl != dh).then_some(e.ranges[ch]));
    }
    let one = Probe::new(e, 1, pass)?;
    while bracket.iter().flatten().any(|(l, h)| h - l > 1) {
        let mids: Vec<i64> = bracket
            .iter()
            .enumerate()
            .map(|(ch, b)| b.map_or(e.ranges[ch].0, |(l, h)| l + (h - l) / 2))
            .collect();
        let d = one.eval(|_, ch| mids[ch])?;
        for ch in 0..c {
            if let Some((l, h)) = bracket[ch] {
                if h - l > 1 {
                    bracket[ch] = Some(if d[ch] == at_lo[ch] {
                        (mids[ch], h)
                    } else {
                        (l, mids[ch])
                    });
                }
            }
        }
    }
    let mut out = Thresholds {
        threshold: Vec::with_capacity(c),
        flip: Vec::with_capacity(c),
        constant: 0,
        exhaustive: false,
    };
    for ch in 0..c {
        let (lo, hi) = e.ranges[ch];
        let (t, f) = match (bracket[ch], at_lo[ch]) {
            (None, true) => (lo, 0),
            (None, false) => (hi + 1, 0),
            (Some((_, h)), false) => (h, 0),
            (Some((l, _)), true) => (l, 1),
        };
        out.constant += usize::from(bracket[ch].is_none());
        out.threshold.push(t);
        out.flip.push(f);
    }
    spot_check(e, &out, pass)?;
    Ok(out)
}

/// Compare the thresholds with the epilogue at 33 evenly spaced values of each channel's range
/// and next to each threshold.
fn spot_check(e: &Epilogue<'_>, t: &Thresholds, pass: &str) -> Result<(), FoldError> {
    const SPACED: usize = 33;
    let rows = SPACED + 2;
    let probe = Probe::new(e, rows, pass)?;
    let value = |r: usize, ch: usize| {
        let (lo, hi) = e.ranges[ch];
        match r {
            r if r < SPACED => lo + (hi - lo) / (SPACED as i64 - 1) * r as i64,
            r => (t.threshold[ch] - 1 + (r - SPACED) as i64).clamp(lo, hi),
        }
    };
    let d = probe.eval(value)?;
    let c = e.ranges.len();
    for r in 0..rows {
        for ch in 0..c {
            let x = value(r, ch);
            let want = if t.flip[ch] == 1 {
                x <= t.threshold[ch]
            } else {
                x >= t.threshold[ch]
            };
            if d[r * c + ch] != want {
                return Err(FoldError::NotMonotone(format!(
                    "channel {ch}: the sign at accumulator value {x} disagrees with the threshold \
                     {} found by bisection",
                    t.threshold[ch]
                )));
            }
        }
    }
    Ok(())
}

/// The epilogue copied into a graph of its own whose input holds `rows` accumulator values per
/// channel.
struct Probe {
    graph: Graph,
    info: GraphInfo,
    dtype: DType,
    shape: Vec<usize>,
    rows: usize,
    channels: usize,
    /// Element strides of the row axis and the channel axis in `shape`.
    row_stride: usize,
    ch_stride: usize,
}

impl Probe {
    fn new(e: &Epilogue<'_>, rows: usize, pass: &str) -> Result<Self, FoldError> {
        let src = e.graph;
        let acc_ty =
            src.node(e.acc).ty.clone().ok_or_else(|| {
                FoldError::NotPerChannel("the accumulator has no type".to_string())
            })?;
        let channels = e.ranges.len();
        let rank = acc_ty.shape.len();
        // The accumulator's shape with every non-channel dimension 1, then one of them (or a new
        // leading one) holding the rows.
        let mut shape = vec![1usize; rank];
        let (row_axis, ch_axis) = if rank <= 1 {
            shape = vec![rows, channels];
            (0, 1)
        } else {
            shape[e.axis] = channels;
            let r = if e.axis == 0 { 1 } else { 0 };
            shape[r] = rows;
            (r, e.axis)
        };
        let stride = |a: usize| shape[a + 1..].iter().product::<usize>();
        let (row_stride, ch_stride) = (stride(row_axis), stride(ch_axis));
        let mut g = Graph::new("threshold probe");
        let mut cur = g.add_input("acc", TensorType::new(acc_ty.dtype, shape.clone()));
        let mut prev = e.acc;
        let per_channel = |msg: String| FoldError::NotPerChannel(msg);
        for (k, id) in e.path.iter().enumerate() {
            let node = src.node(*id);
            let mut operands = Vec::new();
            for (j, (s, edge)) in src.operands(*id).into_iter().enumerate() {
                if s == prev && !edge.recurrent {
                    operands.push(cur);
                    continue;
                }
                let t = const_value(src, s, pass)
                    .map_err(FoldError::Pass)?
                    .ok_or_else(|| {
                        per_channel(format!(
                            "`{}` reads a value that is not constant (input {j})",
                            node.name
                        ))
                    })?;
                operands.push(g.add_const(format!("c{k}.{j}"), t));
            }
            cur = g
                .add_node(format!("n{k}"), node.op.clone(), &operands)
                .map_err(|err| {
                    per_channel(format!(
                        "`{}` ({}) is not per channel: {err}",
                        node.name,
                        node.op.name()
                    ))
                })?;
            if g.node(cur).ty.as_ref().map(|t| t.shape.as_slice()) != Some(shape.as_slice()) {
                return Err(per_channel(format!(
                    "`{}` ({}) has a parameter per position, not per channel",
                    node.name,
                    node.op.name()
                )));
            }
            prev = *id;
        }
        if g.node(cur).ty.as_ref().is_some_and(|t| t.dtype.is_float()) {
            let one = g.add_const("one", Tensor::scalar_f32(1.0));
            cur = g
                .add_node("sign", Op::BipolarQuant, &[cur, one])
                .map_err(|err| per_channel(err.to_string()))?;
        }
        g.add_output("decision", cur)
            .map_err(|err| per_channel(err.to_string()))?;
        let info = verify(&g).map_err(|err| per_channel(err.to_string()))?;
        Ok(Probe {
            graph: g,
            info,
            dtype: acc_ty.dtype,
            shape,
            rows,
            channels,
            row_stride,
            ch_stride,
        })
    }

    /// Whether the sign is +1 at accumulator value `value(row, channel)`, indexed
    /// `[row · channels + channel]`.
    fn eval(&self, value: impl Fn(usize, usize) -> i64) -> Result<Vec<bool>, FoldError> {
        let n: usize = self.shape.iter().product();
        let mut data = vec![0i64; n];
        for r in 0..self.rows {
            for ch in 0..self.channels {
                data[r * self.row_stride + ch * self.ch_stride] = value(r, ch);
            }
        }
        let bad = |err: snnc_ir::IrError| {
            FoldError::NotPerChannel(format!("the epilogue cannot be evaluated: {err}"))
        };
        let x = Tensor::from_i64(self.dtype, self.shape.clone(), data).map_err(bad)?;
        let out = interp::run(&self.graph, &self.info, &[x]).map_err(bad)?;
        let y = out.first().ok_or_else(|| {
            FoldError::NotPerChannel("the epilogue produced no value".to_string())
        })?;
        let mut d = vec![false; self.rows * self.channels];
        for r in 0..self.rows {
            for ch in 0..self.channels {
                let i = r * self.row_stride + ch * self.ch_stride;
                let v = y.get_f64(i);
                // Integer epilogues end without BipolarQuant: their sign is `x ≥ 0`.
                d[r * self.channels + ch] = if y.dtype().is_int() {
                    v >= 0.0
                } else {
                    v > 0.0
                };
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::BatchNorm;

    /// acc `[1, 3]` (i32) → Mul(scale) → BatchNorm; channel 1 has a negative BatchNorm scale,
    /// channel 2 a zero one (a constant sign).
    fn epilogue_graph() -> (Graph, NodeId, Vec<NodeId>) {
        let mut g = Graph::new("e");
        let acc = g.add_input("acc", TensorType::new(DType::I32, vec![1, 3]));
        let f = |v: &[f32]| Tensor::from_f32(vec![3], v.to_vec()).unwrap();
        let s = g.add_const("s", f(&[0.1, 0.3, 0.2]));
        let mul = g.add_node("mul", Op::Mul, &[acc, s]).unwrap();
        let ps: Vec<NodeId> = [
            ("scale", [1.5f32, -0.7, 0.0]),
            ("bias", [0.25, 0.5, -0.1]),
            ("mean", [0.333, -1.0, 0.0]),
            ("var", [2.0, 0.5, 1.0]),
        ]
        .iter()
        .map(|(n, v)| g.add_const(*n, f(v)))
        .collect();
        let bn = g
            .add_node(
                "bn",
                Op::BatchNorm(BatchNorm { epsilon: 1e-5 }),
                &[mul, ps[0], ps[1], ps[2], ps[3]],
            )
            .unwrap();
        g.add_output("y", bn).unwrap();
        (g, acc, vec![mul, bn])
    }

    /// The sign of the epilogue at `a` in every channel, by running the graph itself.
    fn brute(g: &Graph, a: i64) -> Vec<bool> {
        let info = verify(g).unwrap();
        let x = Tensor::from_i64(DType::I32, vec![1, 3], vec![a; 3]).unwrap();
        let y = interp::run(g, &info, &[x]).unwrap();
        y[0].to_f32_vec().iter().map(|v| *v >= 0.0).collect()
    }

    #[test]
    fn scan_and_bisection_agree_with_the_interpreter() {
        let (g, acc, path) = epilogue_graph();
        let ranges = vec![(-40, 40); 3];
        let e = Epilogue {
            graph: &g,
            acc,
            path: &path,
            axis: 1,
            ranges: &ranges,
        };
        let t = fold(&e, "test").unwrap();
        assert!(t.exhaustive);
        assert_eq!(t.flip, vec![0, 1, 0]);
        assert_eq!(t.constant, 1);
        let b = bisect(&e, "test").unwrap();
        assert_eq!(b.threshold, t.threshold);
        assert_eq!(b.flip, t.flip);
        for a in -40..=40 {
            let want = brute(&g, a);
            for (ch, w) in want.iter().enumerate() {
                let got = if t.flip[ch] == 1 {
                    a <= t.threshold[ch]
                } else {
                    a >= t.threshold[ch]
                };
                assert_eq!(got, *w, "channel {ch} at {a}");
            }
        }
        // Channel 0 (positive BatchNorm scale): the threshold is the first value with sign +1.
        assert_eq!(
            t.threshold[0],
            (-40..=40).find(|a| brute(&g, *a)[0]).unwrap()
        );
    }

    #[test]
    fn wide_ranges_are_bisected() {
        let (g, acc, path) = epilogue_graph();
        let ranges = vec![(-(SCAN_LIMIT * 4), SCAN_LIMIT * 4); 3];
        let e = Epilogue {
            graph: &g,
            acc,
            path: &path,
            axis: 1,
            ranges: &ranges,
        };
        let t = fold(&e, "test").unwrap();
        assert!(!t.exhaustive);
        let narrow = vec![(-40, 40); 3];
        let n = fold(
            &Epilogue {
                ranges: &narrow,
                ..e
            },
            "test",
        )
        .unwrap();
        assert_eq!(t.threshold[..2], n.threshold[..2]);
        assert_eq!(t.flip, n.flip);
    }

    #[test]
    fn sequences_give_thresholds_or_the_second_change() {
        let (f, t) = (false, true);
        assert_eq!(from_sequence(-2, &[f, f, t, t]), Ok((0, 0, false)));
        assert_eq!(from_sequence(-2, &[t, t, t, f]), Ok((0, 1, false)));
        assert_eq!(from_sequence(5, &[t, t]), Ok((5, 0, true)));
        assert_eq!(from_sequence(5, &[f, f]), Ok((7, 0, true)));
        assert_eq!(from_sequence(0, &[f, t, f]), Err(2));
    }

    #[test]
    fn per_position_parameters_do_not_fold() {
        let mut g = Graph::new("e");
        let acc = g.add_input("acc", TensorType::new(DType::I32, vec![1, 2, 2]));
        let c = g.add_const(
            "pos",
            Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        let add = g.add_node("add", Op::Add, &[acc, c]).unwrap();
        g.add_output("y", add).unwrap();
        let ranges = vec![(-3, 3); 2];
        let e = Epilogue {
            graph: &g,
            acc,
            path: &[add],
            axis: 1,
            ranges: &ranges,
        };
        assert!(matches!(fold(&e, "test"), Err(FoldError::NotPerChannel(_))));
    }
}
