//! Checks on user data before it reaches a model.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// Checks that every entry is finite.
///
/// # Errors
/// [`Error::NonFiniteData`] naming the first bad entry.
pub fn check_finite<T: Real>(what: &'static str, m: &DMatrix<T>) -> Result<()> {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            let v = m[(i, j)];
            if !v.is_finite() {
                return Err(Error::NonFiniteData {
                    what,
                    row: i,
                    col: j,
                    value: v.to_f64(),
                });
            }
        }
    }
    Ok(())
}
