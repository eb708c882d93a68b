//! Free variational parameters for every data point: the non-amortized guide.

use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::{Error, Result};
use crate::model::Guide;
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;

/// q(z_i) = N(m_i, diag s_i²) with its own free mean and log standard deviation for each of the
/// `n` data rows (`{name}.mean` and `{name}.log_sd`, both `n x d`).
///
/// The best such q is the best diagonal Gaussian for each point: comparing it with an encoder's
/// q measures the amortization gap. It must be fitted on the whole data set at once (row i of
/// every batch is data point i); a batch of another size is an error of the estimator.
#[derive(Clone, Debug)]
pub struct LocalDiagGaussianGuide {
    mean: ParamId,
    log_sd: ParamId,
    dim: usize,
}

impl LocalDiagGaussianGuide {
    /// Registers the parameters, starting at the given means and standard deviations (`n x d`
    /// each; a warm start from an encoder's output, say).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the shapes differ or are empty; [`Error::InvalidParameter`]
    /// for a standard deviation that is not positive; [`Error::Parameter`] if a name is taken.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        means: DMatrix<T>,
        sds: DMatrix<T>,
    ) -> Result<Self> {
        if means.shape() != sds.shape() || means.is_empty() {
            return Err(Error::shape(
                "standard deviations (one per mean)",
                means.shape(),
                sds.shape(),
            ));
        }
        if let Some(bad) = sds.iter().find(|s| !(**s > T::zero() && s.is_finite())) {
            return Err(Error::invalid(
                "standard deviation",
                bad,
                "a finite number > 0",
            ));
        }
        let dim = means.ncols();
        let mean = store.add(format!("{name}.mean"), means)?;
        let log_sd = store.add(format!("{name}.log_sd"), sds.map(|s| s.ln()))?;
        Ok(LocalDiagGaussianGuide { mean, log_sd, dim })
    }
}

impl LocalDiagGaussianGuide {
    /// The current means and standard deviations (`n x d` each).
    pub fn mean_and_sd<T: Real>(&self, store: &ParamStore<T>) -> (DMatrix<T>, DMatrix<T>) {
        (
            store.get(self.mean).clone(),
            store.get(self.log_sd).map(|v| v.exp()),
        )
    }

    /// q on `tape`: row i is data point i's.
    fn distribution<'t, T: Real>(&self, tape: &'t Tape<'t, T>) -> Gaussian<'t, T> {
        Gaussian::Diag(DiagNormal {
            mean: tape.param(self.mean),
            log_sd: tape.param(self.log_sd),
        })
    }
}

guide_from_parameters!(LocalDiagGaussianGuide => Gaussian);
