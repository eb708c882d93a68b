//! Weight initialisation from the seeded generator.

use super::Activation;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// How to draw a layer's initial weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out)); suits tanh, sigmoid and linear
    /// layers.
    Xavier,
    /// He et al. (2015): N(0, 2 / fan_in); suits ReLU-like layers.
    He,
    /// LeCun: N(0, 1 / fan_in); the initialisation SELU's self-normalisation assumes.
    LeCun,
}

impl Init {
    /// The usual choice for a layer followed by `activation`.
    pub fn for_activation(activation: Activation) -> Self {
        match activation {
            Activation::Relu | Activation::LeakyRelu(_) => Init::He,
            Activation::Selu => Init::LeCun,
            _ => Init::Xavier,
        }
    }

    /// A `fan_in x fan_out` weight matrix.
    pub fn weights<T: Real, R: Rng + ?Sized>(
        self,
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) -> DMatrix<T> {
        let variance = match self {
            Init::Xavier => 2.0 / (fan_in + fan_out) as f64,
            Init::He => 2.0 / fan_in as f64,
            Init::LeCun => 1.0 / fan_in as f64,
        };
        let sd = T::of_f64(variance.sqrt());
        DMatrix::from_fn(fan_in, fan_out, |_, _| T::standard_normal(rng) * sd)
    }
}
