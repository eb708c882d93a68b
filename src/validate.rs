//! Checks on user data before it reaches a model.

use crate::error::{Error, Result};
use crate::kernels::worth_spreading;
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Checks that every entry is finite.
///
/// # Errors
/// [`Error::NonFiniteData`] naming the first bad entry.
pub fn check_finite<T: Real>(what: &'static str, m: &DMatrix<T>) -> Result<()> {
    match first_failing(m.as_slice(), |v| v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(Error::NonFiniteData {
            what,
            row: k % m.nrows(),
            col: k / m.nrows(),
            value: m.as_slice()[k].to_f64(),
        }),
    }
}

/// The index of the first entry for which `holds` is false.
///
/// Checks blocks of entries without stopping early inside a block, so that the check
/// vectorises (a search that stops at the first failure cannot): checking a training set every
/// epoch, or every gradient every step, then costs little beside the step.
pub(crate) fn first_failing<T: Copy + Sync>(
    xs: &[T],
    holds: impl Fn(T) -> bool + Sync,
) -> Option<usize> {
    const BLOCK: usize = 256;
    let fails = |block: &[T]| !block.iter().fold(true, |all, &v| all & holds(v));
    let first_block = if worth_spreading(xs.len()) {
        xs.par_chunks(BLOCK).position_first(fails)
    } else {
        xs.chunks(BLOCK).position(fails)
    }?;
    let block = &xs[first_block * BLOCK..];
    block
        .iter()
        .position(|&v| !holds(v))
        .map(|i| first_block * BLOCK + i)
}
