//! The host's random draws that a device makes for itself: how the CPU, and the emulated
//! device that must match it, draw a tape's noise from the run's generator.

use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

/// `rows x cols` independent standard-normal draws, entry by entry in column-major order.
pub(crate) fn standard_normal<T: Real, R: Rng + ?Sized>(
    rows: usize,
    cols: usize,
    rng: &mut R,
) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |_, _| T::standard_normal(rng))
}

/// `rows x cols` independent draws uniform on [low, high) (drawn in f64), entry by entry in
/// column-major order.
pub(crate) fn uniform<T: Real, R: Rng + ?Sized>(
    rows: usize,
    cols: usize,
    (low, high): (f64, f64),
    rng: &mut R,
) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |_, _| T::of_f64(rng.random_range(low..high)))
}

/// Replaces `count` distinct entries of each row of `x`, chosen uniformly, each by `low` or
/// `high` with probability ½; where the two are equal no coin is drawn.
///
/// # Panics
/// If `count` passes the number of columns.
pub(crate) fn replace_in_rows<T: Real, R: Rng + ?Sized>(
    x: &mut DMatrix<T>,
    count: usize,
    (low, high): (T, T),
    rng: &mut R,
) {
    let d = x.ncols();
    assert!(
        count <= d,
        "replace_in_rows: {count} entries of a {d}-column row"
    );
    let mut columns: Vec<usize> = (0..d).collect();
    for i in 0..x.nrows() {
        // A partial Fisher–Yates shuffle picks `count` distinct columns.
        for k in 0..count {
            let pick = k + rng.random_range(0..d - k);
            columns.swap(k, pick);
            x[(i, columns[k])] = if low == high || !rng.random::<bool>() {
                low
            } else {
                high
            };
        }
    }
}
