//! p(x | z) = Bernoulli(sigmoid(f(z))) with a network f: the VAE decoder for data in [0, 1].

use super::validate_decoder;
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::model::{Decoder, Likelihood, Scope};
use crate::nn::{Mlp, Network};
use crate::real::Real;
use crate::validate::first_failing;
use nalgebra::DMatrix;

/// p(x | z) = Π_j p_j^x_j (1 − p_j)^(1 − x_j), p = sigmoid(f(z)), for a local latent. Scored from
/// the logits l = f(z) as x·l − softplus(l), which never takes the log of 0; x may lie anywhere
/// in [0, 1] (grey levels give the usual binary cross-entropy).
#[derive(Clone, Debug)]
pub struct BernoulliDecoder<N = Mlp> {
    net: N,
}

impl<N> BernoulliDecoder<N> {
    /// A decoder whose logits are the network `net` (latent in, data columns out; give it an
    /// identity output activation).
    pub fn new(net: N) -> Self {
        BernoulliDecoder { net }
    }

    /// The logits f(z) of each row of `z`.
    pub fn logits<'t, T: Real>(&self, z: Var<'t, T>) -> Var<'t, T>
    where
        N: Network<T>,
    {
        self.net.forward(z)
    }
}

impl<T: Real, N: Network<T>> Decoder<T> for BernoulliDecoder<N> {
    /// The probabilities sigmoid(f(z)).
    fn mean<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        self.logits(z).sigmoid()
    }
}

impl<T: Real, N: Network<T>> Likelihood<T> for BernoulliDecoder<N> {
    fn scope(&self) -> Scope {
        Scope::Local
    }

    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        self.logits(z).bernoulli_log_prob(x)
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        validate_decoder(&self.net, x, latent_dim)?;
        if let Some(k) = first_failing(x.as_slice(), |v| v >= T::zero() && v <= T::one()) {
            return Err(Error::invalid(
                "Bernoulli data value",
                x.as_slice()[k],
                "values in [0, 1]: scale the data first",
            ));
        }
        Ok(())
    }
}
