//! Class labels as one-hot rows: how a conditional model or a classifier reads a label beside
//! the features.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// One row per label, 1 in the label's column of `classes` and 0 elsewhere.
///
/// # Errors
/// [`Error::InvalidParameter`] if a label is not below `classes`.
pub fn one_hot<T: Real>(labels: &[u8], classes: usize) -> Result<DMatrix<T>> {
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::invalid(
            "class label",
            bad,
            "a label below the number of classes",
        ));
    }
    Ok(DMatrix::from_fn(labels.len(), classes, |i, j| {
        if labels[i] as usize == j {
            T::one()
        } else {
            T::zero()
        }
    }))
}

/// `features` with the one-hot `labels` appended as its last `classes` columns.
///
/// # Errors
/// As [`one_hot`]; [`Error::ShapeMismatch`] if there is not one label per row.
pub fn with_one_hot<T: Real>(
    features: &DMatrix<T>,
    labels: &[u8],
    classes: usize,
) -> Result<DMatrix<T>> {
    if labels.len() != features.nrows() {
        return Err(Error::shape(
            "labels (one per row)",
            (features.nrows(), 1),
            (labels.len(), 1),
        ));
    }
    let hot = one_hot::<T>(labels, classes)?;
    let (rows, width) = features.shape();
    Ok(DMatrix::from_fn(rows, width + classes, |i, j| {
        if j < width {
            features[(i, j)]
        } else {
            hot[(i, j - width)]
        }
    }))
}
