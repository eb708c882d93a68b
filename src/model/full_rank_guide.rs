//! The full-rank Gaussian guide: a free mean and a free Cholesky factor.

use super::Guide;
use crate::autodiff::{Tape, Var};
use crate::dist::{Gaussian, MvNormal};
use crate::error::{Error, Result};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// q(z) = N(μ, L Lᵀ) with free parameters `{name}.mean` (1 x d) and `{name}.tril` (d x d):
/// L takes the strictly lower part of `tril` as it is and `exp` of its diagonal, so L is a valid
/// Cholesky factor for every real value of the parameters (entries above the diagonal are
/// unused and get zero gradient).
#[derive(Clone, Debug)]
pub struct FullRankGaussianGuide {
    mean: ParamId,
    tril: ParamId,
    dim: usize,
}

impl FullRankGaussianGuide {
    /// Registers the parameters in `store`, starting at mean 0 and covariance `init_sd² I`.
    ///
    /// # Errors
    /// As [`crate::model::DiagGaussianGuide::new`].
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        init_sd: T,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("latent dimension", dim, "at least 1"));
        }
        if !(init_sd > T::zero() && init_sd.is_finite()) {
            return Err(Error::invalid("init_sd", init_sd, "a finite number > 0"));
        }
        let mean = store.add(format!("{name}.mean"), DMatrix::zeros(1, dim))?;
        let tril = store.add(
            format!("{name}.tril"),
            DMatrix::from_diagonal_element(dim, dim, init_sd.ln()),
        )?;
        Ok(FullRankGaussianGuide { mean, tril, dim })
    }

    fn factor<'t, T: Real>(raw: Var<'t, T>) -> Var<'t, T> {
        raw.lower_triangle(false) + raw.diagonal().exp().diagonal_matrix()
    }

    /// The current mean.
    pub fn mean<T: Real>(&self, store: &ParamStore<T>) -> DVector<T> {
        DVector::from_column_slice(store.get(self.mean).as_slice())
    }

    /// The current Cholesky factor L.
    pub fn scale_tril<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let raw = store.get(self.tril);
        DMatrix::from_fn(self.dim, self.dim, |i, j| match i.cmp(&j) {
            std::cmp::Ordering::Greater => raw[(i, j)],
            std::cmp::Ordering::Equal => raw[(i, j)].exp(),
            std::cmp::Ordering::Less => T::zero(),
        })
    }

    /// The current covariance L Lᵀ.
    pub fn covariance<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let l = self.scale_tril(store);
        &l * l.transpose()
    }

    /// The parameter ids: (mean, tril).
    pub fn params(&self) -> (ParamId, ParamId) {
        (self.mean, self.tril)
    }
}

impl<T: Real> Guide<T> for FullRankGaussianGuide {
    type Family<'t>
        = Gaussian<'t, T>
    where
        T: 't;

    fn dim(&self) -> usize {
        self.dim
    }

    fn family<'t>(&self, tape: &'t Tape<'t, T>, _x: &DMatrix<T>) -> Gaussian<'t, T> {
        Gaussian::Full(MvNormal {
            mean: tape.param(self.mean),
            scale_tril: Self::factor(tape.param(self.tril)),
        })
    }
}
