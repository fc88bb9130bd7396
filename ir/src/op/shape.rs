//! Ops that only change the shape.

/// Merge dimensions `start_dim..=end_dim` (both already resolved to non-negative indices).
#[derive(Clone, PartialEq, Debug)]
pub struct Flatten {
    pub start_dim: usize,
    pub end_dim: usize,
}

/// Reinterpret the input with a concrete shape of the same element count.
#[derive(Clone, PartialEq, Debug)]
pub struct Reshape {
    pub shape: Vec<usize>,
}
