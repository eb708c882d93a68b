//! Evaluations too large for one tape, cut into chunks: each chunk small enough that a tape
//! for it stays within [`EVALUATION_BUDGET`] entries, every chunk on rayon's threads with a
//! generator of its own.
//!
//! The chunks' seeds are drawn from the caller's generator in chunk order before any chunk
//! runs, and the results come back in chunk order: what an evaluation returns depends on how
//! its work is cut, never on the number of threads or on which thread ran which chunk. How
//! the results combine (a sum of bounds, draws stacked) is the caller's.

use crate::error::Result;
use crate::memory::EVALUATION_BUDGET;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

/// How many items of `entries_each` entries each (a row's particles × columns, a draw's data
/// rows) one tape holds within [`EVALUATION_BUDGET`]: as many as fit, and at least one, so
/// that an item larger than the budget is still evaluated, alone.
pub(crate) fn per_tape(entries_each: usize) -> usize {
    (EVALUATION_BUDGET / entries_each.max(1)).max(1)
}

/// `0 .. n` cut into consecutive spans of `size` (the last one shorter if `size` does not
/// divide `n`), as (start, length).
///
/// # Panics
/// If `size` is 0.
pub(crate) fn spans(n: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(size)
        .map(move |start| (start, size.min(n - start)))
}

/// `work(chunk, rng)` for every chunk on rayon's threads, each chunk's `rng` seeded with the
/// next `u64` of `rng` (one a chunk, in the chunks' order, all drawn before any chunk runs),
/// and the results in the chunks' order; an error of any chunk is the result.
///
/// # Errors
/// What `work` reports.
pub(crate) fn run_seeded<C, O, R, F>(chunks: &[C], rng: &mut R, work: F) -> Result<Vec<O>>
where
    C: Sync,
    O: Send,
    R: Rng + ?Sized,
    F: Fn(&C, &mut Pcg64) -> Result<O> + Sync,
{
    let seeds: Vec<u64> = chunks.iter().map(|_| rng.next_u64()).collect();
    chunks
        .par_iter()
        .zip(seeds)
        .map(|(chunk, seed)| work(chunk, &mut Pcg64::seed_from_u64(seed)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn per_tape_fills_the_budget_and_takes_at_least_one() {
        assert_eq!(per_tape(1), EVALUATION_BUDGET);
        assert_eq!(per_tape(0), EVALUATION_BUDGET);
        assert_eq!(per_tape(1000), EVALUATION_BUDGET / 1000);
        assert_eq!(per_tape(EVALUATION_BUDGET), 1);
        assert_eq!(per_tape(EVALUATION_BUDGET + 1), 1);
        assert_eq!(per_tape(usize::MAX), 1);
    }

    #[test]
    fn spans_cover_every_index_once_in_order() {
        let cut: Vec<_> = spans(10, 3).collect();
        assert_eq!(cut, [(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(spans(0, 4).count(), 0);
        for n in 0..40 {
            for size in 1..12 {
                let covered: Vec<usize> = spans(n, size).flat_map(|(s, l)| s..s + l).collect();
                assert_eq!(
                    covered,
                    (0..n).collect::<Vec<_>>(),
                    "n = {n}, size = {size}"
                );
                assert!(spans(n, size).all(|(_, l)| 1 <= l && l <= size));
            }
        }
    }

    /// A chunk's work: `len` values of its own generator.
    fn draws(len: &usize, rng: &mut Pcg64) -> Result<Vec<u64>> {
        Ok((0..*len).map(|_| rng.next_u64() >> 12).collect())
    }

    /// What `run_seeded` must give: the chunks one after another on this thread, each with the
    /// next seed of `rng`.
    fn in_sequence(lens: &[usize], rng: &mut Pcg64) -> Vec<Vec<u64>> {
        let seeds: Vec<u64> = lens.iter().map(|_| rng.next_u64()).collect();
        lens.iter()
            .zip(seeds)
            .map(|(len, seed)| draws(len, &mut Pcg64::seed_from_u64(seed)).unwrap())
            .collect()
    }

    #[test]
    fn chunks_give_the_sequential_results_on_one_and_on_several_threads() {
        // More chunks than threads, of uneven lengths, so that threads steal work in turn.
        let lens: Vec<usize> = spans(1000, 7).map(|(_, l)| l).collect();
        let expected = in_sequence(&lens, &mut Pcg64::seed_from_u64(11));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut rng = Pcg64::seed_from_u64(11);
            let got = pool.install(|| run_seeded(&lens, &mut rng, draws)).unwrap();
            assert_eq!(got, expected, "{threads} threads");
            // One value of the caller's generator a chunk, no more.
            let mut after = Pcg64::seed_from_u64(11);
            for _ in &lens {
                after.next_u64();
            }
            assert_eq!(rng.next_u64(), after.next_u64());
        }
    }

    #[test]
    fn a_deterministic_sum_is_the_same_cut_in_chunks_or_whole() {
        // Work that draws nothing: cutting it must neither lose nor repeat an item.
        let values: Vec<f64> = (0..1000).map(|i| (i as f64).sqrt()).collect();
        let whole: f64 = values.iter().sum();
        let cut: Vec<(usize, usize)> = spans(values.len(), 64).collect();
        let rng = &mut Pcg64::seed_from_u64(0);
        let parts = run_seeded(&cut, rng, |&(start, len), _| {
            Ok(values[start..start + len].iter().sum::<f64>())
        })
        .unwrap();
        let sum: f64 = parts.iter().sum();
        assert!((sum - whole).abs() < 1e-9 * whole, "{sum} vs {whole}");
    }

    #[test]
    fn a_failing_chunk_fails_the_run() {
        let rng = &mut Pcg64::seed_from_u64(0);
        let outcome = run_seeded(&[1, 2, 3], rng, |&c, _| {
            if c == 2 {
                Err(Error::invalid("chunk", c, "not 2"))
            } else {
                Ok(c)
            }
        });
        assert!(matches!(outcome, Err(Error::InvalidParameter { .. })));
    }
}
