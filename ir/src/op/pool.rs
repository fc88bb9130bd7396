//! Pooling.

/// What a pooling window computes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PoolKind {
    Max,
    /// Mean over the window; see [`Pool::count_include_pad`].
    Avg,
    /// Sum over the window (NIR SumPool2d).
    Sum,
}

/// Pooling over the trailing `kernel.len()` dimensions. `pads` has `2·s` entries (begins, then
/// ends); padded positions never win a max and add 0 to a sum.
#[derive(Clone, PartialEq, Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilation: Vec<usize>,
    /// Output size rounds up instead of down (ONNX `ceil_mode`).
    pub ceil_mode: bool,
    /// Avg only: divide by the full window size even where it overlaps padding.
    pub count_include_pad: bool,
}
