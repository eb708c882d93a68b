//! Ready guides: the variational families q(z) a fit adjusts. Global ones hold free parameters
//! (diagonal, full-rank and low-rank-plus-diagonal Gaussians, a point mass for the mode; one of
//! them picked at run time by [`AutoGuide`]); local ones give each data row its own q, from free
//! parameters per row or amortized through an encoder network.

/// Implements [`Guide`](crate::model::Guide) for a guide whose q is built from its own
/// parameters alone (it never reads the batch): the dimension is its `dim` field, and the
/// family on a tape is its inherent `distribution(tape)`.
macro_rules! guide_from_parameters {
    ($guide:ty => $family:ident) => {
        impl<T: Real> Guide<T> for $guide {
            type Family<'t>
                = $family<'t, T>
            where
                T: 't;

            fn dim(&self) -> usize {
                self.dim
            }

            fn family<'t>(&self, tape: &'t Tape<'t, T>, _x: Var<'t, T>) -> $family<'t, T> {
                self.distribution(tape)
            }
        }
    };
}

mod auto;
mod diag;
mod encoder;
mod full_rank;
mod local;
mod low_rank;
mod point_mass;

pub use auto::{AutoFamily, AutoGuide, GuideFamily};
pub use diag::DiagGaussianGuide;
pub use encoder::GaussianEncoder;
pub use full_rank::FullRankGaussianGuide;
pub use local::LocalDiagGaussianGuide;
pub use low_rank::LowRankGaussianGuide;
pub use point_mass::{PointMass, PointMassGuide};

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result, require_positive};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// Checks a Gaussian guide's settings and registers its `{name}.mean` (1 x dim, zeros).
fn register_mean<T: Real>(
    store: &mut ParamStore<T>,
    name: &str,
    dim: usize,
    init_sd: T,
) -> Result<ParamId> {
    if dim == 0 {
        return Err(Error::invalid("latent dimension", dim, "at least 1"));
    }
    require_positive("init_sd", init_sd)?;
    store.add(format!("{name}.mean"), DMatrix::zeros(1, dim))
}

/// Registers `{name}.{part}`, a `1 x dim` row of log scales that all start at ln `init_sd`.
fn register_log_scales<T: Real>(
    store: &mut ParamStore<T>,
    name: &str,
    part: &str,
    dim: usize,
    init_sd: T,
) -> Result<ParamId> {
    store.add(
        format!("{name}.{part}"),
        DMatrix::from_element(1, dim, init_sd.ln()),
    )
}

/// Registers a part of a global guide's reference, `{name}.{part}`, frozen: the guide's free
/// parameters are measured from it, so that a fit started at a mode takes steps relative to it
/// (see [`crate::model::GaussianGuide::start_at`]).
fn register_reference<T: Real>(
    store: &mut ParamStore<T>,
    name: &str,
    part: &str,
    value: DMatrix<T>,
) -> Result<ParamId> {
    let id = store.add(format!("{name}.{part}"), value)?;
    store.set_frozen(id, true);
    Ok(id)
}

/// Checks the arguments of a guide's `start_at`: a mean of `dim` and a `dim x dim` precision
/// with a positive, finite diagonal.
fn check_start<T: Real>(dim: usize, mean: &DVector<T>, precision: &DMatrix<T>) -> Result<()> {
    if mean.len() != dim {
        return Err(Error::shape("start mean", (dim, 1), (mean.len(), 1)));
    }
    if precision.shape() != (dim, dim) {
        return Err(Error::shape(
            "start precision",
            (dim, dim),
            precision.shape(),
        ));
    }
    crate::validate::check_finite(
        "start mean",
        &DMatrix::from_column_slice(dim, 1, mean.as_slice()),
    )?;
    crate::validate::check_finite("start precision", precision)?;
    if precision.diagonal().iter().any(|&v| v <= T::zero()) {
        return Err(Error::NotPositiveDefinite {
            what: "start precision (its diagonal must be positive)",
        });
    }
    Ok(())
}

/// The frozen reference a guide's free parameters are measured from, in diagonal scales: a
/// point m₀ (`{name}.reference_mean`) and scales s₀ (`{name}.reference_log_sd` holds ln s₀),
/// both `1 x d`. A free location u (`1 x d`) stands for m₀ + s₀ ⊙ u.
#[derive(Clone, Copy, Debug)]
struct DiagonalReference {
    mean: ParamId,
    log_sd: ParamId,
}

impl DiagonalReference {
    /// Registers the reference, frozen, at m₀ = 0 and ln s₀ = `log_sd` (`1 x d`).
    fn register<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        log_sd: DMatrix<T>,
    ) -> Result<Self> {
        let dim = log_sd.ncols();
        Ok(DiagonalReference {
            mean: register_reference(store, name, "reference_mean", DMatrix::zeros(1, dim))?,
            log_sd: register_reference(store, name, "reference_log_sd", log_sd)?,
        })
    }

    /// m₀ + s₀ ⊙ u for the free location `u`, from the values in `store`.
    fn location<T: Real>(&self, store: &ParamStore<T>, u: ParamId) -> DVector<T> {
        let (u, m0, log_s0) = (store.get(u), store.get(self.mean), store.get(self.log_sd));
        DVector::from_fn(u.len(), |j, _| m0[j] + log_s0[j].exp() * u[j])
    }

    /// m₀ + u ⊙ s₀ on `tape`, for the scales s₀ already loaded there.
    fn location_on<'t, T: Real>(
        &self,
        tape: &'t Tape<'t, T>,
        u: ParamId,
        scale: Var<'t, T>,
    ) -> Var<'t, T> {
        tape.param(self.mean) + tape.param(u) * scale
    }

    /// Checks a start and moves the reference there: the point m₀ = `mean` and the scales
    /// ln s₀_j = −½ ln Λ_jj of the curvature, so that later steps are measured in posterior
    /// sds. Returns the dimension.
    fn start<T: Real>(
        &self,
        store: &mut ParamStore<T>,
        dim: usize,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<usize> {
        check_start(dim, mean, precision)?;
        store.set(self.mean, DMatrix::from_row_slice(1, dim, mean.as_slice()))?;
        store.set(
            self.log_sd,
            DMatrix::from_fn(1, dim, |_, j| -precision[(j, j)].ln() / T::of_f64(2.0)),
        )?;
        Ok(dim)
    }
}

/// A `1 x d` parameter as a vector.
fn row_vector<T: Real>(store: &ParamStore<T>, id: ParamId) -> DVector<T> {
    DVector::from_column_slice(store.get(id).as_slice())
}
