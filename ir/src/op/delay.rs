//! Delay.

use crate::Tensor;

/// NIR Delay: each element arrives `delay` seconds later (rounded to whole steps of `dt` when run).
#[derive(Clone, PartialEq, Debug)]
pub struct Delay {
    pub delay: Tensor,
}
