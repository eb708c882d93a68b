//! The full-rank Gaussian guide: a free mean and a free Cholesky factor.

use super::{check_start, register_log_scales, register_mean, register_reference, row_vector};
use crate::autodiff::{Tape, Var};
use crate::dist::{Gaussian, MvNormal};
use crate::error::{Error, Result};
use crate::memory::{ensure_available, entries};
use crate::model::{GaussianGuide, Guide};
use crate::params::{ParamId, ParamStore};
use crate::prior::unit_diagonal_cholesky;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// q(z) = N(μ, L Lᵀ) with μ = m₀ + T u and L = T L', measured from a frozen reference: a point
/// `{name}.reference_mean` (m₀, 1 x d) and a lower-triangular `{name}.reference_tril` (T, d x d).
/// The free parameters are `{name}.mean` (u, 1 x d), `{name}.log_scale` (1 x d) and
/// `{name}.unit_tril` (d x d): L' = diag(exp(log_scale)) (I + strictly lower part of unit_tril).
///
/// So L'_ii = exp(log_scale_i) and L'_ij = L'_ii u_ij: every real parameter value gives a valid
/// Cholesky factor, and the off-diagonal parameters are dimensionless ratios. The reference is
/// m₀ = 0, T = I until [`GaussianGuide::start_at`] moves it to a mode and the Cholesky factor of
/// the inverse curvature there: then the free parameters are in whitened coordinates, where
/// the posterior is close to N(0, I), and Adam's steps — of the size of the learning rate —
/// suit every direction, however the posterior's scales differ and however its coordinates
/// are correlated. (Parameterising L's entries directly makes them as small as the posterior
/// sds, and Adam's steps far too coarse for them when the posterior is narrow.) Entries of
/// `unit_tril` on and above the diagonal are unused and get zero gradient.
#[derive(Clone, Debug)]
pub struct FullRankGaussianGuide {
    mean: ParamId,
    log_scale: ParamId,
    unit_tril: ParamId,
    reference_mean: ParamId,
    reference_tril: ParamId,
    dim: usize,
}

impl FullRankGaussianGuide {
    /// Registers the parameters in `store`, starting at mean 0 and covariance `init_sd² I`.
    ///
    /// # Errors
    /// As [`crate::guide::DiagGaussianGuide::new`]; [`crate::Error::TooLarge`] if the `dim x dim`
    /// factor (with its gradient and optimizer state) does not fit in memory.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        init_sd: T,
    ) -> Result<Self> {
        ensure_available::<T>(
            "a full-rank guide",
            format!("dimension {dim}"),
            entries(&[dim, dim, 4]),
        )?;
        let mean = register_mean(store, name, dim, init_sd)?;
        let log_scale = register_log_scales(store, name, "log_scale", dim, init_sd)?;
        let unit_tril = store.add(format!("{name}.unit_tril"), DMatrix::zeros(dim, dim))?;
        let reference_mean =
            register_reference(store, name, "reference_mean", DMatrix::zeros(1, dim))?;
        let reference_tril =
            register_reference(store, name, "reference_tril", DMatrix::identity(dim, dim))?;
        Ok(FullRankGaussianGuide {
            mean,
            log_scale,
            unit_tril,
            reference_mean,
            reference_tril,
            dim,
        })
    }

    fn factor<'t, T: Real>(log_scale: Var<'t, T>, unit_tril: Var<'t, T>) -> Var<'t, T> {
        // Made where the tape runs: a column of ones on the diagonal.
        let identity = log_scale
            .tape()
            .filled(unit_tril.shape().0, 1, T::one())
            .diagonal_matrix();
        // Row i scaled by exp(log_scale_i): a d x 1 column broadcast across the columns.
        (unit_tril.lower_triangle(false) + identity) * log_scale.exp().transpose()
    }

    /// The current Cholesky factor L = T L'.
    pub fn scale_tril<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
        store.get(self.reference_tril) * self.relative_tril(store)
    }

    /// L', the factor relative to the reference.
    fn relative_tril<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let (scale, unit) = (store.get(self.log_scale), store.get(self.unit_tril));
        DMatrix::from_fn(self.dim, self.dim, |i, j| {
            let s = scale[i].exp();
            match i.cmp(&j) {
                std::cmp::Ordering::Greater => s * unit[(i, j)],
                std::cmp::Ordering::Equal => s,
                std::cmp::Ordering::Less => T::zero(),
            }
        })
    }

    /// Sets q = N(mean, L Lᵀ) for a lower-triangular `scale_tril` with a positive diagonal, and
    /// makes it the reference later steps are measured from.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for wrong shapes; [`Error::NotPositiveDefinite`] if the diagonal
    /// of `scale_tril` is not positive.
    pub fn set<T: Real>(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        scale_tril: &DMatrix<T>,
    ) -> Result<()> {
        let d = self.dim;
        if mean.len() != d {
            return Err(Error::shape("mean", (d, 1), (mean.len(), 1)));
        }
        if scale_tril.shape() != (d, d) {
            return Err(Error::shape("scale_tril", (d, d), scale_tril.shape()));
        }
        if scale_tril
            .diagonal()
            .iter()
            .any(|&v| v <= T::zero() || !v.is_finite())
        {
            return Err(Error::NotPositiveDefinite {
                what: "scale_tril (its diagonal must be positive)",
            });
        }
        store.set(
            self.reference_mean,
            DMatrix::from_row_slice(1, d, mean.as_slice()),
        )?;
        store.set(self.reference_tril, scale_tril.lower_triangle())?;
        store.set(self.mean, DMatrix::zeros(1, d))?;
        store.set(self.log_scale, DMatrix::zeros(1, d))?;
        store.set(self.unit_tril, DMatrix::zeros(d, d))
    }

    /// The parameter ids: (mean, log_scale, unit_tril).
    pub fn params(&self) -> (ParamId, ParamId, ParamId) {
        (self.mean, self.log_scale, self.unit_tril)
    }

    /// q on `tape`.
    fn distribution<'t, T: Real>(&self, tape: &'t Tape<'t, T>) -> Gaussian<'t, T> {
        let reference = tape.param(self.reference_tril);
        let relative = Self::factor(tape.param(self.log_scale), tape.param(self.unit_tril));
        Gaussian::Full(MvNormal {
            mean: tape.param(self.reference_mean) + tape.param(self.mean).matmul_t(reference),
            scale_tril: reference.matmul(relative),
        })
    }
}

impl<T: Real> GaussianGuide<T> for FullRankGaussianGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        row_vector(store, self.reference_mean)
            + store.get(self.reference_tril) * row_vector(store, self.mean)
    }

    /// q = N(mean, Λ⁻¹), the exact match, as the new reference.
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()> {
        check_start(self.dim, mean, precision)?;
        self.set(store, mean, &inverse_cholesky(precision)?)
    }

    /// L Lᵀ.
    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let l = self.scale_tril(store);
        &l * l.transpose()
    }
}

guide_from_parameters!(FullRankGaussianGuide => Gaussian);

/// The lower Cholesky factor of Λ⁻¹ for a symmetric positive-definite Λ, computed on Λ scaled to
/// a unit diagonal (D Λ D with D = diag(Λ_ii^-½)), so that precisions whose scales differ by
/// many orders of magnitude lose no accuracy: chol(Λ⁻¹) = D chol((D Λ D)⁻¹).
fn inverse_cholesky<T: Real>(precision: &DMatrix<T>) -> Result<DMatrix<T>> {
    let not_pd = || Error::NotPositiveDefinite {
        what: "start precision",
    };
    let (scales, factor) = unit_diagonal_cholesky(precision).ok_or_else(not_pd)?;
    // (D Λ D)⁻¹ = L⁻ᵀ L⁻¹ for its factor L.
    let l_inverse = factor
        .solve_lower_triangular(&DMatrix::identity(scales.len(), scales.len()))
        .ok_or_else(not_pd)?;
    let inverse = l_inverse.transpose() * l_inverse;
    let factor = inverse.cholesky().ok_or_else(not_pd)?.l();
    Ok(DMatrix::from_diagonal(&scales) * factor)
}
