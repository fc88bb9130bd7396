//! Activation calibration: run the reference interpreter over the calibration samples
//! (`--calib FILE.npy`, `[N, ...]`) and record the range of every tensor that gets quantized.
//!
//! `minmax` records the smallest and largest value seen. `percentile` (with `pct`, e.g. 99.99)
//! collects every value of the tensor over all samples and takes the `pct`-th and
//! `(100 − pct)`-th percentiles with NumPy's default (linear) interpolation: sorted values
//! `v[0..n]`, position `p/100·(n−1)`, interpolated between its two neighbours in f64. Clipping
//! the rare extremes trades saturation of outliers for a finer scale. NaN values are ignored.

use std::collections::{BTreeMap, BTreeSet};

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, DType, Graph, NodeId, Tensor};

use crate::npy::Array;
use crate::passes::PassError;

/// How a tensor's range is estimated from the samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    MinMax,
    /// The `pct`-th percentile as maximum and the `(100 − pct)`-th as minimum.
    Percentile(f64),
}

/// The observed range of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

fn calib_error(pass: &str, reason: impl Into<String>) -> PassError {
    PassError::Calibration {
        pass: pass.to_string(),
        reason: reason.into(),
    }
}

fn fmt_shape(s: &[usize]) -> String {
    snnc_ir::infer::fmt_shape(s)
}

/// The calibration samples as input tensors of `g`'s single f32 input, or a calibration error
/// naming the expected and actual shapes.
pub fn samples(g: &Graph, calib: Option<&Array>, pass: &str) -> Result<Vec<Tensor>, PassError> {
    let calib = calib.ok_or_else(|| {
        calib_error(
            pass,
            "this pass needs calibration samples: pass --calib FILE.npy (an [N, ...] array of inputs)",
        )
    })?;
    let [input] = g.inputs() else {
        return Err(calib_error(
            pass,
            format!(
                "calibration supports models with one input; this one has {}",
                g.inputs().len()
            ),
        ));
    };
    let ty = g.ty(*input);
    if ty.dtype != DType::F32 {
        return Err(calib_error(
            pass,
            format!("the model input is {}, not a float tensor", ty),
        ));
    }
    let per = ty.numel();
    let expected = format!(
        "[N, {}] (N samples of the input shape {})",
        per,
        fmt_shape(&ty.shape)
    );
    let n = match calib.shape.split_first() {
        Some((n, rest)) if *n > 0 && rest.iter().product::<usize>() == per => *n,
        _ => {
            return Err(calib_error(
                pass,
                format!(
                    "the array has shape {}, expected {expected}",
                    fmt_shape(&calib.shape)
                ),
            ))
        }
    };
    if calib.data.len() != n * per {
        return Err(calib_error(
            pass,
            format!(
                "the array has shape {} but {} values",
                fmt_shape(&calib.shape),
                calib.data.len()
            ),
        ));
    }
    if let Some(i) = calib.data.iter().position(|v| !v.is_finite()) {
        return Err(calib_error(pass, format!("element {i} is not finite")));
    }
    calib
        .data
        .chunks_exact(per)
        .map(|c| Tensor::from_f32(ty.shape.clone(), c.to_vec()).map_err(|e| PassError::ir(pass, e)))
        .collect()
}

/// Run `g` on every sample and return the range of each node in `nodes` (which must produce
/// f32 values).
pub fn calibrate(
    g: &Graph,
    samples: &[Tensor],
    nodes: &BTreeSet<NodeId>,
    method: Method,
    pass: &str,
) -> Result<BTreeMap<NodeId, Range>, PassError> {
    let info = verify(g).map_err(|e| PassError::ir(pass, e))?;
    let mut it = Interpreter::new(g, &info, 1.0).map_err(|e| PassError::ir(pass, e))?;
    let mut minmax: BTreeMap<NodeId, Range> = BTreeMap::new();
    let mut all: BTreeMap<NodeId, Vec<f32>> = BTreeMap::new();
    for x in samples {
        it.reset();
        it.step(std::slice::from_ref(x))
            .map_err(|e| PassError::ir(pass, e))?;
        for id in nodes {
            let v = it.value(*id).ok_or_else(|| {
                calib_error(
                    pass,
                    format!("node {id} produced no value during calibration"),
                )
            })?;
            let data = v.as_f32().ok_or_else(|| {
                calib_error(
                    pass,
                    format!("node `{}` is not a float tensor", g.node(*id).name),
                )
            })?;
            match method {
                Method::MinMax => {
                    let r = minmax.entry(*id).or_insert(Range {
                        min: f32::INFINITY,
                        max: f32::NEG_INFINITY,
                    });
                    for v in data.iter().filter(|v| !v.is_nan()) {
                        r.min = r.min.min(*v);
                        r.max = r.max.max(*v);
                    }
                }
                Method::Percentile(_) => all
                    .entry(*id)
                    .or_default()
                    .extend(data.iter().filter(|v| !v.is_nan())),
            }
        }
    }
    let mut out = BTreeMap::new();
    for id in nodes {
        let r = match method {
            Method::MinMax => minmax.get(id).copied(),
            Method::Percentile(p) => all.get_mut(id).and_then(|v| {
                v.sort_by(f32::total_cmp);
                Some(Range {
                    min: percentile(v, 100.0 - p)?,
                    max: percentile(v, p)?,
                })
            }),
        };
        // No finite value at all (every sample NaN): an empty range at 0.
        let r = r
            .filter(|r| r.min <= r.max)
            .unwrap_or(Range { min: 0.0, max: 0.0 });
        out.insert(*id, r);
    }
    Ok(out)
}

/// The `p`-th percentile (0..=100) of sorted values with linear interpolation (NumPy's
/// default), or `None` for no values.
pub fn percentile(sorted: &[f32], p: f64) -> Option<f32> {
    let last = sorted.len().checked_sub(1)?;
    let pos = (p / 100.0).clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (f64::from(*sorted.get(lo)?), f64::from(*sorted.get(hi)?));
    Some((a + (b - a) * (pos - lo as f64)) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::op::Gemm;
    use snnc_ir::{Op, TensorType};

    fn model() -> (Graph, NodeId, NodeId) {
        let mut g = Graph::new("m");
        let x = g.add_input("x", TensorType::f32(vec![1, 2]));
        let w = g.add_const(
            "w",
            Tensor::from_f32(vec![2, 2], vec![1.0, 0.0, 0.0, -2.0]).unwrap(),
        );
        let y = g
            .add_node("fc", Op::Gemm(Gemm::default()), &[x, w])
            .unwrap();
        g.add_output("y", y).unwrap();
        (g, x, y)
    }

    #[test]
    fn minmax_and_percentile_ranges() {
        let (g, x, y) = model();
        let data: Vec<f32> = (0..100).flat_map(|i| [i as f32, 1.0]).collect();
        let calib = Array {
            shape: vec![100, 2],
            data,
        };
        let s = samples(&g, Some(&calib), "quantize").unwrap();
        assert_eq!(s.len(), 100);
        let nodes = BTreeSet::from([x, y]);
        let r = calibrate(&g, &s, &nodes, Method::MinMax, "quantize").unwrap();
        assert_eq!(
            r[&x],
            Range {
                min: 0.0,
                max: 99.0
            }
        );
        assert_eq!(
            r[&y],
            Range {
                min: -2.0,
                max: 99.0
            }
        );
        let r = calibrate(&g, &s, &nodes, Method::Percentile(99.0), "quantize").unwrap();
        // y's values: 0..=99 and 100 times -2; 200 values sorted, p99 at 1.99·... position.
        let mut v: Vec<f32> = (0..100).map(|i| i as f32).chain([-2.0; 100]).collect();
        v.sort_by(f32::total_cmp);
        assert_eq!(r[&y].max, percentile(&v, 99.0).unwrap());
        assert_eq!(r[&y].min, -2.0);
        // x: [0..99] and 100 ones: 99th percentile at position 197.01 of 200 values.
        assert!((r[&x].max - 97.01).abs() < 1e-4, "{:?}", r[&x]);
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        // numpy.percentile([1,2,3,4], 99.99) = 3.9997
        assert!((percentile(&v, 99.99).unwrap() - 3.9997).abs() < 1e-6);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn bad_calibration_data() {
        let (g, _, _) = model();
        let e = samples(&g, None, "quantize").unwrap_err().to_string();
        assert!(e.contains("pass --calib FILE.npy"), "{e}");
        let wrong = Array {
            shape: vec![4, 3],
            data: vec![0.0; 12],
        };
        let e = samples(&g, Some(&wrong), "quantize")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "pass `quantize`: calibration data: the array has shape [4,3], expected [N, 2] (N samples of the input shape [1,2])"
        );
        let empty = Array {
            shape: vec![0, 2],
            data: vec![],
        };
        assert!(samples(&g, Some(&empty), "quantize").is_err());
        let nan = Array {
            shape: vec![1, 2],
            data: vec![0.0, f32::NAN],
        };
        let e = samples(&g, Some(&nan), "quantize").unwrap_err().to_string();
        assert!(e.contains("element 1 is not finite"), "{e}");
        // [N, 1, 2] reshapes to the input shape too.
        let ok = Array {
            shape: vec![3, 1, 2],
            data: vec![0.0; 6],
        };
        assert_eq!(samples(&g, Some(&ok), "quantize").unwrap().len(), 3);
    }
}
