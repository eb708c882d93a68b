//! Running a hot loop with the widest vector instructions the CPU has, and on every core when it
//! is long.
//!
//! The crate is compiled for baseline x86-64 (SSE2: four f32 lanes), so that one binary runs
//! everywhere. [`wide`] re-enters a closure through a function compiled for AVX-512 or AVX2
//! when the running CPU has them; the closure is inlined there and its loops vectorise to 16 or
//! 8 lanes. Only the width changes: each entry gets the same arithmetic in the same order (no
//! FMA contraction), so results are bit-identical whichever path runs.

use rayon::prelude::*;
use std::cell::Cell;

/// Loops over fewer entries than this run at baseline width: the dispatch would cost more than
/// the wider vectors save (the conjugate models' steps are made of such loops).
const MIN_ENTRIES: usize = 256;

/// Runs `f`, a loop over `entries` values, compiled for the widest vectors this CPU supports.
/// Keep `f` a loop over slices with `#[inline]` helpers: what is not inlined into it runs at
/// baseline width.
#[inline(always)]
pub(crate) fn wide<R>(entries: usize, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if entries >= MIN_ENTRIES {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2(f) };
        }
    }
    f()
}

thread_local! {
    /// Threads of rayon's pool that the product on this (pool) thread may spread over: set by a
    /// data-parallel step whose shards are fewer than the threads.
    static PRODUCT_THREADS: Cell<usize> = const { Cell::new(1) };
}

/// Runs `f` (on one of rayon's threads) with `threads` of the pool counted as this thread's
/// share for its matrix products: a step cut into fewer shards than there are threads lets each
/// shard's large products use the idle ones.
pub(crate) fn with_product_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    /// Puts the previous share back, also when `f` panics (rayon may reuse the thread).
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            PRODUCT_THREADS.set(self.0);
        }
    }
    let _restore = Restore(PRODUCT_THREADS.replace(threads.max(1)));
    f()
}

/// Threads a product of `work` multiply-adds may be split over here: all of the pool's from
/// outside it, this thread's share (see [`with_product_threads`]) from inside it.
pub(crate) fn product_threads(work: usize) -> usize {
    if rayon::current_thread_index().is_none() {
        if work > PIECE {
            rayon::current_num_threads()
        } else {
            1
        }
    } else {
        PRODUCT_THREADS.get()
    }
}

/// Entries per piece when a long loop is spread over rayon's threads.
pub(crate) const PIECE: usize = 1 << 14;

/// Runs `f` on each of `pieces` (at most [`PIECE`] entries each, `entries` in all): on rayon's
/// pool when [`worth_spreading`] says so, in order here otherwise. One call per step's loop,
/// over every parameter's pieces at once: a call per parameter wakes the pool for each.
pub(crate) fn for_each_piece<P: Send>(pieces: Vec<P>, entries: usize, f: impl Fn(P) + Sync + Send) {
    if worth_spreading(entries) {
        pieces.into_par_iter().for_each(f);
    } else {
        pieces.into_iter().for_each(f);
    }
}

/// True if a loop over `entries` values should be cut into [`PIECE`]s for rayon's threads: it is
/// long, and the caller is not one of the pool's threads (those are busy with their own share of
/// a data-parallel step, where a split would only add bookkeeping).
pub(crate) fn worth_spreading(entries: usize) -> bool {
    entries > PIECE && rayon::current_thread_index().is_none()
}
