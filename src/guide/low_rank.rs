//! The low-rank-plus-diagonal Gaussian guide: correlations in a few directions at O(d r) cost.

use super::{DiagonalReference, register_log_scales, register_mean};
use crate::autodiff::{Tape, Var};
use crate::dist::LowRankNormal;
use crate::error::{Error, Result};
use crate::model::{GaussianGuide, Guide, VariationalFamily};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use crate::reduction::sorted_eigen;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// q(z) = N(μ, S (W Wᵀ + diag e^{2v}) S) with μ = m₀ + S u, for a rank r chosen by the user.
/// The free parameters are `{name}.mean` (u, 1 x d), `{name}.factor` (W, d x r) and
/// `{name}.log_sd` (v, 1 x d); they are measured from a frozen reference, the point
/// `{name}.reference_mean` (m₀) and the diagonal scales S = diag(exp(`{name}.reference_log_sd`)).
///
/// [`GaussianGuide::start_at`] sets the reference to a mode and the scales 1/√Λ_jj of its
/// curvature, and fits W and v to the curvature's inverse in those units the way probabilistic
/// PCA fits a covariance: W from its r leading eigenvectors, e^{2v} the mean of the other
/// eigenvalues. (At W = 0 the bound's gradient in W vanishes, so a factor must start away from
/// zero; `new` starts it at small multiples of the first r unit vectors.)
#[derive(Clone, Debug)]
pub struct LowRankGaussianGuide {
    mean: ParamId,
    factor: ParamId,
    log_sd: ParamId,
    reference: DiagonalReference,
    dim: usize,
    rank: usize,
}

impl LowRankGaussianGuide {
    /// Registers the parameters in `store`: mean 0, W with entries 0.1·`init_sd` on its first r
    /// diagonal positions, σ = `init_sd`.
    ///
    /// # Errors
    /// As [`crate::guide::DiagGaussianGuide::new`]; [`Error::InvalidParameter`] unless
    /// 1 ≤ `rank` ≤ `dim`.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        rank: usize,
        init_sd: T,
    ) -> Result<Self> {
        if rank == 0 || rank > dim {
            return Err(Error::invalid(
                "rank",
                rank,
                "between 1 and the latent dimension",
            ));
        }
        let mean = register_mean(store, name, dim, init_sd)?;
        let small = init_sd * T::of_f64(0.1);
        let factor = store.add(
            format!("{name}.factor"),
            DMatrix::from_fn(dim, rank, |i, k| if i == k { small } else { T::zero() }),
        )?;
        let log_sd = register_log_scales(store, name, "log_sd", dim, init_sd)?;
        let reference = DiagonalReference::register(store, name, DMatrix::zeros(1, dim))?;
        Ok(LowRankGaussianGuide {
            mean,
            factor,
            log_sd,
            reference,
            dim,
            rank,
        })
    }

    /// The rank r of the factor.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The distribution on `tape`, in z's units.
    fn distribution<'t, T: Real>(&self, tape: &'t Tape<'t, T>) -> LowRankNormal<'t, T> {
        let log_scale = tape.param(self.reference.log_sd);
        let scale = log_scale.exp();
        LowRankNormal {
            mean: self.reference.location_on(tape, self.mean, scale),
            factor: tape.param(self.factor) * scale.transpose(),
            log_sd: tape.param(self.log_sd) + log_scale,
        }
    }
}

impl<T: Real> GaussianGuide<T> for LowRankGaussianGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        self.reference.location(store, self.mean)
    }

    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        let tape = Tape::for_evaluation(store);
        self.distribution(&tape).covariance()
    }

    /// The reference at `mean` with scales 1/√Λ_jj; W and v fitted to the scaled inverse
    /// curvature R = (S Λ S)⁻¹ by its eigen-decomposition (W = V_r (Λ_r − σ²)^½, σ² the mean of
    /// the remaining eigenvalues; exact when rank = dim up to σ², then half the smallest).
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()> {
        let d = self.reference.start(store, self.dim, mean, precision)?;
        let r = self.rank;
        let scales = DVector::from_fn(d, |j, _| 1.0 / precision[(j, j)].to_f64().sqrt());
        let scaled = DMatrix::from_fn(d, d, |i, j| {
            precision[(i, j)].to_f64() * scales[i] * scales[j]
        });
        let inverse = scaled.try_inverse().ok_or(Error::NotPositiveDefinite {
            what: "start precision",
        })?;
        let (values, vectors) = sorted_eigen((&inverse + inverse.transpose()) / 2.0);
        if values[d - 1] <= 0.0 {
            return Err(Error::NotPositiveDefinite {
                what: "start precision",
            });
        }
        let noise = if r < d {
            values.rows(r, d - r).mean()
        } else {
            values[d - 1] / 2.0
        };
        // A floor keeps W off the stationary point W = 0 when the curvature is uncorrelated.
        let lengths = DVector::from_fn(r, |k, _| (values[k] - noise).max(0.01 * noise).sqrt());
        let factor = DMatrix::from_fn(d, r, |i, k| T::of_f64(vectors[(i, k)] * lengths[k]));
        store.set(self.mean, DMatrix::zeros(1, d))?;
        store.set(self.factor, factor)?;
        store.set(
            self.log_sd,
            DMatrix::from_element(1, d, T::of_f64(noise.ln() / 2.0)),
        )
    }
}

guide_from_parameters!(LowRankGaussianGuide => LowRankNormal);

impl<'t, T: Real> VariationalFamily<'t, T> for LowRankNormal<'t, T> {
    fn rows(&self) -> usize {
        1
    }
    fn dim(&self) -> usize {
        LowRankNormal::dim(self)
    }
    fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        LowRankNormal::rsample(self, particles, rng)
    }
    fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        LowRankNormal::log_prob(self, z)
    }
    fn stop_gradient(&self) -> Self {
        LowRankNormal::stop_gradient(self)
    }
    fn entropy(&self) -> Option<Var<'t, T>> {
        Some(LowRankNormal::entropy(self))
    }
}
