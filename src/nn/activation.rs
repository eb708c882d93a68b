//! Elementwise activation functions for network layers.

use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::real::{Real, c};
use std::fmt;
use std::str::FromStr;

/// An activation applied after a layer.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// x.
    Identity,
    /// max(x, 0).
    Relu,
    /// x for x > 0, `slope * x` otherwise.
    LeakyRelu(f64),
    /// tanh x.
    Tanh,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// ln(1 + e^x).
    Softplus,
    /// Scaled exponential linear unit (Klambauer et al. 2017).
    Selu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<'t, T: Real>(self, x: Var<'t, T>) -> Var<'t, T> {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(slope) => x.leaky_relu(c(slope)),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Softplus => x.softplus(),
            Activation::Selu => x.selu(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => write!(f, "identity"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu(s) => write!(f, "leaky_relu({s})"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Softplus => write!(f, "softplus"),
            Activation::Selu => write!(f, "selu"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `identity`, `relu`, `leaky_relu` (slope 0.01), `tanh`, `sigmoid`, `softplus` or
    /// `selu`.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" | "leaky-relu" => Activation::LeakyRelu(0.01),
            "tanh" => Activation::Tanh,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "softplus" => Activation::Softplus,
            "selu" => Activation::Selu,
            _ => {
                return Err(Error::invalid(
                    "activation",
                    s,
                    "one of identity, relu, leaky_relu, tanh, sigmoid, softplus, selu",
                ));
            }
        })
    }
}
