//! Calibration data for the SNN passes: checking that `--calib` fits the model, running the
//! float graph over it, and percentiles.

use snnc_ir::interp::Interpreter;
use snnc_ir::{verify, Graph, NodeId, Tensor};

use crate::npy::Array;
use crate::passes::{PassContext, PassError};

/// Calibration samples checked against the model's single input: `[N, …]` with N ≥ 1, each
/// sample holding exactly as many values as the input, all finite.
pub struct Calib<'a> {
    pub array: &'a Array,
    /// The graph input the samples feed.
    pub input: NodeId,
    /// Values per sample.
    pub per_sample: usize,
}

impl<'a> Calib<'a> {
    /// The samples of `ctx.calib` for `g`, `Ok(None)` when no calibration data was given.
    pub fn of(pass: &str, g: &Graph, ctx: &PassContext<'a>) -> Result<Option<Self>, PassError> {
        let Some(array) = ctx.calib else {
            return Ok(None);
        };
        let bad = |reason: String| PassError::Calibration {
            pass: pass.to_string(),
            reason,
        };
        let input = match g.inputs() {
            [one] => *one,
            many => {
                return Err(bad(format!(
                    "the model has {} inputs; calibration supports exactly one",
                    many.len()
                )))
            }
        };
        let ty = g.ty(input);
        let n = array.shape.first().copied().unwrap_or(0);
        let per_sample: usize = array.shape.iter().skip(1).product();
        if array.shape.len() < 2 || n == 0 {
            return Err(bad(format!(
                "expected an array [N, …] of N ≥ 1 samples, got shape {:?}",
                array.shape
            )));
        }
        if per_sample != ty.numel() {
            return Err(bad(format!(
                "each sample of shape {:?} has {per_sample} values but input `{}` is {ty} ({} \
                 values)",
                &array.shape[1..],
                g.node(input).name,
                ty.numel()
            )));
        }
        if let Some(i) = array.data.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("element {i} is not finite")));
        }
        Ok(Some(Calib {
            array,
            input,
            per_sample,
        }))
    }

    /// Like [`Calib::of`], but missing calibration data is an error.
    pub fn required(pass: &str, g: &Graph, ctx: &PassContext<'a>) -> Result<Self, PassError> {
        Self::of(pass, g, ctx)?.ok_or_else(|| PassError::Calibration {
            pass: pass.to_string(),
            reason: "this pass needs calibration samples (--calib FILE.npy)".into(),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.array.data.len() / self.per_sample.max(1)
    }

    /// True when there are no samples (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `i` as a flat slice.
    pub fn sample(&self, i: usize) -> &[f32] {
        let start = i * self.per_sample;
        self.array
            .data
            .get(start..start + self.per_sample)
            .unwrap_or(&[])
    }

    /// Overall minimum and maximum of the samples.
    pub fn range(&self) -> (f32, f32) {
        self.array
            .data
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            })
    }

    /// Run the (stateless, f32-input) graph once per sample and return, for each node of
    /// `probes`, every value it took over all samples (samples in order, each row-major).
    pub fn collect(
        &self,
        pass: &str,
        g: &Graph,
        dt: f32,
        probes: &[NodeId],
    ) -> Result<Vec<Vec<f32>>, PassError> {
        let info = verify(g).map_err(|e| PassError::ir(pass, e))?;
        let mut it = Interpreter::new(g, &info, dt).map_err(|e| PassError::ir(pass, e))?;
        let shape = g.ty(self.input).shape.clone();
        let mut out = vec![Vec::new(); probes.len()];
        for i in 0..self.len() {
            it.reset();
            let x = Tensor::from_f32(shape.clone(), self.sample(i).to_vec())
                .map_err(|e| PassError::ir(pass, e))?;
            it.step(&[x]).map_err(|e| PassError::ir(pass, e))?;
            for (acc, id) in out.iter_mut().zip(probes) {
                if let Some(v) = it.value(*id) {
                    acc.extend(v.to_f32_vec());
                }
            }
        }
        Ok(out)
    }
}

/// The `pct`-th percentile (0 < pct ≤ 100) of `values` with linear interpolation between the
/// two closest ranks (NumPy's default): sorted `v`, position `p = pct/100·(n−1)`,
/// `v[⌊p⌋] + (v[⌈p⌉] − v[⌊p⌋])·(p − ⌊p⌋)`. `None` for no values.
pub fn percentile(values: &[f32], pct: f64) -> Option<f64> {
    let mut v: Vec<f32> = values.to_vec();
    v.sort_by(f32::total_cmp);
    let last = v.len().checked_sub(1)?;
    let pos = (pct / 100.0).clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (f64::from(*v.get(lo)?), f64::from(*v.get(hi)?));
    Some(a + (b - a) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_ir::TensorType;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(percentile(&v, 100.0), Some(5.0));
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        // np.percentile([1..5], 99.9) = 4.996
        assert!((percentile(&v, 99.9).unwrap() - 4.996).abs() < 1e-9);
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn graph() -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::f32(vec![1, 2]));
        let r = g.add_node("r", snnc_ir::Op::Relu, &[x]).unwrap();
        g.add_output("y", r).unwrap();
        g
    }

    #[test]
    fn checks_shapes_and_collects_values() {
        let g = graph();
        let a = Array {
            shape: vec![2, 2],
            data: vec![1.0, -1.0, -2.0, 3.0],
        };
        let ctx = PassContext {
            calib: Some(&a),
            ..PassContext::default()
        };
        let c = Calib::required("p", &g, &ctx).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.range(), (-2.0, 3.0));
        let relu = g.node_ids()[1];
        let got = c.collect("p", &g, 1e-4, &[relu]).unwrap();
        assert_eq!(got, vec![vec![1.0, 0.0, 0.0, 3.0]]);

        let wrong = Array {
            shape: vec![1, 3],
            data: vec![0.0; 3],
        };
        let ctx = PassContext {
            calib: Some(&wrong),
            ..PassContext::default()
        };
        let e = Calib::of("p", &g, &ctx).err().unwrap();
        assert!(matches!(e, PassError::Calibration { .. }));
        assert!(e.to_string().contains("3 values"), "{e}");
        let e = Calib::required("p", &g, &PassContext::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("--calib"), "{e}");
        let nan = Array {
            shape: vec![1, 2],
            data: vec![0.0, f32::NAN],
        };
        let ctx = PassContext {
            calib: Some(&nan),
            ..PassContext::default()
        };
        assert!(Calib::of("p", &g, &ctx).is_err());
    }
}
