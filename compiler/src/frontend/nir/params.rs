//! Typed access to one node's parameter datasets.
//!
//! NIR writers differ in what they store: f32 or f64 or integer arrays, scalars or per-neuron
//! arrays, integers as arrays of one element. Tensors become f32 (f64 narrowed; a value that is
//! not finite after narrowing is an error naming the parameter), shape kept as stored. Integer
//! attributes accept any integer array, or floats holding whole numbers.

use std::collections::BTreeMap;

use snnc_ir::Tensor;

use super::hdf5::RawValue;
use super::Fail;

/// The parameters of one node, with the names errors need.
pub struct Params<'a> {
    pub node: &'a str,
    pub op: &'a str,
    pub values: &'a BTreeMap<String, RawValue>,
}

impl Params<'_> {
    /// An error about this node.
    pub fn fail(&self, reason: impl Into<String>) -> Fail {
        Fail::Node {
            node: self.node.to_string(),
            op: self.op.to_string(),
            reason: reason.into(),
        }
    }

    fn get(&self, name: &str) -> Result<Option<&RawValue>, Fail> {
        match self.values.get(name) {
            Some(RawValue::Unreadable(e)) => Err(self.fail(format!("cannot read `{name}`: {e}"))),
            other => Ok(other),
        }
    }

    fn required(&self, name: &str) -> Result<&RawValue, Fail> {
        self.get(name)?
            .ok_or_else(|| self.fail(format!("missing parameter `{name}`")))
    }

    /// A required float tensor.
    pub fn tensor(&self, name: &str) -> Result<Tensor, Fail> {
        let v = self.required(name)?;
        self.to_tensor(name, v)
    }

    /// An optional float tensor.
    pub fn opt_tensor(&self, name: &str) -> Result<Option<Tensor>, Fail> {
        match self.get(name)? {
            Some(v) => self.to_tensor(name, v).map(Some),
            None => Ok(None),
        }
    }

    fn to_tensor(&self, name: &str, v: &RawValue) -> Result<Tensor, Fail> {
        let (shape, data): (&[usize], Vec<f32>) = match v {
            RawValue::Float { shape, data } => (shape, data.iter().map(|x| *x as f32).collect()),
            RawValue::Int { shape, data } => (shape, data.iter().map(|x| *x as f32).collect()),
            _ => return Err(self.fail(format!("parameter `{name}` is not numeric"))),
        };
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(self.fail(format!(
                "parameter `{name}` has a non-finite value at element {i} (NaN, infinite, or \
                 beyond the f32 range)"
            )));
        }
        Tensor::from_f32(shape.to_vec(), data)
            .map_err(|e| self.fail(format!("parameter `{name}`: {e}")))
    }

    /// A required integer array (a scalar gives one element), with its stored shape.
    pub fn ints(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>), Fail> {
        let v = self.required(name)?;
        self.to_ints(name, v)
    }

    /// An optional integer array.
    pub fn opt_ints(&self, name: &str) -> Result<Option<Vec<i64>>, Fail> {
        match self.get(name)? {
            Some(v) => self.to_ints(name, v).map(|(_, d)| Some(d)),
            None => Ok(None),
        }
    }

    fn to_ints(&self, name: &str, v: &RawValue) -> Result<(Vec<usize>, Vec<i64>), Fail> {
        match v {
            RawValue::Int { shape, data } => Ok((shape.clone(), data.clone())),
            RawValue::Float { shape, data } => {
                let ints = data
                    .iter()
                    .map(|x| {
                        let whole = x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15;
                        whole.then_some(*x as i64).ok_or_else(|| {
                            self.fail(format!("parameter `{name}` holds {x}, not an integer"))
                        })
                    })
                    .collect::<Result<Vec<i64>, Fail>>()?;
                Ok((shape.clone(), ints))
            }
            _ => Err(self.fail(format!("parameter `{name}` is not numeric"))),
        }
    }

    /// A required single integer (stored as a scalar or a one-element array).
    pub fn int(&self, name: &str) -> Result<i64, Fail> {
        match self.ints(name)?.1.as_slice() {
            [v] => Ok(*v),
            other => Err(self.fail(format!(
                "parameter `{name}` must be a single integer, got {} values",
                other.len()
            ))),
        }
    }

    /// Non-negative integers, one per spatial axis: a single value is repeated `n` times.
    /// `at_least` is the smallest value allowed (1 for strides, 0 for padding).
    pub fn per_axis(&self, name: &str, n: usize, at_least: i64) -> Result<Vec<usize>, Fail> {
        let (_, data) = self.ints(name)?;
        self.axes_from(name, &data, n, at_least)
    }

    /// [`Params::per_axis`] on values already read.
    pub fn axes_from(
        &self,
        name: &str,
        data: &[i64],
        n: usize,
        at_least: i64,
    ) -> Result<Vec<usize>, Fail> {
        let values: Vec<i64> = match data {
            [v] => vec![*v; n],
            d if d.len() == n => d.to_vec(),
            d => {
                return Err(self.fail(format!(
                    "parameter `{name}` has {} values, expected 1 or {n}",
                    d.len()
                )))
            }
        };
        values
            .iter()
            .map(|v| {
                if *v < at_least {
                    Err(self.fail(format!(
                        "parameter `{name}` is {v}, expected at least {at_least}"
                    )))
                } else {
                    usize::try_from(*v).map_err(|_| self.fail(format!("`{name}` is too large")))
                }
            })
            .collect()
    }

    /// A shape: a list of dimensions, each at least 1 (a scalar is a one-element list).
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, Fail> {
        let (_, data) = self.ints(name)?;
        self.axes_from(name, &data, data.len(), 1)
    }

    /// An optional string (stored as a scalar string dataset).
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, Fail> {
        match self.get(name)? {
            Some(RawValue::Str { data, .. }) if data.len() == 1 => Ok(Some(data[0].clone())),
            Some(RawValue::Str { .. }) => {
                Err(self.fail(format!("parameter `{name}` must be a single string")))
            }
            _ => Ok(None),
        }
    }

    /// True when the node stores a dataset with this name.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(entries: Vec<(&str, RawValue)>) -> BTreeMap<String, RawValue> {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn tensors_narrow_f64_and_reject_non_finite() {
        let v = values(vec![
            (
                "a",
                RawValue::Float {
                    shape: vec![2],
                    data: vec![0.1, 2.0],
                },
            ),
            (
                "b",
                RawValue::Int {
                    shape: vec![],
                    data: vec![3],
                },
            ),
            (
                "c",
                RawValue::Float {
                    shape: vec![1],
                    data: vec![f64::NAN],
                },
            ),
            (
                "d",
                RawValue::Float {
                    shape: vec![],
                    data: vec![1e300],
                },
            ),
        ]);
        let p = Params {
            node: "n",
            op: "LIF",
            values: &v,
        };
        let a = p.tensor("a").unwrap();
        assert_eq!(a.shape(), &[2]);
        assert_eq!(a.as_f32().unwrap(), &[0.1f32, 2.0]);
        let b = p.tensor("b").unwrap();
        assert_eq!(b.shape(), &[] as &[usize]);
        assert_eq!(b.as_f32().unwrap(), &[3.0]);
        for name in ["c", "d"] {
            match p.tensor(name) {
                Err(Fail::Node { node, op, reason }) => {
                    assert_eq!((node.as_str(), op.as_str()), ("n", "LIF"));
                    assert!(reason.contains(&format!("`{name}`")), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(p.tensor("missing"), Err(Fail::Node { .. })));
        assert_eq!(p.opt_tensor("missing").unwrap(), None);
    }

    #[test]
    fn per_axis_repeats_scalars_and_checks_bounds() {
        let v = values(vec![
            (
                "s",
                RawValue::Int {
                    shape: vec![],
                    data: vec![2],
                },
            ),
            (
                "p",
                RawValue::Int {
                    shape: vec![2],
                    data: vec![1, 0],
                },
            ),
            (
                "f",
                RawValue::Float {
                    shape: vec![2],
                    data: vec![3.0, 4.0],
                },
            ),
            (
                "neg",
                RawValue::Int {
                    shape: vec![],
                    data: vec![-1],
                },
            ),
            (
                "frac",
                RawValue::Float {
                    shape: vec![],
                    data: vec![1.5],
                },
            ),
        ]);
        let p = Params {
            node: "n",
            op: "Conv2d",
            values: &v,
        };
        assert_eq!(p.per_axis("s", 2, 1).unwrap(), vec![2, 2]);
        assert_eq!(p.per_axis("p", 2, 0).unwrap(), vec![1, 0]);
        assert_eq!(p.per_axis("f", 2, 1).unwrap(), vec![3, 4]);
        assert!(p.per_axis("p", 3, 0).is_err());
        assert!(p.per_axis("p", 2, 1).is_err());
        assert!(p.per_axis("neg", 2, 0).is_err());
        assert!(p.int("frac").is_err());
        assert_eq!(p.int("neg").unwrap(), -1);
    }
}
