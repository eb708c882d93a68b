//! Softplus and the logistic function without calls into libm, so that loops over them compile
//! to vector instructions.
//!
//! libm's `expf` and `log1pf` are opaque calls: a loop over a 128 x 784 matrix of logits made
//! one call per entry and those calls were the largest cost after the matrix products (see
//! docs/benchmarks.md). Here both functions are straight-line code — range reduction, a
//! polynomial, exponent bits put in place, and selects instead of branches — that LLVM inlines and
//! vectorises. Accuracy: a few units in the last place in f32 and f64 over the whole line (the
//! tests compare with libm).

/// The per-type pieces: `exp` of a non-positive argument, `ln(1 + u)` for u in [0, 1]. Public
/// in a private module, as [`crate::Real`]'s supertrait: users see neither.
pub trait VectorMath: Copy {
    /// e^t for t <= 0 (0 where e^t is below the smallest normal number).
    fn exp_non_positive(t: Self) -> Self;
    /// ln(1 + u) for u in [0, 1].
    fn ln_1p_unit(u: Self) -> Self;
}

macro_rules! vector_math {
    ($t:ty, $bits:ty, $mantissa:expr, $bias:expr, $min_exp_arg:expr, ln2: [$ln2_hi:expr, $ln2_lo:expr],
     exp: [$($e:expr),*], atanh: [$($a:expr),*]) => {
        impl VectorMath for $t {
            #[inline(always)]
            fn exp_non_positive(t: $t) -> $t {
                // ln 2 = LN2_HI + LN2_LO, the first with few enough bits that n * LN2_HI is exact.
                const LN2_HI: $t = $ln2_hi;
                const LN2_LO: $t = $ln2_lo;
                let tiny = t < $min_exp_arg;
                let t = t.max($min_exp_arg);
                // t = n ln 2 + r with |r| <= ln 2 / 2; e^t = 2^n e^r.
                // n = round(t / ln 2) by adding and removing 1.5 * 2^mantissa: n then sits in the
                // low bits of `shifted`, so 2^n is built with integer arithmetic. (`round` and
                // `as i32` would be a libm call and a saturating conversion: no vectors.)
                const SHIFTER: $t = 1.5 * (1u64 << $mantissa) as $t;
                let shifted = t * std::f64::consts::LOG2_E as $t + SHIFTER;
                let n = shifted - SHIFTER;
                let r = (t - n * LN2_HI) - n * LN2_LO;
                // Taylor series of e^r by Horner's rule, highest power first.
                let mut p: $t = 0.0;
                $(p = p * r + $e;)*
                let n_bits = shifted.to_bits().wrapping_sub(SHIFTER.to_bits());
                let scale = <$t>::from_bits(n_bits.wrapping_add($bias) << $mantissa);
                if tiny { 0.0 } else { p * scale }
            }

            #[inline(always)]
            fn ln_1p_unit(u: $t) -> $t {
                let w = 1.0 + u;
                // w in [1, 2]: take out a factor 2 above √2 so that f is within [√½, √2].
                let big = w > std::f64::consts::SQRT_2 as $t;
                let f = if big { 0.5 * w } else { w };
                let k: $t = if big { 1.0 } else { 0.0 };
                // ln f = 2 atanh(s) = 2 s (1 + s²/3 + s⁴/5 + ...), s = (f − 1)/(f + 1).
                let s = (f - 1.0) / (f + 1.0);
                let s2 = s * s;
                let mut p: $t = 0.0;
                $(p = p * s2 + $a;)*
                let ln_w = k * std::f64::consts::LN_2 as $t + 2.0 * s * p;
                // w = 1 + u was rounded; ln(w) u / (w − 1) corrects for it (Goldberg 1991).
                let d = w - 1.0;
                if d == 0.0 { u } else { ln_w * (u / d) }
            }
        }
    };
}

vector_math!(f32, u32, 23, 127, -87.0, ln2: [0.693_145_75, 1.428_606_8e-6],
    exp: [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0],
    atanh: [1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0]);
vector_math!(f64, u64, 52, 1023, -708.0, ln2: [0.693_145_751_953_125, 1.428_606_820_309_417_2e-6],
    exp: [1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0,
          1.0 / 362_880.0, 1.0 / 40_320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
          1.0 / 6.0, 0.5, 1.0, 1.0],
    atanh: [1.0 / 23.0, 1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0,
            1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0]);

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f64> {
        (-4000..=4000)
            .map(|i| i as f64 * 0.025)
            .chain([-700.0, -100.0, -88.0, 1e-12, -1e-12])
    }

    #[test]
    fn exp_matches_libm_to_a_few_ulps() {
        for x in grid().filter(|&x| x <= 0.0) {
            let want = x.exp();
            let got = f64::exp_non_positive(x);
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want,
                "f64 exp({x})"
            );
            if x > -87.0 {
                let (got, want) = (f32::exp_non_positive(x as f32), (x as f32).exp());
                assert!(
                    (got - want).abs() <= 4.0 * f32::EPSILON * want,
                    "f32 exp({x})"
                );
            }
        }
    }

    #[test]
    fn exp_below_the_smallest_normal_is_zero() {
        assert_eq!(f32::exp_non_positive(-88.0), 0.0);
        assert_eq!(f32::exp_non_positive(f32::NEG_INFINITY), 0.0);
        assert_eq!(f64::exp_non_positive(-709.0), 0.0);
        assert_eq!(f64::exp_non_positive(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn ln_1p_matches_libm_to_a_few_ulps() {
        for i in 0..=20000 {
            let u = i as f64 / 20000.0;
            for u in [u, u * 1e-9, u * 1e-30] {
                let want = u.ln_1p();
                let got = f64::ln_1p_unit(u);
                assert!(
                    (got - want).abs() <= 4.0 * f64::EPSILON * want,
                    "f64 ln_1p({u})"
                );
                let (got, want) = (f32::ln_1p_unit(u as f32), (u as f32).ln_1p());
                assert!(
                    (got - want).abs() <= 4.0 * f32::EPSILON * want,
                    "f32 ln_1p({u})"
                );
            }
        }
    }
}
