//! Helpers shared by the end-to-end tests: where the model copies are, and small statistics.

use std::path::{Path, PathBuf};

use snnc_compiler::npy::{self, Array};

/// A file under `tests/models/` (byte-for-byte copies of `shared/models/`).
pub fn model_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(rel)
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Read a `.npy` file that the tests ship; panics with the path on failure (test-only).
pub fn read_npy(path: &Path) -> Array {
    npy::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Index of the largest value of each row of a `[N, K]` array (first one on ties, like NumPy).
pub fn argmax_rows(a: &Array) -> Vec<usize> {
    let k = a.shape[1..].iter().product::<usize>();
    a.data
        .chunks(k)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Fraction of predictions equal to the labels.
pub fn accuracy(pred: &[usize], labels: &Array) -> f64 {
    let hits = pred
        .iter()
        .zip(&labels.data)
        .filter(|(p, l)| **p as f32 == **l)
        .count();
    hits as f64 / pred.len() as f64
}

/// Largest absolute elementwise difference of two arrays of equal shape.
pub fn max_abs_diff(a: &Array, b: &Array) -> f32 {
    assert_eq!(a.shape, b.shape, "shapes differ");
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The 360 digits test inputs `[360, 64]`.
pub fn test_x() -> Array {
    read_npy(&model_file("data/digits_test_x.npy"))
}

/// The 256 calibration inputs `[256, 64]`.
pub fn calib_x() -> Array {
    read_npy(&model_file("data/digits_calib_x.npy"))
}

/// The digits labels `[360]`.
pub fn test_y() -> Array {
    read_npy(&model_file("data/digits_test_y.npy"))
}

/// Run `g` on the whole digits test set with the reference interpreter (`snnc sim`'s batch
/// runner, direct input, `steps` steps summed), returning its first output.
pub fn run_digits(g: &snnc_ir::Graph, info: &snnc_ir::GraphInfo, steps: usize) -> Array {
    use snnc_compiler::sim::{simulate, BatchInput, Encoding, Reduce, SimOptions};
    let path = model_file("data/digits_test_x.npy");
    let x = read_npy(&path);
    let opts = SimOptions {
        steps,
        dt: 1e-4,
        reduce: Reduce::Sum,
        encoding: Encoding::Direct,
        seed: 0,
        threads: 2,
    };
    let inputs = [BatchInput {
        array: &x,
        path: &path,
    }];
    simulate(Path::new("model"), g, info, &inputs, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
}
