//! Gemm and MatMul: the dense products.

/// ONNX Gemm: `Y = alpha · op(A) · op(B) + beta · C`, `op` transposing when asked.
#[derive(Clone, PartialEq, Debug)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Default for Gemm {
    fn default() -> Self {
        Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        }
    }
}
