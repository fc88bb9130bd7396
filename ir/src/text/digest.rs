//! Digests that stand in for the data of large tensors when printing with elision.
//!
//! A snapshot of a big model should change when any weight changes, but should not hold
//! megabytes of numbers. The digest gives the element count, the sum, min and max (so a human
//! sees the scale of the values) and a 64-bit FNV-1a hash of the exact element bits (so any
//! change, even of one NaN payload, shows).

use std::fmt::Write;

use super::literal::{write_f32, write_f64};
use crate::{Data, Tensor};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(FNV_OFFSET)
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Append `elided(len=…, sum=…, min=…, max=…, fnv=0x…)` for `t`. Floats hash their
/// little-endian f32 bits, integers their little-endian i64 value. `min`/`max` skip NaNs and are
/// `none` when no element is left.
pub(crate) fn write_elided(out: &mut String, t: &Tensor) {
    let mut h = Fnv::new();
    let _ = write!(out, "elided(len={}, sum=", t.len());
    match t.data() {
        Data::F32(v) => {
            let mut sum = 0f64;
            let mut lo: Option<f32> = None;
            let mut hi: Option<f32> = None;
            for x in v {
                h.bytes(&x.to_bits().to_le_bytes());
                sum += f64::from(*x);
                if !x.is_nan() {
                    lo = Some(lo.map_or(*x, |m| m.min(*x)));
                    hi = Some(hi.map_or(*x, |m| m.max(*x)));
                }
            }
            write_f64(out, sum);
            for (key, v) in [(", min=", lo), (", max=", hi)] {
                out.push_str(key);
                match v {
                    Some(v) => write_f32(out, v),
                    None => out.push_str("none"),
                }
            }
        }
        Data::I64(v) => {
            let mut sum = 0i128;
            for x in v {
                h.bytes(&x.to_le_bytes());
                sum += i128::from(*x);
            }
            let _ = write!(out, "{sum}");
            for (key, v) in [(", min=", v.iter().min()), (", max=", v.iter().max())] {
                out.push_str(key);
                match v {
                    Some(v) => {
                        let _ = write!(out, "{v}");
                    }
                    None => out.push_str("none"),
                }
            }
        }
    }
    let _ = write!(out, ", fnv=0x{:016x})", h.finish());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        let mut h = Fnv::new();
        assert_eq!(h.finish(), 0xcbf29ce484222325);
        h.bytes(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
        let mut h = Fnv::new();
        h.bytes(b"foobar");
        assert_eq!(h.finish(), 0x85944171f73967e8);
    }

    #[test]
    fn digest_of_floats_and_ints() {
        let t = Tensor::from_f32(vec![3], vec![1.5, f32::NAN, -2.0]).unwrap();
        let mut s = String::new();
        write_elided(&mut s, &t);
        assert!(
            s.starts_with("elided(len=3, sum=nan, min=-2.0, max=1.5, fnv=0x"),
            "{s}"
        );
        let i = Tensor::from_i64(DType::I8, vec![2], vec![-7, 3]).unwrap();
        let mut s = String::new();
        write_elided(&mut s, &i);
        assert!(
            s.starts_with("elided(len=2, sum=-4, min=-7, max=3, fnv=0x"),
            "{s}"
        );
    }

    #[test]
    fn digest_sees_sign_of_zero() {
        let a = Tensor::from_f32(vec![1], vec![0.0]).unwrap();
        let b = Tensor::from_f32(vec![1], vec![-0.0]).unwrap();
        let (mut sa, mut sb) = (String::new(), String::new());
        write_elided(&mut sa, &a);
        write_elided(&mut sb, &b);
        assert_ne!(sa, sb);
    }
}
