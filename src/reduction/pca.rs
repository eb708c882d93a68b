//! Principal component analysis.

use super::{centered, mean_and_covariance, sorted_eigen, validate};
use crate::error::Result;
use nalgebra::{DMatrix, DVector};

/// The `q` leading principal directions of a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    /// Column means.
    pub mean: DVector<f64>,
    /// `D x q` orthonormal principal directions, by decreasing variance; each column's
    /// largest-magnitude entry is positive.
    pub components: DMatrix<f64>,
    /// Variance of the data along each direction (divisor n).
    pub variances: DVector<f64>,
    /// Total variance of the data (the trace of its covariance).
    pub total_variance: f64,
}

impl Pca {
    /// Fits `q` components to the rows of `x`.
    ///
    /// # Errors
    /// [`crate::Error::EmptyData`] for fewer than two rows, [`crate::Error::NonFiniteData`],
    /// [`crate::Error::InvalidParameter`] unless 1 ≤ q ≤ D.
    pub fn fit(x: &DMatrix<f64>, q: usize) -> Result<Self> {
        validate(x, q, false)?;
        let (mean, covariance) = mean_and_covariance(x);
        let total_variance = covariance.trace();
        let (values, vectors) = sorted_eigen(covariance);
        Ok(Pca {
            mean,
            components: vectors.columns(0, q).into_owned(),
            variances: values.rows(0, q).map(|v| v.max(0.0)),
            total_variance,
        })
    }

    /// Fraction of the total variance that each component explains.
    pub fn explained_variance_ratio(&self) -> DVector<f64> {
        if self.total_variance > 0.0 {
            &self.variances / self.total_variance
        } else {
            self.variances.map(|_| 0.0)
        }
    }

    /// Coordinates of each row on the principal directions (`n x q`).
    pub fn encode(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        centered(x, &self.mean) * &self.components
    }

    /// Points in data space for coordinates `codes` (`n x q`).
    pub fn decode(&self, codes: &DMatrix<f64>) -> DMatrix<f64> {
        let mut x = codes * self.components.transpose();
        for mut row in x.row_iter_mut() {
            row += self.mean.transpose();
        }
        x
    }

    /// The projection of each row on the principal subspace.
    pub fn reconstruct(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        self.decode(&self.encode(x))
    }
}
