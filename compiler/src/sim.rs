//! Running the reference interpreter over a batch of samples: what `snnc sim` does.
//!
//! The interpreter executes one sample at a time (shapes in the IR are per sample); this module
//! slices the batch, encodes inputs over time, runs samples on all cores and reassembles the
//! outputs in sample order, so results do not depend on the thread count.

use std::path::{Path, PathBuf};

use snnc_ir::interp::Interpreter;
use snnc_ir::{DType, Graph, GraphInfo, Tensor};

use crate::encode::StepInput;
use crate::error::CliError;
use crate::npy::Array;

/// How the per-step outputs of a multi-step run are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Reduce {
    /// Keep every step: output shape `[N, T, ...]`.
    None,
    /// Sum over steps (spike counts): `[N, ...]`.
    Sum,
    /// The last step only: `[N, ...]`.
    Last,
}

/// How an input array becomes per-step input values (DESIGN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// The same analog values enter every step; input array `[N, ...]`.
    Direct,
    /// Given spikes: input array `[N, T, ...]` of 0/1.
    Spikes,
    /// Bernoulli spikes with probability `clamp(x, 0, 1)` per step from a seeded generator.
    Rate,
}

/// Options of a batch simulation.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub steps: usize,
    pub dt: f32,
    pub reduce: Reduce,
    pub encoding: Encoding,
    pub seed: u64,
    pub threads: usize,
}

/// One graph input: the array and the file it came from (for messages).
pub struct BatchInput<'a> {
    pub array: &'a Array,
    pub path: &'a Path,
}

/// Run every sample of the batch through `graph` and return one array per graph output.
pub fn simulate(
    model: &Path,
    graph: &Graph,
    info: &GraphInfo,
    inputs: &[BatchInput<'_>],
    opts: &SimOptions,
) -> Result<Vec<Array>, CliError> {
    let plan = Plan::new(graph, inputs, opts)?;
    let n = plan.batch;
    let threads = opts.threads.clamp(1, n.max(1));
    let chunk = n.div_ceil(threads).max(1);
    let mut per_sample: Vec<Vec<Vec<f32>>> = Vec::with_capacity(n);
    let results: Vec<Result<Vec<Vec<Vec<f32>>>, CliError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let plan = &plan;
                s.spawn(move || {
                    let mut it =
                        Interpreter::new(graph, info, opts.dt).map_err(|e| sim_err(model, e))?;
                    (start..(start + chunk).min(n))
                        .map(|i| plan.run_sample(&mut it, i).map_err(|e| sim_err(model, e)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(CliError::Usage(
                        "internal error: a simulation thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    for r in results {
        per_sample.extend(r?);
    }
    Ok(plan.assemble(per_sample))
}

fn sim_err(model: &Path, e: snnc_ir::IrError) -> CliError {
    CliError::Sim {
        path: model.to_path_buf(),
        source: e,
    }
}

struct InputPlan {
    values: StepInput,
    shape: Vec<usize>,
    dtype: DType,
}

struct Plan {
    batch: usize,
    steps: usize,
    reduce: Reduce,
    inputs: Vec<InputPlan>,
    out_shapes: Vec<Vec<usize>>,
}

impl Plan {
    fn new(graph: &Graph, inputs: &[BatchInput<'_>], opts: &SimOptions) -> Result<Self, CliError> {
        let g_inputs = graph.inputs();
        if inputs.len() != g_inputs.len() {
            return Err(CliError::Usage(format!(
                "the model has {} input(s) but {} --input file(s) were given",
                g_inputs.len(),
                inputs.len()
            )));
        }
        if opts.steps == 0 {
            return Err(CliError::Usage("--steps must be at least 1".into()));
        }
        let mut batch = None;
        let mut plans = Vec::new();
        for (inp, id) in inputs.iter().zip(g_inputs) {
            let node = graph.node(*id);
            let ty = graph.ty(*id);
            let values = StepInput::new(
                inp.array,
                inp.path,
                &node.name,
                &ty.to_string(),
                ty.numel(),
                plans.len(),
                opts,
            )?;
            let n = values.batch();
            if *batch.get_or_insert(n) != n {
                return Err(CliError::Npy {
                    path: inp.path.to_path_buf(),
                    reason: format!("batch size {n} differs from the other inputs'"),
                });
            }
            plans.push(InputPlan {
                values,
                shape: ty.shape.clone(),
                dtype: ty.dtype,
            });
        }
        let out_shapes = graph
            .outputs()
            .iter()
            .map(|o| sample_shape(&graph.ty(*o).shape))
            .collect();
        Ok(Plan {
            batch: batch.unwrap_or(0),
            steps: opts.steps,
            reduce: opts.reduce,
            inputs: plans,
            out_shapes,
        })
    }

    /// The input tensors of sample `i` at step `t`.
    fn step_inputs(&self, i: usize, t: usize) -> Result<Vec<Tensor>, snnc_ir::IrError> {
        self.inputs
            .iter()
            .map(|p| to_tensor(p.values.step(i, t), &p.shape, p.dtype))
            .collect()
    }

    fn run_sample(
        &self,
        it: &mut Interpreter<'_>,
        i: usize,
    ) -> Result<Vec<Vec<f32>>, snnc_ir::IrError> {
        it.reset();
        let mut acc: Vec<Vec<f32>> = Vec::new();
        for t in 0..self.steps {
            let outs = it.step(&self.step_inputs(i, t)?)?;
            if t == 0 {
                acc = vec![Vec::new(); outs.len()];
            }
            for (a, o) in acc.iter_mut().zip(outs) {
                accumulate(a, o.to_f32_vec(), self.reduce, self.steps);
            }
        }
        Ok(acc)
    }

    fn assemble(&self, per_sample: Vec<Vec<Vec<f32>>>) -> Vec<Array> {
        self.out_shapes
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let outputs = per_sample.iter().map(|o| o[k].as_slice());
                assemble(outputs, self.batch, s, self.steps, self.reduce)
            })
            .collect()
    }
}

/// The per-sample shape of an output of the given shape: a leading batch axis of 1 (as ONNX
/// exports write `[1, 10]`) is dropped, since the batch axis of the result array replaces it.
pub fn sample_shape(s: &[usize]) -> Vec<usize> {
    if s.len() > 1 && s[0] == 1 {
        s[1..].to_vec()
    } else {
        s.to_vec()
    }
}

/// Fold one step's output `v` into a sample's accumulated output `a` as `reduce` says (a
/// single-step run keeps its only output).
pub fn accumulate(a: &mut Vec<f32>, v: Vec<f32>, reduce: Reduce, steps: usize) {
    match reduce {
        _ if steps == 1 => *a = v,
        Reduce::None => a.extend(v),
        Reduce::Last => *a = v,
        Reduce::Sum if a.is_empty() => *a = v,
        Reduce::Sum => a.iter_mut().zip(v).for_each(|(x, y)| *x += y),
    }
}

/// The batch array of one output from its per-sample accumulated values: `[N, T, ...]` when
/// every step is kept, `[N, ...]` otherwise.
pub fn assemble<'a>(
    per_sample: impl Iterator<Item = &'a [f32]>,
    batch: usize,
    sample_shape: &[usize],
    steps: usize,
    reduce: Reduce,
) -> Array {
    let mut shape = vec![batch];
    if steps > 1 && reduce == Reduce::None {
        shape.push(steps);
    }
    shape.extend(sample_shape);
    let data = per_sample.flat_map(|o| o.iter().copied()).collect();
    Array { shape, data }
}

fn to_tensor(values: Vec<f32>, shape: &[usize], dtype: DType) -> Result<Tensor, snnc_ir::IrError> {
    if dtype.is_float() {
        return Tensor::from_f32(shape.to_vec(), values);
    }
    let ints = values
        .iter()
        .map(|v| {
            if v.fract() == 0.0 {
                Ok(*v as i64)
            } else {
                Err(snnc_ir::IrError::Tensor(format!(
                    "input value {v} is not an integer but the input is {dtype}"
                )))
            }
        })
        .collect::<Result<Vec<i64>, _>>()?;
    Tensor::from_i64(dtype, shape.to_vec(), ints)
}

/// The documented generator of rate encoding (docs/semantics.md, "Input encodings"). Each
/// (seed, input, sample, step) has its own stream, so results do not depend on threading.
pub use snnc_ir::rng::SplitMix64;

pub(crate) fn rate_rng(seed: u64, input: usize, sample: usize, step: usize) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed);
    let mut key = mix.next_u64();
    for part in [input as u64, sample as u64, step as u64] {
        key = SplitMix64::new(key ^ part).next_u64();
    }
    SplitMix64::new(key)
}

/// Paths of the output files for `k` graph outputs: `y.npy`, then `y.1.npy`, `y.2.npy`, ...
pub fn output_paths(first: &Path, k: usize) -> Vec<PathBuf> {
    (0..k)
        .map(|i| {
            if i == 0 {
                return first.to_path_buf();
            }
            let stem = first
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            first.with_file_name(format!("{stem}.{i}.npy"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_number_extra_outputs() {
        let p = output_paths(Path::new("out/y.npy"), 3);
        assert_eq!(p[1], Path::new("out/y.1.npy"));
        assert_eq!(p[2], Path::new("out/y.2.npy"));
    }
}
