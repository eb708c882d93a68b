//! The mean-field Gaussian guide: free means and log standard deviations.

use super::{DiagonalReference, register_log_scales, register_mean};
use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::Result;
use crate::model::{GaussianGuide, Guide};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// q(z) = N(μ, diag σ²) with μ = m₀ + s₀ ⊙ u and σ = s₀ ⊙ exp(v): the free parameters are
/// `{name}.mean` (u, 1 x d) and `{name}.log_sd` (v, 1 x d), measured from a frozen reference —
/// `{name}.reference_mean` (m₀) and `{name}.reference_log_sd` (ln s₀).
///
/// Every real value of v is a valid scale. The reference is m₀ = 0, s₀ = 1 until
/// [`GaussianGuide::start_at`] moves it to a mode and the posterior's scales there: then u and v
/// are in posterior standard deviations, so a step of Adam's size moves every coordinate by
/// the same fraction of its own uncertainty, whatever units the data are in.
#[derive(Clone, Debug)]
pub struct DiagGaussianGuide {
    mean: ParamId,
    log_sd: ParamId,
    reference: DiagonalReference,
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
        let log_sd = register_log_scales(store, name, "log_sd", dim, init_sd)?;
        let reference = DiagonalReference::register(store, name, DMatrix::zeros(1, dim))?;
        Ok(DiagGaussianGuide {
            mean,
            log_sd,
            reference,
            dim,
        })
    }

    /// The current standard deviations.
    pub fn sd<T: Real>(&self, store: &ParamStore<T>) -> DVector<T> {
        let (v, reference) = (store.get(self.log_sd), store.get(self.reference.log_sd));
        DVector::from_fn(self.dim, |j, _| (v[j] + reference[j]).exp())
    }

    /// The free parameters' ids: (mean, log_sd), measured from the reference.
    pub fn params(&self) -> (ParamId, ParamId) {
        (self.mean, self.log_sd)
    }

    /// q on `tape`, in z's units.
    fn distribution<'t, T: Real>(&self, tape: &'t Tape<'t, T>) -> Gaussian<'t, T> {
        let reference_log_sd = tape.param(self.reference.log_sd);
        Gaussian::Diag(DiagNormal {
            mean: self
                .reference
                .location_on(tape, self.mean, reference_log_sd.exp()),
            log_sd: tape.param(self.log_sd) + reference_log_sd,
        })
    }
}

impl<T: Real> GaussianGuide<T> for DiagGaussianGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        self.reference.location(store, self.mean)
    }

    /// σ_j = 1/√Λ_jj: the mean-field optimum for a Gaussian target with precision Λ.
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()> {
        let d = self.reference.start(store, self.dim, mean, precision)?;
        store.set(self.mean, DMatrix::zeros(1, d))?;
        store.set(self.log_sd, DMatrix::zeros(1, d))
    }

    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        DMatrix::from_diagonal(&self.sd(store).map(|s| s * s))
    }
}

guide_from_parameters!(DiagGaussianGuide => Gaussian);
