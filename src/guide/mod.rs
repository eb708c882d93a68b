//! Ready guides: the variational families q(z) a fit adjusts. Global ones hold free parameters
//! (diagonal, full-rank and low-rank-plus-diagonal Gaussians, a point mass for the mode; one of
//! them picked at run time by [`AutoGuide`]); local ones give each data row its own q, from free
//! parameters per row or amortized through an encoder network.

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

/// Checks a start and moves a diagonal reference there: the point m₀ = `mean` and the scales
/// ln s₀_j = −½ ln Λ_jj of the curvature, so that later steps are measured in posterior sds.
/// Returns the dimension.
fn start_diagonal_reference<T: Real>(
    store: &mut ParamStore<T>,
    (reference_mean, reference_log_sd): (ParamId, ParamId),
    dim: usize,
    mean: &DVector<T>,
    precision: &DMatrix<T>,
) -> Result<usize> {
    check_start(dim, mean, precision)?;
    store.set(
        reference_mean,
        DMatrix::from_row_slice(1, dim, mean.as_slice()),
    )?;
    store.set(
        reference_log_sd,
        DMatrix::from_fn(1, dim, |_, j| -precision[(j, j)].ln() / T::of_f64(2.0)),
    )?;
    Ok(dim)
}

/// A `1 x d` parameter as a vector.
fn row_vector<T: Real>(store: &ParamStore<T>, id: ParamId) -> DVector<T> {
    DVector::from_column_slice(store.get(id).as_slice())
}
