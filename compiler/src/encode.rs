//! Turning an input array into the values each time step sees (DESIGN.md §2): shared by
//! `snnc sim` (reference interpreter) and `snnc run` (emulator), so both feed a model exactly
//! the same numbers for the same array, encoding and seed.

use std::path::Path;

use crate::error::CliError;
use crate::npy::Array;
use crate::sim::{rate_rng, Encoding, SimOptions};

/// One model input over a batch: checked against the input's size, then read per sample and
/// step.
#[derive(Debug, Clone)]
pub struct StepInput {
    data: Vec<f32>,
    /// Values per sample per step.
    per_step: usize,
    batch: usize,
    steps: usize,
    encoding: Encoding,
    seed: u64,
    /// Position of the input among the model's inputs (its rate-encoder stream).
    index: usize,
}

impl StepInput {
    /// Check `array` (read from `path`) against an input named `name` of type `ty` with `numel`
    /// values per step. Spike input must be `[N, T, ...]`, the other encodings `[N, ...]`.
    pub fn new(
        array: &Array,
        path: &Path,
        name: &str,
        ty: &str,
        numel: usize,
        index: usize,
        opts: &SimOptions,
    ) -> Result<StepInput, CliError> {
        let bad = |reason: String| CliError::Npy {
            path: path.to_path_buf(),
            reason,
        };
        let a = array;
        let Some(&batch) = a.shape.first() else {
            return Err(bad("expected a batch array [N, ...], got a scalar".into()));
        };
        if batch == 0 {
            return Err(bad(format!(
                "the batch is empty (shape {:?}): nothing to run",
                a.shape
            )));
        }
        let mut per = a.shape[1..].iter().product::<usize>();
        if opts.encoding == Encoding::Spikes {
            if a.shape.len() < 2 || a.shape[1] != opts.steps {
                return Err(bad(format!(
                    "spike input must be [N, T = {}, ...], got {:?}",
                    opts.steps, a.shape
                )));
            }
            per /= opts.steps.max(1);
        }
        if per != numel {
            return Err(bad(format!(
                "each sample has {per} values but input `{name}` is {ty} ({numel} values)"
            )));
        }
        if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("element {i} is not finite")));
        }
        Ok(StepInput {
            data: a.data.clone(),
            per_step: per,
            batch,
            steps: opts.steps,
            encoding: opts.encoding,
            seed: opts.seed,
            index,
        })
    }

    /// Number of samples.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The values of sample `i` at step `t` (`i < batch`, `t < steps`).
    pub fn step(&self, i: usize, t: usize) -> Vec<f32> {
        let n = self.per_step;
        match self.encoding {
            Encoding::Direct => self.data[i * n..(i + 1) * n].to_vec(),
            Encoding::Spikes => {
                let base = (i * self.steps + t) * n;
                self.data[base..base + n].to_vec()
            }
            Encoding::Rate => {
                let mut rng = rate_rng(self.seed, self.index, i, t);
                self.data[i * n..(i + 1) * n]
                    .iter()
                    .map(|x| {
                        let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                        if u < x.clamp(0.0, 1.0) {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Reduce;

    fn opts(encoding: Encoding, steps: usize) -> SimOptions {
        SimOptions {
            steps,
            dt: 1e-3,
            reduce: Reduce::Sum,
            encoding,
            seed: 7,
            threads: 1,
        }
    }

    #[test]
    fn direct_repeats_and_spikes_index_steps() {
        let a = Array {
            shape: vec![2, 3],
            data: vec![1., 2., 3., 4., 5., 6.],
        };
        let d = StepInput::new(
            &a,
            Path::new("x.npy"),
            "x",
            "f32[3]",
            3,
            0,
            &opts(Encoding::Direct, 4),
        )
        .unwrap();
        assert_eq!(d.step(1, 3), vec![4., 5., 6.]);
        let s = Array {
            shape: vec![1, 2, 3],
            data: vec![1., 0., 0., 0., 1., 1.],
        };
        let sp = StepInput::new(
            &s,
            Path::new("s.npy"),
            "x",
            "f32[3]",
            3,
            0,
            &opts(Encoding::Spikes, 2),
        )
        .unwrap();
        assert_eq!(sp.step(0, 1), vec![0., 1., 1.]);
        let wrong = StepInput::new(
            &a,
            Path::new("x.npy"),
            "x",
            "f32[4]",
            4,
            0,
            &opts(Encoding::Direct, 1),
        );
        assert!(wrong
            .unwrap_err()
            .to_string()
            .contains("3 values but input `x`"));
    }

    #[test]
    fn rate_is_deterministic_and_bounded() {
        let a = Array {
            shape: vec![1, 4],
            data: vec![0.0, 1.0, 0.5, 2.0],
        };
        let r = StepInput::new(
            &a,
            Path::new("x.npy"),
            "x",
            "f32[4]",
            4,
            0,
            &opts(Encoding::Rate, 8),
        )
        .unwrap();
        for t in 0..8 {
            let v = r.step(0, t);
            assert_eq!(v, r.step(0, t));
            assert_eq!((v[0], v[1], v[3]), (0.0, 1.0, 1.0));
        }
    }
}
