//! Elementwise ops: Add, Mul, Relu, Clip, Sign, Threshold, BatchNorm.

use crate::Tensor;

/// Clamp to `[min, max]`; a missing bound is unbounded. Bounds are f64 so that integer bounds of
/// any integer dtype up to 2^53 are exact.
#[derive(Clone, PartialEq, Debug)]
pub struct Clip {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Inference-mode batch normalisation: `y = scale · (x − mean) / sqrt(var + epsilon) + bias`.
#[derive(Clone, PartialEq, Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
}

/// NIR Threshold: `y = 1` where `x > threshold`, else 0. `threshold` broadcasts to `x`.
#[derive(Clone, PartialEq, Debug)]
pub struct Threshold {
    pub threshold: Tensor,
}
