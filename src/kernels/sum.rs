//! Sums of long slices, in f64 with independent partial sums.
//!
//! A running sum fixes the order of its additions, and each waits for the previous one: about
//! 1 ns an entry (a 10⁶-entry log-likelihood row took 3.5 ms to add up). Sixteen partial sums,
//! added in a fixed order at the end, let the compiler keep them in vector registers. The
//! order depends only on the length, never on the CPU's vector width, so the bits do not either.
//!
//! The partial sums are f64 whatever the entries are: an f32 sum over a million rows loses
//! several digits to rounding, enough that the gradient of a regression's log joint did not
//! vanish at its mode and Newton's method never settled (see `infer::laplace`).

use super::wide::wide;
use crate::real::Real;

/// Partial sums kept apart.
const LANES: usize = 16;

/// Σ x_i, accumulated in f64 and rounded once: entry i goes to partial sum i mod 16 (the last
/// `len mod 16` entries to a tail summed in order), and the partial sums are added in order,
/// then the tail.
pub(crate) fn sum<T: Real>(x: &[T]) -> T {
    wide(x.len(), || {
        let chunks = x.chunks_exact(LANES);
        let tail = chunks
            .remainder()
            .iter()
            .fold(0.0f64, |a, &v| a + v.to_f64());
        let mut lanes = [0.0f64; LANES];
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += v.to_f64();
            }
        }
        T::of_f64(lanes.iter().fold(0.0, |a, &v| a + v) + tail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_agree_with_a_running_sum_of_exact_values() {
        // Integers below 2^24 add exactly in f32 in any order.
        for len in [0, 1, 15, 16, 17, 255, 256, 1000, 100_003] {
            let x: Vec<f32> = (0..len).map(|i| (i % 97) as f32 - 40.0).collect();
            let exact: i64 = (0..len).map(|i| (i % 97) as i64 - 40).sum();
            assert_eq!(sum(&x), exact as f32, "length {len}");
        }
    }

    #[test]
    fn a_long_f32_sum_is_the_correctly_rounded_one() {
        // A million entries near 1: an f32 running sum is off by thousands of ulps here.
        let x: Vec<f32> = (0..1_000_000)
            .map(|i| 1.0 + (i % 7) as f32 * 1e-3)
            .collect();
        let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let running = x.iter().fold(0.0f32, |a, &v| a + v);
        assert!((f64::from(running) - exact).abs() > 1.0);
        assert_eq!(sum(&x), exact as f32);
    }
}
