//! A sparse synapse format: compressed sparse rows (CSR).
//!
//! The IR keeps pruned weights as dense constants with zeros, so every pass and the interpreter
//! see one representation; reports and backends convert a layer to CSR when it pays off
//! ([`Csr::bytes`] against [`Csr::dense_bytes`]). A weight tensor is viewed as a matrix of
//! `rows = shape[0]` (output neurons / channels) by `cols = the product of the other dimensions`.
//!
//! Layout: `row_ptr` (`rows + 1` offsets, u32), `col_idx` (one column index per stored value,
//! in increasing column order within a row; stored in the narrowest of u8/u16/u32 that holds
//! `cols − 1`), `values` (the nonzero values in the same order).

/// A matrix in compressed sparse row form.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr<T> {
    pub rows: usize,
    pub cols: usize,
    /// `row_ptr[r]..row_ptr[r + 1]` indexes row `r`'s entries in `col_idx` and `values`.
    pub row_ptr: Vec<u32>,
    pub col_idx: Vec<u32>,
    pub values: Vec<T>,
}

impl<T: Copy + PartialEq + Default> Csr<T> {
    /// The nonzero entries of a row-major `[rows, cols]` matrix (zero is `T::default()`).
    /// Fails when the data does not have `rows · cols` elements or has more than `u32::MAX`
    /// nonzeros.
    pub fn from_dense(rows: usize, cols: usize, dense: &[T]) -> Result<Self, String> {
        if rows.checked_mul(cols) != Some(dense.len()) {
            return Err(format!(
                "{} values do not form a {rows}×{cols} matrix",
                dense.len()
            ));
        }
        let zero = T::default();
        let mut row_ptr = Vec::with_capacity(rows + 1);
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        row_ptr.push(0);
        for r in 0..rows {
            for (c, v) in dense[r * cols..(r + 1) * cols].iter().enumerate() {
                if *v != zero {
                    col_idx.push(u32::try_from(c).map_err(|_| "too many columns".to_string())?);
                    values.push(*v);
                }
            }
            row_ptr.push(u32::try_from(values.len()).map_err(|_| "too many nonzeros".to_string())?);
        }
        Ok(Csr {
            rows,
            cols,
            row_ptr,
            col_idx,
            values,
        })
    }

    /// Back to the row-major dense matrix. Entries outside the matrix (possible only in a
    /// hand-built `Csr`) are ignored.
    pub fn to_dense(&self) -> Vec<T> {
        let mut out = vec![T::default(); self.rows * self.cols];
        for r in 0..self.rows {
            let (Some(&a), Some(&b)) = (self.row_ptr.get(r), self.row_ptr.get(r + 1)) else {
                break;
            };
            for k in a as usize..b as usize {
                let (Some(&c), Some(&v)) = (self.col_idx.get(k), self.values.get(k)) else {
                    break;
                };
                if let Some(slot) = out
                    .get_mut(r * self.cols + c as usize)
                    .filter(|_| (c as usize) < self.cols)
                {
                    *slot = v;
                }
            }
        }
        out
    }

    /// Stored (nonzero) entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Fraction of zero entries.
    pub fn sparsity(&self) -> f64 {
        let n = self.rows * self.cols;
        if n == 0 {
            0.0
        } else {
            1.0 - self.nnz() as f64 / n as f64
        }
    }

    /// Bytes of the CSR form with values of `value_bits` bits each (values packed, rounded up
    /// to whole bytes).
    pub fn bytes(&self, value_bits: usize) -> usize {
        (self.rows + 1) * 4
            + self.nnz() * index_bytes(self.cols)
            + (self.nnz() * value_bits).div_ceil(8)
    }

    /// Bytes of the dense form with values of `value_bits` bits each.
    pub fn dense_bytes(&self, value_bits: usize) -> usize {
        (self.rows * self.cols * value_bits).div_ceil(8)
    }

    /// True when the CSR form is smaller than the dense one.
    pub fn pays_off(&self, value_bits: usize) -> bool {
        self.bytes(value_bits) < self.dense_bytes(value_bits)
    }
}

/// Bytes of one column index for a matrix with `cols` columns.
pub fn index_bytes(cols: usize) -> usize {
    match cols {
        0..=256 => 1,
        257..=65_536 => 2,
        _ => 4,
    }
}

impl Csr<f32> {
    /// A weight tensor as CSR: `shape[0]` rows (output neurons / channels) by the product of
    /// the other dimensions; integer tensors convert to f32 (exact up to 2^24).
    pub fn from_tensor(t: &snnc_ir::Tensor) -> Result<Self, String> {
        let rows = t.shape().first().copied().unwrap_or(1);
        let cols = t.len().checked_div(rows).unwrap_or(0);
        Csr::from_dense(rows, cols, &t.to_f32_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let dense = [0.0f32, 1.5, 0.0, -2.0, 0.0, 0.0, 0.0, 3.0, 4.0];
        let m = Csr::from_dense(3, 3, &dense).unwrap();
        assert_eq!(m.row_ptr, vec![0, 1, 2, 4]);
        assert_eq!(m.col_idx, vec![1, 0, 1, 2]);
        assert_eq!(m.values, vec![1.5, -2.0, 3.0, 4.0]);
        assert_eq!(m.nnz(), 4);
        assert!((m.sparsity() - 5.0 / 9.0).abs() < 1e-12);
        assert_eq!(m.to_dense(), dense.to_vec());
        assert!(Csr::from_dense(2, 2, &dense).is_err());
        let t = snnc_ir::Tensor::from_f32(vec![3, 1, 3], dense.to_vec()).unwrap();
        assert_eq!(Csr::from_tensor(&t).unwrap(), m);
        let ints = Csr::from_dense(1, 4, &[0i64, 3, 0, -1]).unwrap();
        assert_eq!(ints.to_dense(), vec![0, 3, 0, -1]);
    }

    #[test]
    fn sizes_decide_when_sparse_pays_off() {
        // 128×64 f32 at 80 % sparsity: 129·4 + 1638·(1 + 4) = 8706 bytes vs 32768 dense.
        let n = 128 * 64;
        let dense: Vec<f32> = (0..n).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
        let m = Csr::from_dense(128, 64, &dense).unwrap();
        assert_eq!(m.nnz(), 1639);
        assert_eq!(m.bytes(32), 129 * 4 + 1639 * 5);
        assert_eq!(m.dense_bytes(32), 32768);
        assert!(m.pays_off(32));
        // A dense 8-bit matrix does not pay off.
        let full = Csr::from_dense(4, 4, &[1i64; 16]).unwrap();
        assert!(!full.pays_off(8));
        assert_eq!(index_bytes(256), 1);
        assert_eq!(index_bytes(257), 2);
        assert_eq!(index_bytes(70_000), 4);
    }
}
