//! Elementwise activation functions for network layers.

use crate::autodiff::Var;
use crate::autodiff::{SELU_ALPHA, SELU_LAMBDA};
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
    /// Scaled exponential linear unit (Klambauer et al. 2017): λx for x > 0, λα(eˣ − 1)
    /// otherwise, λ ≈ 1.0507, α ≈ 1.6733.
    Selu,
    /// The binary step 𝟙(x > 0) for binary codes, trained with the straight-through gradient
    /// (backpropagation passes through it as through the identity).
    Step,
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
            Activation::Step => x.step_straight_through(),
        }
    }

    /// σ'(a) at the pre-activations `a`, given the activations `h = σ(a)`, on the tape and
    /// differentiable where σ' is (a contractive penalty needs its gradient). The step's true
    /// derivative is 0 (its straight-through gradient is a training device, not a slope).
    pub fn derivative<'t, T: Real>(self, a: Var<'t, T>, h: Var<'t, T>) -> Var<'t, T> {
        let tape = a.tape();
        let mask = |below: f64, above: f64| {
            tape.constant(
                a.value()
                    .map(|v| T::of_f64(if v > T::zero() { above } else { below })),
            )
        };
        let one = || tape.constant(a.value().map(|_| T::one()));
        match self {
            Activation::Identity => one(),
            Activation::Relu => mask(0.0, 1.0),
            Activation::LeakyRelu(slope) => mask(slope, 1.0),
            Activation::Tanh => one() - h.square(),
            Activation::Sigmoid => h * (one() - h),
            Activation::Softplus => a.sigmoid(),
            // λ above 0; λα eᵃ = h + λα below.
            Activation::Selu => {
                mask(0.0, SELU_LAMBDA) + mask(1.0, 0.0) * h.shift(c(SELU_LAMBDA * SELU_ALPHA))
            }
            Activation::Step => mask(0.0, 0.0),
        }
    }

    /// The activation's values mapped into (0, 1), where "off" is 0: itself for the logistic
    /// and the step; (h + 1)/2 for tanh (off at −1); 1 − e^{−(h + λα)} for SELU (off at −λα,
    /// its lower bound; unbounded above, so squashed smoothly); σ(h) otherwise. What a
    /// sparsity target ρ is measured against.
    pub fn to_unit_interval<'t, T: Real>(self, h: Var<'t, T>) -> Var<'t, T> {
        match self {
            Activation::Sigmoid | Activation::Step => h,
            Activation::Tanh => h.shift(T::one()).scale(c(0.5)),
            Activation::Selu => {
                let floor = c::<T>(SELU_LAMBDA * SELU_ALPHA);
                -((-h.shift(floor)).exp().shift(-T::one()))
            }
            _ => h.sigmoid(),
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
            Activation::Step => write!(f, "step"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `identity`, `relu`, `leaky_relu` (slope 0.01), `tanh`, `sigmoid`, `softplus`,
    /// `selu` or `step`.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" | "leaky-relu" => Activation::LeakyRelu(0.01),
            "tanh" => Activation::Tanh,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "softplus" => Activation::Softplus,
            "selu" => Activation::Selu,
            "step" | "binary" => Activation::Step,
            _ => {
                return Err(Error::invalid(
                    "activation",
                    s,
                    "one of identity, relu, leaky_relu, tanh, sigmoid, softplus, selu, step",
                ));
            }
        })
    }
}
