//! Bit packing of ±1 tensors (DESIGN.md §4), for targets and for size reports: bit 1 means −1,
//! values are packed LSB-first along the reduction axis into 32-bit words, and the last word of
//! a row is padded with 0 bits. The dot product of two packed rows of length K is
//! `K − 2·popcount(a XOR w)`; padding bits are 0 in both operands, so they never count.

/// Pack one row of ±1 values. Fails on any other value (a zero cannot be packed).
pub fn pack_row(values: &[i64]) -> Result<Vec<u32>, String> {
    let mut words = vec![0u32; values.len().div_ceil(32)];
    for (i, v) in values.iter().enumerate() {
        match v {
            1 => {}
            -1 => words[i / 32] |= 1 << (i % 32),
            other => return Err(format!("value {other} at index {i} is not ±1")),
        }
    }
    Ok(words)
}

/// Pack a row-major `[rows, k]` matrix row by row (each row starts a new word).
pub fn pack_rows(values: &[i64], k: usize) -> Result<Vec<Vec<u32>>, String> {
    if k == 0 || values.len() % k != 0 {
        return Err(format!(
            "{} values do not form rows of length {k}",
            values.len()
        ));
    }
    values.chunks(k).map(pack_row).collect()
}

/// The ±1 values of a packed row of length `k`.
pub fn unpack_row(words: &[u32], k: usize) -> Vec<i64> {
    (0..k)
        .map(|i| {
            let bit = words.get(i / 32).map_or(0, |w| (w >> (i % 32)) & 1);
            if bit == 1 {
                -1
            } else {
                1
            }
        })
        .collect()
}

/// Dot product of two packed rows of length `k`: `k − 2·popcount(a XOR b)`.
pub fn packed_dot(a: &[u32], b: &[u32], k: usize) -> i64 {
    let differ: u32 = a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum();
    k as i64 - 2 * i64::from(differ)
}

/// Bytes a `[rows, k]` ±1 matrix takes packed (each row padded to whole 32-bit words).
pub fn packed_bytes(rows: usize, k: usize) -> usize {
    rows * k.div_ceil(32) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_lsb_first_with_one_meaning_minus_one() {
        let w = pack_row(&[-1, 1, 1, -1]).unwrap();
        assert_eq!(w, vec![0b1001]);
        let long: Vec<i64> = (0..33).map(|i| if i == 32 { -1 } else { 1 }).collect();
        assert_eq!(pack_row(&long).unwrap(), vec![0, 1]);
        assert!(pack_row(&[1, 0]).is_err());
        assert_eq!(unpack_row(&[0b1001], 4), vec![-1, 1, 1, -1]);
    }

    #[test]
    fn packed_dot_equals_integer_dot() {
        // A fixed pseudo-random pattern of lengths around the word boundary.
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (seed >> 33) & 1 == 1 {
                1i64
            } else {
                -1
            }
        };
        for k in [1usize, 7, 31, 32, 33, 64, 100] {
            let a: Vec<i64> = (0..k).map(|_| next()).collect();
            let b: Vec<i64> = (0..k).map(|_| next()).collect();
            let want: i64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let got = packed_dot(&pack_row(&a).unwrap(), &pack_row(&b).unwrap(), k);
            assert_eq!(got, want, "k = {k}");
            assert_eq!(unpack_row(&pack_row(&a).unwrap(), k), a);
        }
    }

    #[test]
    fn rows_and_sizes() {
        let rows = pack_rows(&[1, -1, 1, 1, 1, -1], 3).unwrap();
        assert_eq!(rows, vec![vec![0b010], vec![0b100]]);
        assert!(pack_rows(&[1, 1, 1], 2).is_err());
        assert_eq!(packed_bytes(256, 64), 256 * 8);
        assert_eq!(packed_bytes(10, 33), 10 * 8);
    }
}
