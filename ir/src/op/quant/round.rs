//! Rounding of a float32 to an integral float32, in every mode QONNX names.

use super::RoundingMode;

impl RoundingMode {
    /// Round `x` to an integral value (still an `f32`, as the QONNX executor keeps it).
    ///
    /// Exact for every finite `x`: no mode adds 0.5 before truncating, which would round
    /// 0.49999997 up in float32. NaN and ±∞ are returned unchanged.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            RoundingMode::HalfEven => x.round_ties_even(),
            RoundingMode::HalfUp => x.round(),
            RoundingMode::HalfDown => {
                let t = x.trunc();
                // `x - t` is exact: both lie in the same binade or `t` is 0.
                if (x - t).abs() == 0.5 {
                    t
                } else {
                    x.round()
                }
            }
            RoundingMode::Ceil => x.ceil(),
            RoundingMode::Floor => x.floor(),
            RoundingMode::TowardZero => x.trunc(),
            RoundingMode::AwayFromZero => {
                if x < 0.0 {
                    x.floor()
                } else {
                    x.ceil()
                }
            }
        }
    }

    /// The mode a QONNX `rounding_mode` attribute names (case-insensitive), if any.
    pub fn from_qonnx(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "ROUND" | "HALF_EVEN" => RoundingMode::HalfEven,
            "HALF_UP" => RoundingMode::HalfUp,
            "HALF_DOWN" => RoundingMode::HalfDown,
            "CEIL" => RoundingMode::Ceil,
            "FLOOR" => RoundingMode::Floor,
            "DOWN" | "ROUND_TO_ZERO" => RoundingMode::TowardZero,
            "UP" => RoundingMode::AwayFromZero,
            _ => return None,
        })
    }

    /// The QONNX spelling of the mode (what [`RoundingMode::from_qonnx`] reads back).
    pub fn qonnx_name(self) -> &'static str {
        match self {
            RoundingMode::HalfEven => "ROUND",
            RoundingMode::HalfUp => "HALF_UP",
            RoundingMode::HalfDown => "HALF_DOWN",
            RoundingMode::Ceil => "CEIL",
            RoundingMode::Floor => "FLOOR",
            RoundingMode::TowardZero => "DOWN",
            RoundingMode::AwayFromZero => "UP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RoundingMode::{self, *};

    const MODES: [RoundingMode; 7] = [
        HalfEven,
        Ceil,
        Floor,
        AwayFromZero,
        TowardZero,
        HalfUp,
        HalfDown,
    ];

    /// The table of the QONNX Quant documentation, columns in the order of `MODES`.
    #[test]
    fn qonnx_rounding_table() {
        let table: [(f32, [f32; 7]); 10] = [
            (5.5, [6.0, 6.0, 5.0, 6.0, 5.0, 6.0, 5.0]),
            (2.5, [2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0]),
            (1.6, [2.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0]),
            (1.1, [1.0, 2.0, 1.0, 2.0, 1.0, 1.0, 1.0]),
            (1.0, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
            (-1.0, [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]),
            (-1.1, [-1.0, -1.0, -2.0, -2.0, -1.0, -1.0, -1.0]),
            (-1.6, [-2.0, -1.0, -2.0, -2.0, -1.0, -2.0, -2.0]),
            (-2.5, [-2.0, -2.0, -3.0, -3.0, -2.0, -3.0, -2.0]),
            (-5.5, [-6.0, -5.0, -6.0, -6.0, -5.0, -6.0, -5.0]),
        ];
        for (x, expected) in table {
            for (mode, want) in MODES.iter().zip(expected) {
                assert_eq!(mode.apply(x), want, "{mode:?}({x})");
            }
        }
    }

    #[test]
    fn no_add_half_bug_and_non_finite_pass_through() {
        let just_below_half = 0.499_999_97_f32;
        assert_eq!(HalfUp.apply(just_below_half), 0.0);
        assert_eq!(HalfDown.apply(-just_below_half), 0.0);
        assert_eq!(HalfEven.apply(0.5), 0.0);
        assert_eq!(HalfEven.apply(-0.5), 0.0);
        assert_eq!(HalfDown.apply(0.5000001), 1.0);
        assert!(Floor.apply(f32::NAN).is_nan());
        assert_eq!(Ceil.apply(f32::INFINITY), f32::INFINITY);
        assert_eq!(AwayFromZero.apply(-0.25), -1.0);
        assert_eq!(AwayFromZero.apply(0.0), 0.0);
    }

    #[test]
    fn qonnx_names_round_trip() {
        for mode in MODES {
            assert_eq!(RoundingMode::from_qonnx(mode.qonnx_name()), Some(mode));
        }
        assert_eq!(RoundingMode::from_qonnx("round"), Some(HalfEven));
        assert_eq!(RoundingMode::from_qonnx("ROUND_TO_ZERO"), Some(TowardZero));
        assert_eq!(RoundingMode::from_qonnx("STOCHASTIC"), None);
    }
}
