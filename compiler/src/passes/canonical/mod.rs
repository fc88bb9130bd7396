//! Canonicalization: rewrites that change how a model is written, never what it computes.
//!
//! Each pass is one file: [`const_fold`], [`fold_bn`], [`dce`], [`reshape_cleanup`], and
//! [`canonicalize`], which runs the four to a fixed point. They bring every imported model into
//! the small normal form the quantization, binarization and conversion passes expect: weights as
//! constants (integer constants where the model was already quantized), no BatchNorm after a
//! float Affine/Conv, no dead nodes and no shape-only chains.

pub mod canonicalize;
pub mod const_fold;
pub mod dce;
pub mod eval;
pub mod fold_bn;
pub mod reshape_cleanup;
pub(crate) mod util;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod testutil;
