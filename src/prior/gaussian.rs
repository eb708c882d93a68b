//! Fixed Gaussian priors.

use crate::autodiff::{Tape, Var};
use crate::backend::Resident;
use crate::dist::{DiagNormal, Gaussian, LN_SQRT_2PI, MvNormal};
use crate::error::{Error, Result};
use crate::model::Prior;
use crate::real::{Real, c};
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// p(z) = N(0, I).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandardNormal {
    dim: usize,
}

impl StandardNormal {
    /// N(0, I_dim).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `dim` is 0.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("latent dimension", dim, "at least 1"));
        }
        Ok(StandardNormal { dim })
    }
}

impl<T: Real> Prior<T> for StandardNormal {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        let d = c::<T>(self.dim as f64);
        z.square()
            .row_sums()
            .scale(c(-0.5))
            .shift(-d * c(LN_SQRT_2PI))
    }

    fn sample<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        n: usize,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        Ok(DiagNormal::standard(tape, self.dim).rsample(n, rng))
    }

    fn gaussian<'t>(&self, tape: &'t Tape<'t, T>) -> Option<Gaussian<'t, T>> {
        Some(Gaussian::Diag(DiagNormal::standard(tape, self.dim)))
    }
}

/// p(z) = N(mean, covariance) with a fixed, full covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianPrior<T: Real> {
    mean: DVector<T>,
    /// The mean as a row, and the factor, as every tape loads them: copied to a device once.
    mean_row: Resident<T>,
    scale_tril: Resident<T>,
}

impl<T: Real> GaussianPrior<T> {
    /// N(mean, covariance).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `covariance` is `d x d` for a `d`-vector `mean` (d ≥ 1);
    /// [`Error::NonFiniteData`] for NaN or infinities; [`Error::NotPositiveDefinite`] if the
    /// covariance has no Cholesky factor.
    pub fn new(mean: DVector<T>, covariance: DMatrix<T>) -> Result<Self> {
        let d = mean.len();
        if d == 0 {
            return Err(Error::invalid("latent dimension", 0, "at least 1"));
        }
        if covariance.shape() != (d, d) {
            return Err(Error::shape("prior covariance", (d, d), covariance.shape()));
        }
        check_finite(
            "prior mean",
            &DMatrix::from_column_slice(d, 1, mean.as_slice()),
        )?;
        check_finite("prior covariance", &covariance)?;
        let chol = cholesky(covariance, "prior covariance")?;
        Ok(GaussianPrior {
            mean_row: Resident::new(DMatrix::from_row_slice(1, d, mean.as_slice())),
            mean,
            scale_tril: Resident::new(chol),
        })
    }

    /// The mean.
    pub fn mean(&self) -> &DVector<T> {
        &self.mean
    }

    /// The lower Cholesky factor of the covariance.
    pub fn scale_tril(&self) -> &DMatrix<T> {
        self.scale_tril.host()
    }

    fn on<'t>(&self, tape: &'t Tape<'t, T>) -> MvNormal<'t, T> {
        MvNormal {
            mean: tape.constant_resident(&self.mean_row),
            scale_tril: tape.constant_resident(&self.scale_tril),
        }
    }
}

impl<T: Real> Prior<T> for GaussianPrior<T> {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        self.on(z.tape()).log_prob(z)
    }

    fn sample<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        n: usize,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        Ok(self.on(tape).rsample(n, rng))
    }

    fn gaussian<'t>(&self, tape: &'t Tape<'t, T>) -> Option<Gaussian<'t, T>> {
        Some(Gaussian::Full(self.on(tape)))
    }
}

/// The lower Cholesky factor of a symmetric positive-definite matrix.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] if there is none, or the matrix is not symmetric.
pub(crate) fn cholesky<T: Real>(m: DMatrix<T>, what: &'static str) -> Result<DMatrix<T>> {
    let scale = m.iter().fold(T::zero(), |a, &b| a.max(b.abs()));
    let asymmetric = (&m - m.transpose())
        .iter()
        .any(|v| v.abs() > scale * c(1e-6));
    if asymmetric {
        return Err(Error::NotPositiveDefinite { what });
    }
    m.cholesky()
        .map(|ch| ch.l())
        .ok_or(Error::NotPositiveDefinite { what })
}

/// For a symmetric positive-definite `m` (its upper triangle mirrored from the lower one's
/// average), the scales D = diag(m_ii^-½) and the lower Cholesky factor of D m D, which has a
/// unit diagonal: a matrix whose entries span many orders of magnitude loses no accuracy this
/// way. `None` if the diagonal is not positive or D m D has no Cholesky factor.
pub(crate) fn unit_diagonal_cholesky<T: Real>(m: &DMatrix<T>) -> Option<(DVector<T>, DMatrix<T>)> {
    let d = m.nrows();
    if m.diagonal()
        .iter()
        .any(|&v| !v.is_finite() || v <= T::zero())
    {
        return None;
    }
    let scales = DVector::from_fn(d, |i, _| T::one() / m[(i, i)].sqrt());
    let scaled = DMatrix::from_fn(d, d, |i, j| {
        (m[(i, j)] + m[(j, i)]) / c::<T>(2.0) * scales[i] * scales[j]
    });
    Some((scales, scaled.cholesky()?.l()))
}
