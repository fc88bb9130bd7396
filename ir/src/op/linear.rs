//! Gemm and MatMul: the dense products.

use crate::infer::{accum_dtype, broadcast_shapes, broadcasts_to, fmt_shape};
use crate::{DType, TensorType};

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

/// Output type of [`Gemm`]: `a` is `[M,K]` (or `[K,M]` with `trans_a`) or a single row `[K]`
/// (then the result is `[N]`; transposing a vector changes nothing), `b` is `[K,N]` (or `[N,K]`
/// with `trans_b`), `c` broadcasts to the result. Integer `a`, `b` (and `c`) with
/// `alpha = beta = 1` give an exact integer product ([`crate::infer::accum_dtype`]); anything
/// else is computed in `f32`.
pub fn infer_gemm(
    g: &Gemm,
    a: &TensorType,
    b: &TensorType,
    c: Option<&TensorType>,
) -> Result<TensorType, String> {
    let (m, k, rank1) = match (a.shape.as_slice(), g.trans_a) {
        ([k], _) => (1, *k, true),
        ([m, k], false) | ([k, m], true) => (*m, *k, false),
        _ => {
            return Err(format!(
                "input 0 (A) has shape {}, expected rank 1 or 2",
                fmt_shape(&a.shape)
            ))
        }
    };
    let (kb, n) = match (b.shape.as_slice(), g.trans_b) {
        ([k, n], false) | ([n, k], true) => (*k, *n),
        _ => {
            return Err(format!(
                "input 1 (B) has shape {}, expected rank 2",
                fmt_shape(&b.shape)
            ))
        }
    };
    if k != kb {
        return Err(format!(
            "inner dimensions differ: A {}{} gives K = {k}, B {}{} gives K = {kb}",
            fmt_shape(&a.shape),
            if g.trans_a { " (transposed)" } else { "" },
            fmt_shape(&b.shape),
            if g.trans_b { " (transposed)" } else { "" },
        ));
    }
    let out = if rank1 { vec![n] } else { vec![m, n] };
    let mut dtypes = vec![a.dtype, b.dtype];
    if let Some(c) = c {
        if !broadcasts_to(&c.shape, &out) {
            return Err(format!(
                "input 2 (C) has shape {}, which does not broadcast to the result {}",
                fmt_shape(&c.shape),
                fmt_shape(&out)
            ));
        }
        dtypes.push(c.dtype);
    }
    let dtype = if gemm_is_integer(g, &dtypes) {
        accum_dtype(&dtypes)
    } else {
        DType::F32
    };
    Ok(TensorType::new(dtype, out))
}

/// A Gemm stays in exact integer arithmetic only when every input is an integer and there is
/// nothing to scale.
fn gemm_is_integer(g: &Gemm, dtypes: &[DType]) -> bool {
    dtypes.iter().all(|d| d.is_int()) && g.alpha == 1.0 && g.beta == 1.0
}

/// Output type of MatMul with NumPy semantics: a rank-1 `a` is a row (`[1,K]`), a rank-1 `b` a
/// column (`[K,1]`), and the added dimension is dropped again; leading (batch) dimensions
/// broadcast. Integers give an exact integer product ([`crate::infer::accum_dtype`]).
pub fn infer_matmul(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    let plan = MatMulPlan::new(&a.shape, &b.shape)?;
    Ok(TensorType::new(
        accum_dtype(&[a.dtype, b.dtype]),
        plan.out_shape,
    ))
}

/// The shapes of a NumPy matmul, resolved once for inference and evaluation.
#[derive(Debug, Clone, PartialEq)]
struct MatMulPlan {
    m: usize,
    k: usize,
    n: usize,
    /// Batch shape of `a` and `b` (rank-2 promoted), and their broadcast.
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    batch: Vec<usize>,
    out_shape: Vec<usize>,
}

impl MatMulPlan {
    fn new(a: &[usize], b: &[usize]) -> Result<Self, String> {
        if a.is_empty() || b.is_empty() {
            return Err(format!(
                "inputs have shapes {} and {}; matmul needs rank >= 1",
                fmt_shape(a),
                fmt_shape(b)
            ));
        }
        let a2: Vec<usize> = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b2: Vec<usize> = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != kb {
            return Err(format!(
                "input 0 has shape {} and input 1 has shape {}: inner dimensions {k} and {kb} differ",
                fmt_shape(a),
                fmt_shape(b)
            ));
        }
        let a_batch = a2[..a2.len() - 2].to_vec();
        let b_batch = b2[..b2.len() - 2].to_vec();
        let batch = broadcast_shapes(&a_batch, &b_batch).ok_or_else(|| {
            format!(
                "batch dimensions of {} and {} do not broadcast",
                fmt_shape(a),
                fmt_shape(b)
            )
        })?;
        let mut out_shape = batch.clone();
        if a.len() > 1 {
            out_shape.push(m);
        }
        if b.len() > 1 {
            out_shape.push(n);
        }
        Ok(MatMulPlan {
            m,
            k,
            n,
            a_batch,
            b_batch,
            batch,
            out_shape,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dtype: DType, shape: &[usize]) -> TensorType {
        TensorType::new(dtype, shape.to_vec())
    }

    #[test]
    fn gemm_shapes() {
        let g = Gemm {
            trans_b: true,
            ..Gemm::default()
        };
        let a = t(DType::F32, &[2, 3]);
        let b = t(DType::F32, &[4, 3]);
        let c = t(DType::F32, &[4]);
        assert_eq!(
            infer_gemm(&g, &a, &b, Some(&c)).unwrap(),
            t(DType::F32, &[2, 4])
        );
        let v = t(DType::F32, &[3]);
        assert_eq!(
            infer_gemm(&g, &v, &b, Some(&c)).unwrap(),
            t(DType::F32, &[4])
        );
        let e = infer_gemm(&Gemm::default(), &a, &b, None).unwrap_err();
        assert_eq!(
            e,
            "inner dimensions differ: A [2,3] gives K = 3, B [4,3] gives K = 4"
        );
        let bad_c = t(DType::F32, &[3, 4]);
        assert!(infer_gemm(&g, &a, &b, Some(&bad_c)).is_err());
        let ta = Gemm {
            trans_a: true,
            ..Gemm::default()
        };
        assert_eq!(
            infer_gemm(&ta, &t(DType::F32, &[3, 2]), &t(DType::F32, &[3, 5]), None).unwrap(),
            t(DType::F32, &[2, 5])
        );
    }

    #[test]
    fn gemm_integer_dtypes() {
        let a = t(DType::I8, &[1, 3]);
        let b = t(DType::I8, &[3, 2]);
        let c = t(DType::I32, &[2]);
        let g = Gemm::default();
        assert_eq!(infer_gemm(&g, &a, &b, None).unwrap().dtype, DType::I32);
        assert_eq!(infer_gemm(&g, &a, &b, Some(&c)).unwrap().dtype, DType::I64);
        let scaled = Gemm {
            alpha: 0.5,
            ..Gemm::default()
        };
        assert_eq!(infer_gemm(&scaled, &a, &b, None).unwrap().dtype, DType::F32);
    }

    #[test]
    fn matmul_shapes() {
        let f = |a: &[usize], b: &[usize]| {
            infer_matmul(&t(DType::F32, a), &t(DType::F32, b)).map(|t| t.shape)
        };
        assert_eq!(f(&[2, 3], &[3, 4]).unwrap(), vec![2, 4]);
        assert_eq!(f(&[3], &[3, 4]).unwrap(), vec![4]);
        assert_eq!(f(&[2, 3], &[3]).unwrap(), vec![2]);
        assert_eq!(f(&[3], &[3]).unwrap(), Vec::<usize>::new());
        assert_eq!(f(&[5, 1, 2, 3], &[4, 3, 6]).unwrap(), vec![5, 4, 2, 6]);
        assert!(f(&[2, 3], &[4, 5]).is_err());
        assert!(f(&[2, 2, 3], &[3, 3, 4]).is_err());
        assert!(f(&[], &[3]).is_err());
    }
}
