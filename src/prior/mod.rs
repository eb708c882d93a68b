//! Ready priors p(z): the standard normal and a general Gaussian.

mod gaussian;

pub(crate) use gaussian::cholesky;
pub use gaussian::{GaussianPrior, StandardNormal};
