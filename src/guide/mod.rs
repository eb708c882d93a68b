//! Ready guides: the variational families q(z) a fit adjusts. Global ones hold free parameters
//! (diagonal and full-rank Gaussians); local ones give each data row its own q, from free
//! parameters per row or amortized through an encoder network.

mod diag;
mod encoder;
mod full_rank;
mod local;

pub use diag::DiagGaussianGuide;
pub use encoder::GaussianEncoder;
pub use full_rank::FullRankGaussianGuide;
pub use local::LocalDiagGaussianGuide;

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

/// A `1 x d` parameter as a vector.
fn row_vector<T: Real>(store: &ParamStore<T>, id: ParamId) -> DVector<T> {
    DVector::from_column_slice(store.get(id).as_slice())
}
