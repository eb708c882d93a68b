//! y = X w + e, e ~ N(0, s²): Bayesian linear regression's likelihood.

use crate::autodiff::Var;
use crate::dist::LN_SQRT_2PI;
use crate::error::{Result, require_positive};
use crate::model::{Likelihood, Scope, check_columns};
use crate::real::{Real, c};
use nalgebra::DMatrix;

/// p(y | X, w) = Π_i N(y_i; x_iᵀ w, s²) for a global weight vector w (no intercept: add a
/// column of ones to X for one).
///
/// Data rows are `[x_i, y_i]`: the features, then the response in the last column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearRegressionLikelihood<T: Real> {
    noise_sd: T,
}

impl<T: Real> LinearRegressionLikelihood<T> {
    /// Known noise standard deviation `s`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `noise_sd` is not a positive finite number.
    pub fn new(noise_sd: T) -> Result<Self> {
        require_positive("noise sd", noise_sd)?;
        Ok(LinearRegressionLikelihood { noise_sd })
    }

    /// The noise standard deviation.
    pub fn noise_sd(&self) -> T {
        self.noise_sd
    }
}

impl<T: Real> Likelihood<T> for LinearRegressionLikelihood<T> {
    fn scope(&self) -> Scope {
        Scope::Global
    }

    /// The residuals y − X wᵀ come from one product of the data rows `[x_i, y_i]` with
    /// `[−w, 1]`, so the features are never copied out of the batch.
    fn log_likelihood<'t>(&self, x: Var<'t, T>, w: Var<'t, T>) -> Var<'t, T> {
        let tape = w.tape();
        let b = x.shape().0;
        let ones = tape.filled(w.shape().0, 1, T::one());
        let residual = x.matmul_t(Var::concat_columns(&[-w, ones])); // B x S
        let inv_var = T::one() / (self.noise_sd * self.noise_sd);
        let norm = c::<T>(b as f64) * (self.noise_sd.ln() + c(LN_SQRT_2PI));
        residual
            .square()
            .col_sums()
            .scale(inv_var * c(-0.5))
            .shift(-norm)
            .transpose()
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        check_columns(
            "regression data (features then response per row)",
            x,
            latent_dim + 1,
        )?;
        Ok(())
    }
}
