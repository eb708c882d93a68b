//! Ready likelihoods p(x | z): Gaussian observations of a global mean, linear regression, and
//! the decoders of autoencoding models (Gaussian and Bernoulli observations of a network's
//! output).

mod bernoulli_decoder;
mod gaussian;
mod gaussian_decoder;
mod linear_regression;

pub use bernoulli_decoder::BernoulliDecoder;
pub use gaussian::GaussianLikelihood;
pub use gaussian_decoder::{GaussianDecoder, ObservationVariance};
pub use linear_regression::LinearRegressionLikelihood;

use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::real::Real;
use nalgebra::DMatrix;

/// Checks that a decoder network `net` fits latents of `latent_dim` and data `x`.
fn validate_decoder<T: Real>(
    net: &impl crate::nn::Network<T>,
    x: &DMatrix<T>,
    latent_dim: usize,
) -> Result<()> {
    if latent_dim != net.inputs() {
        return Err(Error::shape(
            "latent (decoder input)",
            (1, net.inputs()),
            (1, latent_dim),
        ));
    }
    check_columns("data (decoder output columns)", x, net.outputs())
}
