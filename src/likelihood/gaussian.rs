//! x_i | z ~ N(z, Σ) with a known covariance Σ: noisy observations of a global mean.

use crate::autodiff::Var;
use crate::dist::LN_SQRT_2PI;
use crate::error::{Error, Result, require_positive};
use crate::kernels::matmul;
use crate::model::{Likelihood, Scope, check_columns};
use crate::prior::cholesky;
use crate::real::{Real, c};
use crate::validate::check_finite;
use nalgebra::DMatrix;
use std::sync::Arc;

/// p(x | z) = Π_i N(x_i; z, Σ) for a global latent z, with Σ fixed and known.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianLikelihood<T: Real> {
    scale_tril: DMatrix<T>,
    precision: Arc<DMatrix<T>>,
    precision_is_diagonal: bool,
    half_log_det: T,
}

impl<T: Real> GaussianLikelihood<T> {
    /// Noise covariance Σ (`d x d`, symmetric positive definite).
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`], [`Error::NonFiniteData`] or [`Error::ShapeMismatch`] for a
    /// covariance that is not a valid one.
    pub fn new(covariance: DMatrix<T>) -> Result<Self> {
        if !covariance.is_square() || covariance.nrows() == 0 {
            return Err(Error::shape(
                "noise covariance",
                (covariance.nrows(), covariance.nrows()),
                covariance.shape(),
            ));
        }
        check_finite("noise covariance", &covariance)?;
        let scale_tril = cholesky(covariance, "noise covariance")?;
        let half_log_det = scale_tril
            .diagonal()
            .iter()
            .map(|v| v.ln())
            .fold(T::zero(), |a, b| a + b);
        let d = scale_tril.nrows();
        // Σ⁻¹ = L⁻ᵀ L⁻¹, from the factor rather than by inverting Σ.
        let inv_l = scale_tril
            .solve_lower_triangular(&DMatrix::identity(d, d))
            .ok_or(Error::NotPositiveDefinite {
                what: "noise covariance",
            })?;
        let precision = Arc::new(inv_l.transpose() * &inv_l);
        let precision_is_diagonal =
            (0..d).all(|j| (0..d).all(|i| i == j || precision[(i, j)] == T::zero()));
        Ok(GaussianLikelihood {
            scale_tril,
            precision,
            precision_is_diagonal,
            half_log_det,
        })
    }

    /// Σ = sd² I in `dim` dimensions.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `sd` is not a positive finite number or `dim` is 0.
    pub fn isotropic(dim: usize, sd: T) -> Result<Self> {
        require_positive("noise sd", sd)?;
        if dim == 0 {
            return Err(Error::invalid("dimension", dim, "at least 1"));
        }
        Self::new(DMatrix::from_diagonal_element(dim, dim, sd * sd))
    }

    /// The lower Cholesky factor of Σ.
    pub fn scale_tril(&self) -> &DMatrix<T> {
        &self.scale_tril
    }
}

impl<T: Real> Likelihood<T> for GaussianLikelihood<T> {
    fn scope(&self) -> Scope {
        Scope::Global
    }

    /// With P = Σ⁻¹: Σ_i (x_i − z)ᵀP(x_i − z) = tr(P XᵀX) − 2 zᵀP Σ_i x_i + B zᵀPz. The data
    /// enter through XᵀX and Σ_i x_i (one matrix product), and each draw costs O(d²).
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        let tape = z.tape();
        // The data enter only through these statistics.
        let (b, d, sum, data_term) = x.with_value(|x| {
            let (b, d) = x.shape();
            // Column sums and squared norms straight from the column-major storage.
            let columns = || x.as_slice().chunks_exact(b.max(1));
            let sum = DMatrix::from_iterator(
                d,
                1,
                columns().map(|col| col.iter().fold(T::zero(), |a, &v| a + v)),
            );
            let data_term = if self.precision_is_diagonal {
                columns()
                    .enumerate()
                    .map(|(j, col)| {
                        self.precision[(j, j)] * col.iter().fold(T::zero(), |a, &v| a + v * v)
                    })
                    .fold(T::zero(), |a, v| a + v)
            } else {
                self.precision
                    .component_mul(&matmul(x, true, x, false))
                    .sum()
            };
            (b, d, sum, data_term)
        });
        let precision_sum = tape.constant(&*self.precision * sum); // d x 1
        let cross = z.matmul(precision_sum); // S x 1
        let quad = (z.matmul(tape.constant_shared(Arc::clone(&self.precision))) * z).row_sums(); // S x 1
        let mahalanobis = (quad.scale(c(b as f64)) - cross.scale(c(2.0))).shift(data_term);
        let norm = c::<T>(b as f64) * (self.half_log_det + c::<T>(d as f64 * LN_SQRT_2PI));
        mahalanobis.scale(c(-0.5)).shift(-norm)
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        let d = self.scale_tril.nrows();
        if latent_dim != d {
            return Err(Error::shape(
                "latent (one entry per data column)",
                (1, d),
                (1, latent_dim),
            ));
        }
        check_columns("data (columns)", x, d)
    }
}
