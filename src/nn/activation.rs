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
        let (rows, cols) = a.shape();
        // `above` where a > 0, `below` elsewhere (NaN included), a constant: made from a's
        // step (exactly 0 or 1) and its complement by products that round to exactly `above`
        // and `below`, so that it is made where the tape runs, a's values never read back.
        let mask = |below: f64, above: f64| {
            let step = a.detach().step_straight_through();
            let rest = step.scale(-T::one()).shift(T::one());
            step.scale(c(above)) + rest.scale(c(below))
        };
        let one = || a.tape().filled(rows, cols, T::one());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Tape;
    use crate::backend::Device;
    use nalgebra::DMatrix;

    const ALL: [Activation; 8] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Selu,
        Activation::Step,
    ];

    /// σ'(a) from `derivative` on a tape on `device`.
    fn slopes(activation: Activation, a: &DMatrix<f64>, device: Device) -> DMatrix<f64> {
        let tape = Tape::new().on_device(device).unwrap();
        let pre = tape.input(a.clone());
        let post = activation.apply(pre);
        activation.derivative(pre, post).value().clone_owned()
    }

    #[test]
    fn derivatives_match_central_differences_on_the_host_and_the_device() {
        // Away from the kinks at 0, where the one-sided slopes differ.
        let a = DMatrix::from_fn(3, 7, |i, j| {
            (i as f64 - 1.0) * 1.3 + (j as f64 - 3.0) * 0.41 + 0.17
        });
        assert!(a.iter().all(|v| v.abs() > 0.05));
        let h = 1e-6;
        for activation in ALL {
            let slope = slopes(activation, &a, Device::Cpu);
            let value = |x: f64| {
                let tape = Tape::new();
                activation
                    .apply(tape.input(DMatrix::from_element(1, 1, x)))
                    .scalar()
            };
            for (&x, &got) in a.iter().zip(slope.iter()) {
                let want = if activation == Activation::Step {
                    0.0
                } else {
                    (value(x + h) - value(x - h)) / (2.0 * h)
                };
                assert!(
                    (got - want).abs() < 1e-7,
                    "{activation} at {x}: {got} vs {want}"
                );
            }
            // The same to the bit on the device (tests/all/device.rs counts what a contractive
            // step copies).
            assert_eq!(
                slopes(activation, &a, Device::Emulated(0)),
                slope,
                "{activation}"
            );
        }
    }

    #[test]
    fn the_piecewise_slopes_are_exactly_their_two_values() {
        let a = DMatrix::from_row_slice(1, 5, &[-2.0, -0.0, 0.0, 1e-300, f64::NAN]);
        for (activation, below, above) in [
            (Activation::Relu, 0.0, 1.0),
            (Activation::LeakyRelu(0.01), 0.01, 1.0),
            (Activation::LeakyRelu(0.3), 0.3, 1.0),
            (Activation::Step, 0.0, 0.0),
        ] {
            let slope = slopes(activation, &a, Device::Cpu);
            let want = [below, below, below, above, below];
            for (got, want) in slope.iter().zip(want) {
                assert_eq!(got.to_bits(), f64::to_bits(want), "{activation}: {slope}");
            }
        }
    }
}
