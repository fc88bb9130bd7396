//! Delay: NIR's `y(t) = x(t − delay)`, per element, in whole steps of `dt`.

use crate::op::quant::expand;
use crate::{DType, Data, IrError, Tensor};

/// NIR Delay: each element arrives `delay` seconds later (rounded to whole steps of `dt` when run).
#[derive(Clone, PartialEq, Debug)]
pub struct Delay {
    pub delay: Tensor,
}

/// Longest delay, in steps, a simulation accepts; longer ones are almost surely a wrong `dt`.
pub const MAX_DELAY_STEPS: usize = 1 << 20;

/// Most values a delay line may buffer (steps × elements), to bound the interpreter's memory.
const MAX_BUFFERED: usize = 1 << 26;

/// Whole steps of each element's delay: `round_half_even(delay / dt)` in float32.
///
/// Fails when a delay is negative or not finite, or longer than [`MAX_DELAY_STEPS`].
pub fn delay_steps(delay: &Tensor, shape: &[usize], dt: f32) -> Result<Vec<usize>, IrError> {
    let values = expand(&delay.to_f32_vec(), delay.shape(), shape).ok_or_else(|| {
        IrError::Tensor(format!(
            "delay: parameter `delay` of shape {:?} does not broadcast to the shape {shape:?}",
            delay.shape()
        ))
    })?;
    values
        .iter()
        .map(|d| {
            if !d.is_finite() || *d < 0.0 {
                return Err(IrError::Tensor(format!(
                    "delay: parameter `delay` must be finite and >= 0, got {d}"
                )));
            }
            let steps = (d / dt).round_ties_even();
            if steps > MAX_DELAY_STEPS as f32 {
                return Err(IrError::Tensor(format!(
                    "delay: {d} s is {steps} steps of dt = {dt}, more than {MAX_DELAY_STEPS}"
                )));
            }
            Ok(steps as usize)
        })
        .collect()
}

/// The history a running Delay keeps: a ring of the last `len` inputs, element `t mod len`
/// holding the input of step `t`. Zeros before the first step.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct DelayLine {
    steps: Vec<usize>,
    /// Ring length: the longest delay.
    len: usize,
    /// Current step modulo `len` (0 when `len` is 0).
    head: usize,
    /// The element type seen at the first step; later steps must keep it.
    dtype: Option<DType>,
    ring: Ring,
}

#[derive(Clone, PartialEq, Debug)]
enum Ring {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl DelayLine {
    pub(crate) fn new(delay: &Tensor, shape: &[usize], dt: f32) -> Result<Self, IrError> {
        let steps = delay_steps(delay, shape, dt)?;
        let len = steps.iter().copied().max().unwrap_or(0);
        if len.saturating_mul(steps.len()) > MAX_BUFFERED {
            return Err(IrError::Tensor(format!(
                "delay: buffering {len} steps of {} elements exceeds {MAX_BUFFERED} values",
                steps.len()
            )));
        }
        Ok(DelayLine {
            steps,
            len,
            head: 0,
            dtype: None,
            ring: Ring::F32(Vec::new()),
        })
    }

    /// Output of this step: element `j` is the input of step `t − steps[j]` (zero before t = 0).
    pub(crate) fn step(&mut self, input: &Tensor, shape: &[usize]) -> Result<Tensor, IrError> {
        let n = self.steps.len();
        match self.dtype {
            None => {
                self.ring = match input.data() {
                    Data::F32(_) => Ring::F32(vec![0.0; self.len * n]),
                    Data::I64(_) => Ring::I64(vec![0; self.len * n]),
                };
                self.dtype = Some(input.dtype());
            }
            Some(d) if d != input.dtype() => {
                return Err(IrError::Tensor(format!(
                    "delay: input type changed from {d} to {} between steps",
                    input.dtype()
                )))
            }
            Some(_) => {}
        }
        let (len, head) = (self.len, self.head);
        let out = match (&mut self.ring, input.data()) {
            (Ring::F32(ring), Data::F32(x)) => Data::F32(shift(ring, x, &self.steps, len, head)),
            (Ring::I64(ring), Data::I64(x)) => Data::I64(shift(ring, x, &self.steps, len, head)),
            _ => return Err(IrError::Tensor("delay: inconsistent input storage".into())),
        };
        if len > 0 {
            self.head = (head + 1) % len;
        }
        match out {
            Data::F32(v) => Tensor::from_f32(shape.to_vec(), v),
            Data::I64(v) => Tensor::from_i64(input.dtype(), shape.to_vec(), v),
        }
    }

    /// Forget the history: back to t = 0.
    pub(crate) fn reset(&mut self) {
        self.head = 0;
        self.dtype = None;
        self.ring = Ring::F32(Vec::new());
    }
}

/// Read every element's delayed value, then store this step's input at slot `head`.
fn shift<T: Copy>(ring: &mut [T], x: &[T], steps: &[usize], len: usize, head: usize) -> Vec<T> {
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    for (j, (xj, d)) in x.iter().zip(steps).enumerate() {
        if *d == 0 {
            out.push(*xj);
        } else {
            // Slot of step t − d; d <= len, so it is read before this step overwrites it.
            let slot = (head + len - d) % len;
            out.push(ring[slot * n + j]);
        }
    }
    if len > 0 {
        ring[head * n..(head + 1) * n].copy_from_slice(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[f32]) -> Tensor {
        Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn per_element_delays_in_steps() {
        // delays 0, 1 and 3 steps of dt = 1e-3 (2.9e-3 rounds to 3).
        let delay = f(&[0.0, 1e-3, 2.9e-3]);
        let mut line = DelayLine::new(&delay, &[3], 1e-3).unwrap();
        let mut outs = Vec::new();
        for t in 0..5 {
            let x = f(&[
                t as f32 + 1.0,
                10.0 * (t as f32 + 1.0),
                100.0 * (t as f32 + 1.0),
            ]);
            outs.push(line.step(&x, &[3]).unwrap().as_f32().unwrap().to_vec());
        }
        assert_eq!(
            outs,
            vec![
                vec![1.0, 0.0, 0.0],
                vec![2.0, 10.0, 0.0],
                vec![3.0, 20.0, 0.0],
                vec![4.0, 30.0, 100.0],
                vec![5.0, 40.0, 200.0],
            ]
        );
        line.reset();
        let y = line.step(&f(&[7.0, 7.0, 7.0]), &[3]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[7.0, 0.0, 0.0]);
    }

    #[test]
    fn integer_inputs_keep_their_type() {
        let mut line = DelayLine::new(&Tensor::scalar_f32(2.0), &[2], 1.0).unwrap();
        let x = Tensor::from_i64(DType::I8, vec![2], vec![-5, 9]).unwrap();
        let zero = Tensor::from_i64(DType::I8, vec![2], vec![0, 0]).unwrap();
        assert_eq!(line.step(&x, &[2]).unwrap(), zero);
        assert_eq!(line.step(&zero, &[2]).unwrap(), zero);
        assert_eq!(line.step(&zero, &[2]).unwrap(), x);
        assert!(line.step(&f(&[1.0, 2.0]), &[2]).is_err());
    }

    #[test]
    fn rejects_negative_non_finite_and_huge_delays() {
        for d in [-1e-3, f32::NAN, f32::INFINITY, 1e9] {
            assert!(
                DelayLine::new(&Tensor::scalar_f32(d), &[1], 1e-3).is_err(),
                "{d}"
            );
        }
        assert!(DelayLine::new(&f(&[1.0, 2.0]), &[3], 1.0).is_err());
        assert_eq!(
            delay_steps(&f(&[0.0, 2.5, 3.5]), &[3], 1.0).unwrap(),
            vec![0, 2, 4]
        );
    }
}
