//! Factor analysis fitted by expectation-maximisation.

use super::{Ppca, centered, mean_and_covariance, mean_log_density, validate};
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// p(z) = N(0, I_q), p(x | z) = N(W z + μ, Ψ) with Ψ diagonal: PPCA with a noise variance per
/// dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorAnalysis {
    /// μ, the data mean.
    pub mean: DVector<f64>,
    /// `D x q` loadings W.
    pub loadings: DMatrix<f64>,
    /// The diagonal of Ψ.
    pub noise: DVector<f64>,
}

/// The result of [`FactorAnalysis::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FactorAnalysisFit {
    /// The fitted model.
    pub model: FactorAnalysis,
    /// Mean log-likelihood per row before the first iteration and after each one.
    pub log_likelihoods: Vec<f64>,
    /// True if the last improvement was below the tolerance.
    pub converged: bool,
}

/// Smallest noise variance, relative to the largest data variance: keeps Ψ invertible when a
/// dimension is (almost) explained by the factors.
const NOISE_FLOOR: f64 = 1e-6;

impl FactorAnalysis {
    /// Fits by EM from the PPCA solution: each iteration computes the posterior moments of z
    /// (E-step) and the W and Ψ that maximise the expected log-likelihood (M-step), which
    /// never lowers the likelihood. Stops after `max_iterations` or when an iteration raises
    /// the mean log-likelihood per row by less than `tolerance`.
    ///
    /// # Errors
    /// As [`Ppca::fit`].
    pub fn fit(
        x: &DMatrix<f64>,
        q: usize,
        max_iterations: usize,
        tolerance: f64,
    ) -> Result<FactorAnalysisFit> {
        validate(x, q, true)?;
        let (mean, s) = mean_and_covariance(x);
        let floor = NOISE_FLOOR * s.diagonal().max().max(f64::MIN_POSITIVE);
        let ppca = Ppca::fit(x, q)?;
        let mut model = FactorAnalysis {
            mean,
            noise: DVector::from_element(x.ncols(), ppca.noise_variance.max(floor)),
            loadings: ppca.loadings,
        };
        let mut log_likelihoods = vec![model.log_likelihood(x)?];
        let mut converged = false;
        for _ in 0..max_iterations {
            // E-step: z | x ~ N(B (x − μ), G), G = (I + WᵀΨ⁻¹W)⁻¹, B = G WᵀΨ⁻¹.
            let g = model.posterior_covariance();
            let psi_inv_w =
                DMatrix::from_fn(x.ncols(), q, |i, j| model.loadings[(i, j)] / model.noise[i]);
            let b = &g * psi_inv_w.transpose();
            // M-step with the sufficient statistics S Bᵀ = mean of (x − μ) E[z]ᵀ and
            // G + B S Bᵀ = mean of E[z zᵀ].
            let sb = &s * b.transpose();
            let ezz = &g + &b * &sb;
            let w = &sb
                * ezz.try_inverse().ok_or(Error::NotPositiveDefinite {
                    what: "E[z zᵀ] in factor analysis",
                })?;
            let noise = DVector::from_fn(x.ncols(), |i, _| {
                (s[(i, i)] - (w.row(i) * sb.row(i).transpose())[0]).max(floor)
            });
            model.loadings = w;
            model.noise = noise;
            let ll = model.log_likelihood(x)?;
            let gain = ll - log_likelihoods[log_likelihoods.len() - 1];
            log_likelihoods.push(ll);
            if gain.abs() < tolerance {
                converged = true;
                break;
            }
        }
        Ok(FactorAnalysisFit {
            model,
            log_likelihoods,
            converged,
        })
    }

    /// The marginal covariance W Wᵀ + Ψ.
    pub fn covariance(&self) -> DMatrix<f64> {
        &self.loadings * self.loadings.transpose() + DMatrix::from_diagonal(&self.noise)
    }

    /// Mean exact log-likelihood per row of `x`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for the wrong number of columns.
    pub fn log_likelihood(&self, x: &DMatrix<f64>) -> Result<f64> {
        mean_log_density(x, &self.mean, &self.covariance())
    }

    /// (I + WᵀΨ⁻¹W)⁻¹, the posterior covariance of z shared by every row.
    fn posterior_covariance(&self) -> DMatrix<f64> {
        let q = self.loadings.ncols();
        let psi_inv_w = DMatrix::from_fn(self.loadings.nrows(), q, |i, j| {
            self.loadings[(i, j)] / self.noise[i]
        });
        (DMatrix::identity(q, q) + self.loadings.transpose() * psi_inv_w)
            .try_inverse()
            .expect("I + WᵀΨ⁻¹W is positive definite")
    }

    /// The exact posterior p(z | x) of each row: means (`n x q`) and the shared covariance.
    pub fn posterior(&self, x: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        let g = self.posterior_covariance();
        let psi_inv_w = DMatrix::from_fn(self.loadings.nrows(), g.nrows(), |i, j| {
            self.loadings[(i, j)] / self.noise[i]
        });
        (centered(x, &self.mean) * psi_inv_w * &g, g)
    }
}
