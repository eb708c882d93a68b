//! Ready priors p(z): the standard normal and a general Gaussian.

mod gaussian;

pub use gaussian::{GaussianPrior, StandardNormal};
pub(crate) use gaussian::{cholesky, unit_diagonal_cholesky};
