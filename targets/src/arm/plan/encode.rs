//! Tensors in the ARM storage format (`kernel.rs` header): the bytes of read-only values and the
//! packed words of binary weights.

use snnc_ir::{DType, Tensor};

/// Pack ±1 values (`rows × last`, row-major) LSB-first into u32 words per row, bit 1 meaning −1,
/// each row padded with 0 bits (DESIGN.md §4).
pub fn pack_bin_rows(values: &[i64], rows: usize, last: usize) -> Vec<u32> {
    let words = last.div_ceil(32);
    let mut out = vec![0u32; rows * words];
    for r in 0..rows {
        for k in 0..last {
            if values.get(r * last + k).is_some_and(|&v| v < 0) {
                out[r * words + k / 32] |= 1 << (k % 32);
            }
        }
    }
    out
}

/// The little-endian bytes of `t` in its dtype's storage format.
pub fn encode(t: &Tensor) -> Result<Vec<u8>, String> {
    let dt = t.dtype();
    if dt == DType::F32 {
        return Ok(t
            .to_f32_vec()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect());
    }
    let v = t.to_i64_vec().map_err(|e| e.to_string())?;
    Ok(match dt {
        DType::Bin => {
            let last = t.shape().last().copied().unwrap_or(1);
            let rows = v.len().checked_div(last).unwrap_or(0);
            pack_bin_rows(&v, rows, last)
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect()
        }
        DType::Bool | DType::U8 | DType::I8 => v.iter().map(|&e| e as u8).collect(),
        DType::I16 | DType::U16 => v.iter().flat_map(|&e| (e as u16).to_le_bytes()).collect(),
        DType::I32 | DType::U32 => v.iter().flat_map(|&e| (e as u32).to_le_bytes()).collect(),
        DType::I64 => v.iter().flat_map(|&e| e.to_le_bytes()).collect(),
        DType::F32 => Vec::new(),
    })
}

/// Decode `bytes` of a tensor of `dtype` and `shape` back to the interpreter's form (for
/// comparing a target's raw output with the reference).
pub fn decode(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, String> {
    let need = super::storage_bytes(dtype, shape);
    if bytes.len() != need {
        return Err(format!(
            "{} bytes for {dtype}{shape:?}, which needs {need}",
            bytes.len()
        ));
    }
    let n: usize = shape.iter().product();
    if dtype == DType::F32 {
        let v = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return Tensor::from_f32(shape.to_vec(), v).map_err(|e| e.to_string());
    }
    let v: Vec<i64> = match dtype {
        DType::Bin => {
            let last = shape.last().copied().unwrap_or(1);
            let words = last.div_ceil(32);
            (0..n)
                .map(|i| {
                    let (r, k) = (i / last.max(1), i % last.max(1));
                    let at = (r * words + k / 32) * 4;
                    let w = u32::from_le_bytes([
                        bytes[at],
                        bytes[at + 1],
                        bytes[at + 2],
                        bytes[at + 3],
                    ]);
                    if w >> (k % 32) & 1 == 1 {
                        -1
                    } else {
                        1
                    }
                })
                .collect()
        }
        DType::Bool | DType::U8 => bytes.iter().map(|&b| i64::from(b)).collect(),
        DType::I8 => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        DType::I16 => bytes
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::U16 => bytes
            .chunks_exact(2)
            .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I32 => bytes
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::U32 => bytes
            .chunks_exact(4)
            .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            })
            .collect(),
        DType::F32 => Vec::new(),
    };
    Tensor::from_i64(dtype, shape.to_vec(), v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_rows_pack_lsb_first_and_round_trip() {
        // Row 0: −1 at k = 0 and 33; row 1: all +1 (35 elements → 2 words per row).
        let mut v = vec![1i64; 70];
        v[0] = -1;
        v[33] = -1;
        assert_eq!(pack_bin_rows(&v, 2, 35), vec![1, 2, 0, 0]);
        let t = Tensor::from_i64(DType::Bin, vec![2, 35], v).unwrap();
        let bytes = encode(&t).unwrap();
        assert_eq!(bytes.len(), 16);
        assert_eq!(decode(DType::Bin, &[2, 35], &bytes).unwrap(), t);
    }

    #[test]
    fn integers_round_trip_and_sizes_are_checked() {
        let t = Tensor::from_i64(DType::I16, vec![3], vec![-2, 300, 7]).unwrap();
        let bytes = encode(&t).unwrap();
        assert_eq!(bytes, vec![0xfe, 0xff, 44, 1, 7, 0]);
        assert_eq!(decode(DType::I16, &[3], &bytes).unwrap(), t);
        assert!(decode(DType::I16, &[4], &bytes).is_err());
    }
}
