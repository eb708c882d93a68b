//! Probabilistic PCA in closed form (Tipping & Bishop 1999).

use super::{centered, mean_and_covariance, mean_log_density, sorted_eigen, validate};
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// The maximum-likelihood fit of p(z) = N(0, I_q), p(x | z) = N(W z + μ, σ² I_D).
#[derive(Clone, Debug, PartialEq)]
pub struct Ppca {
    /// μ, the data mean.
    pub mean: DVector<f64>,
    /// `D x q` loadings W = U_q (Λ_q − σ² I)^{1/2}: the leading eigenvectors of the sample
    /// covariance, scaled.
    pub loadings: DMatrix<f64>,
    /// σ², the mean of the D − q discarded eigenvalues.
    pub noise_variance: f64,
}

impl Ppca {
    /// The closed-form maximum-likelihood fit with `q` latent dimensions (q < D).
    ///
    /// # Errors
    /// As [`super::Pca::fit`], and [`Error::InvalidParameter`] unless q < D;
    /// [`Error::NotPositiveDefinite`] if the discarded eigenvalues are all zero (σ² = 0).
    pub fn fit(x: &DMatrix<f64>, q: usize) -> Result<Self> {
        validate(x, q, true)?;
        let (mean, covariance) = mean_and_covariance(x);
        let (values, vectors) = sorted_eigen(covariance);
        let d = values.len();
        let noise_variance = values
            .rows(q, d - q)
            .iter()
            .map(|v| v.max(0.0))
            .sum::<f64>()
            / (d - q) as f64;
        if noise_variance <= 0.0 {
            return Err(Error::NotPositiveDefinite {
                what: "PPCA noise variance (the data lie in a q-dimensional subspace)",
            });
        }
        let scales = DVector::from_fn(q, |k, _| (values[k] - noise_variance).max(0.0).sqrt());
        let loadings = vectors.columns(0, q) * DMatrix::from_diagonal(&scales);
        Ok(Ppca {
            mean,
            loadings,
            noise_variance,
        })
    }

    /// Latent dimension q.
    pub fn latent(&self) -> usize {
        self.loadings.ncols()
    }

    /// The marginal covariance W Wᵀ + σ² I of x.
    pub fn covariance(&self) -> DMatrix<f64> {
        let d = self.loadings.nrows();
        &self.loadings * self.loadings.transpose() + DMatrix::identity(d, d) * self.noise_variance
    }

    /// Mean exact log-likelihood per row of `x`: log N(x; μ, W Wᵀ + σ² I).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x` has the wrong number of columns.
    pub fn log_likelihood(&self, x: &DMatrix<f64>) -> Result<f64> {
        mean_log_density(x, &self.mean, &self.covariance())
    }

    /// The exact posterior p(z | x) of each row: means (`n x q`, rows M⁻¹Wᵀ(x − μ)) and the
    /// covariance σ² M⁻¹ shared by all rows, with M = WᵀW + σ² I.
    pub fn posterior(&self, x: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        let q = self.latent();
        let m = self.loadings.transpose() * &self.loadings
            + DMatrix::identity(q, q) * self.noise_variance;
        let m_inv = m.try_inverse().expect("M = WᵀW + σ²I is positive definite");
        let means = centered(x, &self.mean) * &self.loadings * m_inv.transpose();
        (means, m_inv * self.noise_variance)
    }
}
