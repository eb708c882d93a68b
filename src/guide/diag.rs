//! The mean-field Gaussian guide: free means and log standard deviations.

use super::{register_mean, row_vector};
use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::Result;
use crate::model::{GaussianGuide, Guide};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// q(z) = N(μ, diag σ²) with free parameters `{name}.mean` (1 x d) and `{name}.log_sd` (1 x d):
/// σ = exp(log_sd), so every real value is a valid scale.
#[derive(Clone, Debug)]
pub struct DiagGaussianGuide {
    mean: ParamId,
    log_sd: ParamId,
    dim: usize,
}

impl DiagGaussianGuide {
    /// Registers the guide's parameters in `store`, starting at mean 0 and σ = `init_sd`
    /// (0.1 is a good default: a narrow start keeps early samples near the mean).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `dim` is 0 or `init_sd` is not a positive number;
    /// [`crate::Error::Parameter`] if the names are taken.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        init_sd: T,
    ) -> Result<Self> {
        let mean = register_mean(store, name, dim, init_sd)?;
        let log_sd = store.add(
            format!("{name}.log_sd"),
            DMatrix::from_element(1, dim, init_sd.ln()),
        )?;
        Ok(DiagGaussianGuide { mean, log_sd, dim })
    }

    /// The current standard deviations.
    pub fn sd<T: Real>(&self, store: &ParamStore<T>) -> DVector<T> {
        DVector::from_iterator(self.dim, store.get(self.log_sd).iter().map(|v| v.exp()))
    }

    /// The parameter ids: (mean, log_sd).
    pub fn params(&self) -> (ParamId, ParamId) {
        (self.mean, self.log_sd)
    }
}

impl<T: Real> GaussianGuide<T> for DiagGaussianGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        row_vector(store, self.mean)
    }

    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        DMatrix::from_diagonal(&self.sd(store).map(|s| s * s))
    }
}

impl<T: Real> Guide<T> for DiagGaussianGuide {
    type Family<'t>
        = Gaussian<'t, T>
    where
        T: 't;

    fn dim(&self) -> usize {
        self.dim
    }

    fn family<'t>(&self, tape: &'t Tape<'t, T>, _x: Var<'t, T>) -> Gaussian<'t, T> {
        Gaussian::Diag(DiagNormal {
            mean: tape.param(self.mean),
            log_sd: tape.param(self.log_sd),
        })
    }
}
