//! Model (b): Bayesian linear regression. w ~ N(0, I_p), y = X w + e, e ~ N(0, s²).

use super::GaussianPosterior;
use crate::error::{Error, Result, require_positive};
use crate::likelihood::LinearRegressionLikelihood;
use crate::memory::{ensure_available, entries};
use crate::prior::StandardNormal;
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// Bayesian linear regression without intercept, with known noise sd `s`. Data rows are
/// `[x_i, y_i]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearRegression {
    noise_sd: f64,
}

impl LinearRegression {
    /// The model with noise sd `s`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `noise_sd` is a positive finite number.
    pub fn new(noise_sd: f64) -> Result<Self> {
        require_positive("noise sd", noise_sd)?;
        Ok(LinearRegression { noise_sd })
    }

    /// The noise standard deviation.
    pub fn noise_sd(&self) -> f64 {
        self.noise_sd
    }

    /// The prior over the `p` weights, for fitting.
    pub fn prior(&self, p: usize) -> Result<StandardNormal> {
        StandardNormal::new(p)
    }

    /// The likelihood, for fitting in precision `T`.
    pub fn likelihood<T: Real>(&self) -> Result<LinearRegressionLikelihood<T>> {
        LinearRegressionLikelihood::new(T::of_f64(self.noise_sd))
    }

    /// The exact posterior given rows `[x_i, y_i]`: precision I + XᵀX / s², mean Λ⁻¹ Xᵀy / s².
    ///
    /// # Errors
    /// [`Error::EmptyData`] without rows or features; [`Error::NonFiniteData`] for NaN or
    /// infinities.
    pub fn posterior(&self, data: &DMatrix<f64>) -> Result<GaussianPosterior> {
        if data.nrows() == 0 || data.ncols() < 2 {
            return Err(Error::EmptyData {
                what: "regression data (needs rows and at least one feature column)",
            });
        }
        check_finite("data", data)?;
        let p = data.ncols() - 1;
        ensure_available::<f64>(
            "an exact posterior",
            format!("dimension {p}"),
            entries(&[p, p, 4]),
        )?;
        let x = data.columns(0, p);
        let y = data.column(p);
        let s2 = self.noise_sd * self.noise_sd;
        let log_lik = |w: &DVector<f64>| {
            let r = y - x * w;
            -0.5 * r.norm_squared() / s2
                - data.nrows() as f64 * (self.noise_sd.ln() + crate::dist::LN_SQRT_2PI)
        };
        GaussianPosterior::from_standard_prior(
            x.transpose() * x / s2,
            x.transpose() * y / s2,
            log_lik,
        )
    }

    /// Draws w from the prior, `n` rows of `p` standard-normal features with pairwise
    /// correlation `rho` (through a shared factor), and responses; returns `(w, [X y])`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `n x (p + 1)` values do not fit in memory.
    pub fn simulate<R: Rng + ?Sized>(
        &self,
        p: usize,
        n: usize,
        rho: f64,
        rng: &mut R,
    ) -> Result<(DVector<f64>, DMatrix<f64>)> {
        ensure_available::<f64>(
            "simulated data",
            format!("{n} rows of {p} features"),
            entries(&[n, p.saturating_add(1)]),
        )?;
        let w = DVector::from_fn(p, |_, _| f64::standard_normal(rng));
        let (own, shared) = ((1.0 - rho).sqrt(), rho.sqrt());
        let mut data = DMatrix::zeros(n, p + 1);
        for i in 0..n {
            let factor = f64::standard_normal(rng);
            for j in 0..p {
                data[(i, j)] = own * f64::standard_normal(rng) + shared * factor;
            }
            let mean: f64 = (0..p).map(|j| data[(i, j)] * w[j]).sum();
            data[(i, p)] = mean + self.noise_sd * f64::standard_normal(rng);
        }
        Ok((w, data))
    }
}
