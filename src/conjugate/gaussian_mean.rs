//! Model (a): the mean of Gaussian data. z ~ N(0, I_d), x_i | z ~ N(z, s² I).

use super::GaussianPosterior;
use crate::error::{Error, Result, require_positive};
use crate::likelihood::GaussianLikelihood;
use crate::memory::{ensure_available, entries};
use crate::prior::StandardNormal;
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// The Gaussian-mean model with known noise standard deviation `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianMean {
    noise_sd: f64,
}

impl GaussianMean {
    /// The model with noise sd `s`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `noise_sd` is a positive finite number.
    pub fn new(noise_sd: f64) -> Result<Self> {
        require_positive("noise sd", noise_sd)?;
        Ok(GaussianMean { noise_sd })
    }

    /// The noise standard deviation.
    pub fn noise_sd(&self) -> f64 {
        self.noise_sd
    }

    /// The prior, for fitting.
    pub fn prior(&self, dim: usize) -> Result<StandardNormal> {
        StandardNormal::new(dim)
    }

    /// The likelihood, for fitting in precision `T`.
    pub fn likelihood<T: Real>(&self, dim: usize) -> Result<GaussianLikelihood<T>> {
        GaussianLikelihood::isotropic(dim, T::of_f64(self.noise_sd))
    }

    /// The exact posterior given data `x` (one observation per row): precision (1 + N/s²) I,
    /// mean Σ_i x_i / (s² + N).
    ///
    /// # Errors
    /// [`Error::EmptyData`] or [`Error::NonFiniteData`] for unusable data.
    pub fn posterior(&self, x: &DMatrix<f64>) -> Result<GaussianPosterior> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::EmptyData { what: "data" });
        }
        check_finite("data", x)?;
        let (n, d) = x.shape();
        ensure_available::<f64>(
            "an exact posterior",
            format!("dimension {d}"),
            entries(&[d, d, 4]),
        )?;
        let s2 = self.noise_sd * self.noise_sd;
        let sum = DVector::from_fn(d, |j, _| x.column(j).sum());
        let log_lik = |z: &DVector<f64>| {
            let sq: f64 = x
                .row_iter()
                .map(|r| (r.transpose() - z).norm_squared())
                .sum();
            -0.5 * sq / s2 - (n * d) as f64 * (self.noise_sd.ln() + crate::dist::LN_SQRT_2PI)
        };
        GaussianPosterior::from_standard_prior(
            DMatrix::identity(d, d) * (n as f64 / s2),
            sum / s2,
            log_lik,
        )
    }

    /// Draws z from the prior and `n` observations given it.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `n x dim` values do not fit in memory.
    pub fn simulate<R: Rng + ?Sized>(
        &self,
        dim: usize,
        n: usize,
        rng: &mut R,
    ) -> Result<(DVector<f64>, DMatrix<f64>)> {
        ensure_available::<f64>(
            "simulated data",
            format!("{n} rows of {dim}"),
            entries(&[n, dim]),
        )?;
        let z = DVector::from_fn(dim, |_, _| f64::standard_normal(rng));
        let x = DMatrix::from_fn(n, dim, |_, j| {
            z[j] + self.noise_sd * f64::standard_normal(rng)
        });
        Ok((z, x))
    }
}
