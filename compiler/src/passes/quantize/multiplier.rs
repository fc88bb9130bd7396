//! The fixed-point multiplier of a requantization: the integer pair `(m, s)` with
//! `m·2^(−s) ≈ s_x·s_w / s_y` that [`snnc_ir::op::Requant`] applies to an accumulator.
//!
//! How it is computed (docs/semantics.md §8.4): the three scales are f32 values, i.e. exact
//! dyadic rationals `mant·2^exp` with `mant < 2^24`. Their ratio `r = s_x·s_w / s_y` is therefore
//! an exact rational `N/D·2^E` (`N < 2^48`, `D < 2^24`), and
//! `m = round_half_even(r·2^s)` is computed exactly in 128-bit integer arithmetic, with `s`
//! chosen so that `m` is *normalized*: `2^30 ≤ m < 2^31` (31 significant bits, the largest
//! multiplier [`snnc_ir::op::int::REQUANT_MULTIPLIER_LIMIT`] allows). The relative error of
//! `m·2^(−s)` against the exact ratio is then at most `2^(−31)`. When that would need `s > 62`
//! (a ratio below `2^(−32)`), `s = 62` and `m` keeps fewer bits (possibly 0: the accumulator
//! cannot move the output); a ratio of `2^31` or more is an error.

use snnc_ir::op::int::{REQUANT_MAX_SHIFT, REQUANT_MULTIPLIER_LIMIT};

/// A requantization multiplier: `value ≈ multiplier · 2^(−shift)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedPoint {
    pub multiplier: i64,
    pub shift: i64,
}

impl FixedPoint {
    /// The real number the pair stands for (for reports and tests).
    pub fn value(self) -> f64 {
        self.multiplier as f64 * (-(self.shift as f64)).exp2()
    }

    /// True when `m·2^(−s)` equals the ratio exactly (then the accumulator can land exactly on
    /// a rounding tie, which Requant rounds half up).
    pub fn is_exact_for(self, num: &[f32], den: f32) -> bool {
        let Some(r) = Ratio::new(num, den) else {
            return false;
        };
        // m·2^-s == N/D·2^E  <=>  m·D·2^(-s-E) == N
        let lhs = u128::from(self.multiplier as u64) * r.d;
        let k = -self.shift - r.e;
        match shifted(lhs, k) {
            Some((v, exact)) => exact && v == r.n,
            None => false,
        }
    }
}

/// An f32 as `mant · 2^exp` (exact), for positive finite values.
fn decompose(v: f32) -> Option<(u128, i64)> {
    if !(v.is_finite() && v > 0.0) {
        return None;
    }
    let bits = v.to_bits();
    let exp_bits = ((bits >> 23) & 0xff) as i64;
    let frac = u128::from(bits & 0x7f_ffff);
    Some(if exp_bits == 0 {
        (frac, -149)
    } else {
        (frac | (1 << 23), exp_bits - 150)
    })
}

/// `v·2^k` for a possibly negative `k`, with whether it is exact; `None` on overflow.
fn shifted(v: u128, k: i64) -> Option<(u128, bool)> {
    if k >= 0 {
        let k = u32::try_from(k).ok()?;
        if k >= 128 || (v != 0 && v.leading_zeros() < k) {
            return None;
        }
        Some((v << k, true))
    } else {
        let k = u32::try_from(-k).ok()?;
        if k >= 128 {
            return Some((0, v == 0));
        }
        Some((v >> k, v & ((1u128 << k) - 1) == 0))
    }
}

/// The exact ratio `Π num / den = n/d · 2^e`.
struct Ratio {
    n: u128,
    d: u128,
    e: i64,
}

impl Ratio {
    fn new(num: &[f32], den: f32) -> Option<Self> {
        let (mut n, mut e) = (1u128, 0i64);
        for v in num {
            let (m, x) = decompose(*v)?;
            n = n.checked_mul(m)?;
            e += x;
        }
        let (d, x) = decompose(den)?;
        Some(Ratio { n, d, e: e - x })
    }

    /// `round_half_even(n/d · 2^k)`, or `None` when it does not fit.
    fn round_scaled(&self, k: i64) -> Option<u128> {
        let (num, den) = if k >= 0 {
            (shifted(self.n, k)?.0, self.d)
        } else {
            (self.n, shifted(self.d, -k)?.0)
        };
        let (q, r) = (num / den, num % den);
        let twice = r.checked_mul(2)?;
        Some(if twice > den || (twice == den && q % 2 == 1) {
            q + 1
        } else {
            q
        })
    }
}

/// Why a ratio has no fixed-point form.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioError(pub String);

/// The normalized fixed-point form of `Π num / den` (all positive finite f32), e.g.
/// `fixed_point(&[s_x, s_w], s_y)`. See the module docs for the rounding.
pub fn fixed_point(num: &[f32], den: f32) -> Result<FixedPoint, RatioError> {
    let r = Ratio::new(num, den).ok_or_else(|| {
        RatioError(format!(
            "scales {num:?} / {den} are not positive finite numbers"
        ))
    })?;
    let bits = |v: u128| 128 - i64::from(v.leading_zeros());
    // n/d·2^k lies in [2^(bn-bd-1+k), 2^(bn-bd+1+k)): start just below 2^30 and step up.
    let mut k = 30 - (bits(r.n) - bits(r.d)) - 1;
    let limit = REQUANT_MULTIPLIER_LIMIT as u128;
    let mut m = r.round_scaled(k).ok_or_else(|| overflow(num, den))?;
    while m < limit / 2 {
        k += 1;
        m = r.round_scaled(k).ok_or_else(|| overflow(num, den))?;
    }
    while m >= limit {
        k -= 1;
        m = r.round_scaled(k).ok_or_else(|| overflow(num, den))?;
    }
    // m ≈ n/d·2^k = r·2^(k−e): the shift is k − e.
    let mut shift = k - r.e;
    if shift < 0 {
        return Err(RatioError(format!(
            "the scale ratio {:e} is 2^31 or more: no 31-bit multiplier with a right shift represents it",
            ratio_f64(num, den)
        )));
    }
    if shift > REQUANT_MAX_SHIFT {
        shift = REQUANT_MAX_SHIFT;
        m = r
            .round_scaled(shift + r.e)
            .ok_or_else(|| overflow(num, den))?;
    }
    Ok(FixedPoint {
        multiplier: m as i64,
        shift,
    })
}

fn ratio_f64(num: &[f32], den: f32) -> f64 {
    num.iter().map(|v| f64::from(*v)).product::<f64>() / f64::from(den)
}

fn overflow(num: &[f32], den: f32) -> RatioError {
    RatioError(format!(
        "the scale ratio {:e} is out of range",
        ratio_f64(num, den)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_and_accurate() {
        let cases: [(&[f32], f32); 5] = [
            (&[0.008162711, 0.006865564], 0.012604949),
            (&[0.012604949, 0.005305369], 0.03946217),
            (&[1.0], 3.0),
            (&[1.0 / 255.0, 0.004], 0.1),
            (&[0.5], 1.0),
        ];
        for (num, den) in cases {
            let fp = fixed_point(num, den).unwrap();
            assert!(
                (1 << 30..1 << 31).contains(&fp.multiplier),
                "{num:?}/{den}: {fp:?}"
            );
            let exact = ratio_f64(num, den);
            assert!(
                ((fp.value() - exact) / exact).abs() <= 2f64.powi(-31),
                "{fp:?}"
            );
        }
    }

    #[test]
    fn exact_values() {
        // 1/3 = 0.0101...b: m = round(2^32/3) = 1431655765 (…765.33), s = 32.
        assert_eq!(
            fixed_point(&[1.0], 3.0).unwrap(),
            FixedPoint {
                multiplier: 1431655765,
                shift: 32
            }
        );
        // A power of two is exact: 0.5 = 2^30 · 2^-31.
        let half = fixed_point(&[0.5], 1.0).unwrap();
        assert_eq!(
            half,
            FixedPoint {
                multiplier: 1 << 30,
                shift: 31
            }
        );
        assert!(half.is_exact_for(&[0.5], 1.0));
        assert!(!fixed_point(&[1.0], 3.0).unwrap().is_exact_for(&[1.0], 3.0));
        // 3 · 2^-1 · 2^-2 / 1 = 0.375 exact too.
        let fp = fixed_point(&[3.0, 0.125], 1.0).unwrap();
        assert_eq!(fp.value(), 0.375);
        assert!(fp.is_exact_for(&[3.0, 0.125], 1.0));
    }

    #[test]
    fn rounds_half_to_even_at_the_last_bit() {
        // 65537 · 32769 = 2^31 + 2^16 + 2^15 + 1 (odd), so r = that / 2^32 gives
        // r·2^31 = 1073790976.5 exactly: a tie, rounded to the even 1073790976.
        let (a, b, c) = (65537.0f32, 32769.0f32, 2f32.powi(32));
        let fp = fixed_point(&[a, b], c).unwrap();
        assert_eq!(
            fp,
            FixedPoint {
                multiplier: 1073790976,
                shift: 31
            }
        );
        assert!(!fp.is_exact_for(&[a, b], c));
        // 2^31 · (1 + 2^-23) / 2^32 = 2^-1 + 2^-24: m = 2^30 + 2^7, exact.
        let (a, b) = ((1u64 << 31) as f32, 1.0 + f32::EPSILON);
        let fp = fixed_point(&[a, b], c).unwrap();
        assert_eq!(fp.multiplier, (1 << 30) + (1 << 7));
        assert!(fp.is_exact_for(&[a, b], c));
    }

    #[test]
    fn tiny_and_huge_ratios() {
        // 2^-40: shift capped at 62, multiplier 2^22.
        let tiny = 2f32.powi(-40);
        let fp = fixed_point(&[tiny], 1.0).unwrap();
        assert_eq!(fp.shift, 62);
        assert_eq!(fp.multiplier, 1 << 22);
        // 2^-70 rounds to 0 at shift 62.
        let fp = fixed_point(&[2f32.powi(-70)], 1.0).unwrap();
        assert_eq!(
            fp,
            FixedPoint {
                multiplier: 0,
                shift: 62
            }
        );
        // Ratios below 2^31 but above 1 still have a shift >= 0.
        let fp = fixed_point(&[1000.0], 1.0).unwrap();
        assert_eq!(fp.value(), 1000.0);
        assert!(fixed_point(&[2f32.powi(31)], 1.0).is_err());
        assert!(fixed_point(&[1.0], 0.0).is_err());
        assert!(fixed_point(&[f32::NAN], 1.0).is_err());
        // Subnormal scales decompose exactly.
        let sub = f32::from_bits(3);
        let fp = fixed_point(&[sub], sub).unwrap();
        assert_eq!(fp.value(), 1.0);
    }
}
