//! Gemm and MatMul: the dense products.

use crate::infer::{
    accum_dtype, accum_dtype_with_bias, broadcast_shapes, broadcasts_to, fmt_shape,
};
use crate::interp::num::{arg, f32_data, i64_data, type_of, wrapped_tensor, Acc};
use crate::{DType, IrError, Tensor, TensorType};

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
    let bias = c.map(|c| c.dtype);
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
        accum_dtype_with_bias(&dtypes[..2], bias)
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

/// Reference Gemm: `Y = alpha·op(A)·op(B) + beta·C`.
///
/// Float path (any float input, or alpha/beta ≠ 1): every product element is accumulated in
/// f32 from 0 in increasing `k`, then `alpha·acc + beta·C` (C skipped when absent or
/// `beta = 0`). Integer path: exact wrapping i64 accumulation, `+ C`, wrapped to the output
/// dtype.
pub fn eval_gemm(g: &Gemm, inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let (a, b) = (arg(inputs, 0)?, arg(inputs, 1)?);
    let c = inputs.get(2).copied();
    let out = infer_gemm(g, &type_of(a), &type_of(b), c.map(type_of).as_ref())
        .map_err(IrError::Tensor)?;
    let (m, k) = match (a.shape(), g.trans_a) {
        ([k], _) => (1, *k),
        ([m, k], false) | ([k, m], true) => (*m, *k),
        _ => return Err(IrError::Tensor("A must have rank 1 or 2".into())),
    };
    let n = *out.shape.last().unwrap_or(&1);
    // A rank-1 A is one contiguous row whatever trans_a says.
    let trans_a = g.trans_a && a.rank() == 2;
    let c_map = match c {
        Some(c) if !(out.dtype.is_float() && g.beta == 0.0) => {
            Some((c, crate::broadcast::index_map(c.shape(), &out.shape)?))
        }
        _ => None,
    };
    if out.dtype.is_int() {
        let mut y = vec![0i64; m * n];
        gemm_kernel(
            i64_data(a)?,
            i64_data(b)?,
            m,
            k,
            n,
            trans_a,
            g.trans_b,
            &mut y,
        );
        if let Some((c, map)) = c_map {
            let cv = i64_data(c)?;
            for (yv, ci) in y.iter_mut().zip(map) {
                *yv = yv.plus(cv[ci]);
            }
        }
        return wrapped_tensor(out.dtype, out.shape, y);
    }
    let mut y = vec![0f32; m * n];
    gemm_kernel(
        &f32_data(a),
        &f32_data(b),
        m,
        k,
        n,
        trans_a,
        g.trans_b,
        &mut y,
    );
    if g.alpha != 1.0 {
        for v in &mut y {
            *v *= g.alpha;
        }
    }
    if let Some((c, map)) = c_map {
        let cv = f32_data(c);
        for (yv, ci) in y.iter_mut().zip(map) {
            *yv += g.beta * cv[ci];
        }
    }
    Tensor::from_f32(out.shape, y)
}

/// Reference MatMul (NumPy semantics). Each output element is accumulated from 0 in increasing
/// `k`: in f32 when either input is a float, else exactly (wrapping i64) and wrapped to the
/// output dtype.
pub fn eval_matmul(inputs: &[&Tensor]) -> Result<Tensor, IrError> {
    let (a, b) = (arg(inputs, 0)?, arg(inputs, 1)?);
    let plan = MatMulPlan::new(a.shape(), b.shape()).map_err(IrError::Tensor)?;
    let dtype = accum_dtype(&[a.dtype(), b.dtype()]);
    let a_map = crate::broadcast::index_map(&plan.a_batch, &plan.batch)?;
    let b_map = crate::broadcast::index_map(&plan.b_batch, &plan.batch)?;
    let (m, k, n) = (plan.m, plan.k, plan.n);
    if dtype.is_int() {
        let y = batched(i64_data(a)?, i64_data(b)?, &a_map, &b_map, m, k, n);
        return wrapped_tensor(dtype, plan.out_shape, y);
    }
    let y = batched(&f32_data(a), &f32_data(b), &a_map, &b_map, m, k, n);
    Tensor::from_f32(plan.out_shape, y)
}

/// One `m×k · k×n` product per batch element; `a_map`/`b_map` give the broadcast batch index.
fn batched<T: Acc>(
    a: &[T],
    b: &[T],
    a_map: &[usize],
    b_map: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Vec<T> {
    let mut y = vec![T::ZERO; a_map.len() * m * n];
    if m * n == 0 {
        return y;
    }
    for ((out, ai), bi) in y.chunks_exact_mut(m * n).zip(a_map).zip(b_map) {
        let a_mat = &a[ai * m * k..(ai + 1) * m * k];
        let b_mat = &b[bi * k * n..(bi + 1) * k * n];
        gemm_kernel(a_mat, b_mat, m, k, n, false, false, out);
    }
    y
}

/// `out[m×n] = op(a) · op(b)`. Every output element is accumulated from zero in increasing `k`
/// whatever the loop order, so both orders below give identical results. Without `trans_b` the
/// loop runs i-k-j (rows of `b` and `out` are read contiguously); with it, i-j-k (rows of `a` and
/// `b` are both contiguous).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_kernel<T: Acc>(
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    out: &mut [T],
) {
    if m == 0 || n == 0 {
        return;
    }
    let a_at = |i: usize, p: usize| if trans_a { a[p * m + i] } else { a[i * k + p] };
    if trans_b {
        for (i, row) in out.chunks_exact_mut(n).enumerate().take(m) {
            for (j, o) in row.iter_mut().enumerate() {
                let b_row = &b[j * k..(j + 1) * k];
                let mut acc = T::ZERO;
                if trans_a {
                    for (p, bv) in b_row.iter().enumerate() {
                        acc = acc.mac(a_at(i, p), *bv);
                    }
                } else {
                    for (av, bv) in a[i * k..(i + 1) * k].iter().zip(b_row) {
                        acc = acc.mac(*av, *bv);
                    }
                }
                *o = acc;
            }
        }
    } else {
        for (i, row) in out.chunks_exact_mut(n).enumerate().take(m) {
            row.fill(T::ZERO);
            for (p, b_row) in b.chunks_exact(n).enumerate().take(k) {
                let av = a_at(i, p);
                for (o, bv) in row.iter_mut().zip(b_row) {
                    *o = o.mac(av, *bv);
                }
            }
        }
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
        assert_eq!(infer_gemm(&g, &a, &b, Some(&c)).unwrap().dtype, DType::I32);
        let c64 = t(DType::I64, &[2]);
        assert_eq!(
            infer_gemm(&g, &a, &b, Some(&c64)).unwrap().dtype,
            DType::I64
        );
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

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    fn i(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64(dtype, shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn gemm_values_with_every_transpose() {
        // A·B = [[4,5],[10,11]]; 2·AB + 0.5·[10,20] = [[13,20],[25,32]].
        let a = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let at = f(&[3, 2], &[1., 4., 2., 5., 3., 6.]);
        let b = f(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
        let bt = f(&[2, 3], &[1., 0., 1., 0., 1., 1.]);
        let c = f(&[2], &[10., 20.]);
        let want = [13., 20., 25., 32.];
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let g = Gemm {
                alpha: 2.0,
                beta: 0.5,
                trans_a: ta,
                trans_b: tb,
            };
            let y = eval_gemm(
                &g,
                &[if ta { &at } else { &a }, if tb { &bt } else { &b }, &c],
            )
            .unwrap();
            assert_eq!(y.shape(), &[2, 2]);
            assert_eq!(y.as_f32().unwrap(), &want, "trans_a {ta} trans_b {tb}");
        }
    }

    #[test]
    fn gemm_rank1_and_column_bias() {
        let b = f(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
        let y = eval_gemm(&Gemm::default(), &[&f(&[3], &[1., 2., 3.]), &b]).unwrap();
        assert_eq!(y.shape(), &[2]);
        assert_eq!(y.as_f32().unwrap(), &[4., 5.]);
        let a = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let col = f(&[2, 1], &[100., 200.]);
        let y = eval_gemm(&Gemm::default(), &[&a, &b, &col]).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[104., 105., 210., 211.]);
    }

    #[test]
    fn gemm_integer_is_exact_and_wraps_to_i32() {
        let a = i(DType::I8, &[1, 3], &[-128, 127, 5]);
        let b = i(DType::I8, &[3, 1], &[-128, 127, -3]);
        let c = i(DType::I8, &[1], &[7]);
        let y = eval_gemm(&Gemm::default(), &[&a, &b, &c]).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.as_i64().unwrap(), &[16384 + 16129 - 15 + 7]);
        // 3 · 32767² = 3221028867 does not fit i32: it wraps like an i32 accumulator.
        let a = i(DType::I16, &[1, 3], &[32767; 3]);
        let b = i(DType::I16, &[3, 1], &[32767; 3]);
        let y = eval_gemm(&Gemm::default(), &[&a, &b]).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[3221028867 - (1 << 32)]);
    }

    #[test]
    fn gemm_rejects_bad_shapes() {
        let a = f(&[2, 3], &[0.; 6]);
        let e = eval_gemm(&Gemm::default(), &[&a, &a]).unwrap_err();
        assert!(e.to_string().contains("inner dimensions differ"));
        assert!(eval_gemm(&Gemm::default(), &[&a]).is_err());
    }

    #[test]
    fn matmul_values_with_broadcast_batches() {
        // a: two 2×2 matrices; b: one 2×1 column shared by both.
        let a = f(&[2, 2, 2], &[1., 2., 3., 4., 5., 6., 7., 8.]);
        let b = f(&[2, 1], &[1., -1.]);
        let y = eval_matmul(&[&a, &b]).unwrap();
        assert_eq!(y.shape(), &[2, 2, 1]);
        assert_eq!(y.as_f32().unwrap(), &[-1., -1., -1., -1.]);
        let v = f(&[2], &[1., 1.]);
        let y = eval_matmul(&[&v, &a]).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_f32().unwrap(), &[4., 6., 12., 14.]);
        let ai = i(DType::I8, &[1, 2], &[3, -4]);
        let bi = i(DType::U8, &[2, 2], &[1, 2, 255, 0]);
        let y = eval_matmul(&[&ai, &bi]).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert_eq!(y.as_i64().unwrap(), &[3 - 1020, 6]);
    }

    #[test]
    fn large_matrix_vector_product() {
        // 1×1024 · 1024×1024 of ones and small integers: exact in f32.
        let k = 1024;
        let a = Tensor::full_f32(vec![1, k], 1.0);
        let b = Tensor::from_f32(vec![k, k], (0..k * k).map(|v| (v % 7) as f32).collect()).unwrap();
        let y = eval_gemm(&Gemm::default(), &[&a, &b]).unwrap();
        let want: f32 = (0..k).map(|r| ((r * k) % 7) as f32).sum();
        assert_eq!(y.as_f32().unwrap()[0], want);
    }
}
