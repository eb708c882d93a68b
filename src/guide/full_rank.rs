//! The full-rank Gaussian guide: a free mean and a free Cholesky factor.

use super::{register_mean, row_vector};
use crate::autodiff::{Tape, Var};
use crate::dist::{Gaussian, MvNormal};
use crate::error::{Error, Result};
use crate::memory::{ensure_available, entries};
use crate::model::{GaussianGuide, Guide};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// q(z) = N(μ, L Lᵀ) with free parameters `{name}.mean` (1 x d), `{name}.log_scale` (1 x d) and
/// `{name}.unit_tril` (d x d): L = diag(exp(log_scale)) (I + strictly lower part of unit_tril).
///
/// So L_ii = exp(log_scale_i) and L_ij = L_ii u_ij: every real parameter value gives a valid
/// Cholesky factor, and the off-diagonal parameters are dimensionless ratios, of order one
/// whatever the posterior's scale. (Parameterising L's entries directly makes them as small as
/// the posterior sds, so that Adam's steps — of the size of the learning rate — are far too
/// coarse for them when the posterior is narrow.) Entries of `unit_tril` on and above the
/// diagonal are unused and get zero gradient.
#[derive(Clone, Debug)]
pub struct FullRankGaussianGuide {
    mean: ParamId,
    log_scale: ParamId,
    unit_tril: ParamId,
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
        let log_scale = store.add(
            format!("{name}.log_scale"),
            DMatrix::from_element(1, dim, init_sd.ln()),
        )?;
        let unit_tril = store.add(format!("{name}.unit_tril"), DMatrix::zeros(dim, dim))?;
        Ok(FullRankGaussianGuide {
            mean,
            log_scale,
            unit_tril,
            dim,
        })
    }

    fn factor<'t, T: Real>(log_scale: Var<'t, T>, unit_tril: Var<'t, T>) -> Var<'t, T> {
        let (rows, cols) = unit_tril.shape();
        let identity = log_scale.tape().constant(DMatrix::identity(rows, cols));
        // Row i scaled by exp(log_scale_i): a d x 1 column broadcast across the columns.
        (unit_tril.lower_triangle(false) + identity) * log_scale.exp().transpose()
    }

    /// The current Cholesky factor L.
    pub fn scale_tril<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
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

    /// Sets the parameters so that q = N(mean, L Lᵀ) for a lower-triangular `scale_tril` with a
    /// positive diagonal.
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
        if mean.len() != d || scale_tril.shape() != (d, d) {
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
        store.set(self.mean, DMatrix::from_row_slice(1, d, mean.as_slice()))?;
        store.set(
            self.log_scale,
            DMatrix::from_fn(1, d, |_, j| scale_tril[(j, j)].ln()),
        )?;
        store.set(
            self.unit_tril,
            DMatrix::from_fn(d, d, |i, j| {
                if i > j {
                    scale_tril[(i, j)] / scale_tril[(i, i)]
                } else {
                    T::zero()
                }
            }),
        )
    }

    /// The parameter ids: (mean, log_scale, unit_tril).
    pub fn params(&self) -> (ParamId, ParamId, ParamId) {
        (self.mean, self.log_scale, self.unit_tril)
    }
}

impl<T: Real> GaussianGuide<T> for FullRankGaussianGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        row_vector(store, self.mean)
    }

    /// L Lᵀ.
    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let l = self.scale_tril(store);
        &l * l.transpose()
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

    fn family<'t>(&self, tape: &'t Tape<'t, T>, _x: Var<'t, T>) -> Gaussian<'t, T> {
        Gaussian::Full(MvNormal {
            mean: tape.param(self.mean),
            scale_tril: Self::factor(tape.param(self.log_scale), tape.param(self.unit_tril)),
        })
    }
}
