//! Weight initialisation from the seeded generator.

use super::Activation;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

/// How to draw a layer's initial weights (biases start at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Init {
    /// Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out)); suits tanh, sigmoid and linear
    /// layers.
    Xavier,
    /// He et al. (2015): N(0, 2 / fan_in); suits deep ReLU stacks.
    He,
    /// LeCun: N(0, 1 / fan_in); the initialisation SELU's self-normalisation assumes.
    LeCun,
    /// U(−1/√fan_in, 1/√fan_in), variance 1 / (3 fan_in): small weights, the common default of
    /// deep-learning libraries. Shallow VAEs train to a better ELBO from it than from He or
    /// Xavier (see the VAE notes in docs/).
    Uniform,
    /// Per layer, by the activation that follows it: He for ReLU-like, LeCun for SELU, Xavier
    /// otherwise.
    ForActivation,
}

impl Init {
    /// The concrete scheme for a layer followed by `activation` (only
    /// [`Init::ForActivation`] depends on it).
    pub fn resolve(self, activation: Activation) -> Self {
        match (self, activation) {
            (Init::ForActivation, Activation::Relu | Activation::LeakyRelu(_)) => Init::He,
            (Init::ForActivation, Activation::Selu) => Init::LeCun,
            (Init::ForActivation, _) => Init::Xavier,
            (concrete, _) => concrete,
        }
    }

    /// A `fan_in x fan_out` weight matrix ([`Init::ForActivation`] draws as
    /// [`Init::Xavier`] here: resolve it first).
    pub fn weights<T: Real, R: Rng + ?Sized>(
        self,
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) -> DMatrix<T> {
        let n = fan_in as f64;
        match self {
            Init::Uniform => {
                let bound = 1.0 / n.sqrt();
                DMatrix::from_fn(fan_in, fan_out, |_, _| {
                    T::of_f64(rng.random_range(-bound..bound))
                })
            }
            normal => {
                let variance = match normal {
                    Init::He => 2.0 / n,
                    Init::LeCun => 1.0 / n,
                    _ => 2.0 / (n + fan_out as f64),
                };
                let sd = T::of_f64(variance.sqrt());
                DMatrix::from_fn(fan_in, fan_out, |_, _| T::standard_normal(rng) * sd)
            }
        }
    }
}
