//! The affine layer x W + b.

use super::{Init, check_sizes};
use crate::autodiff::Var;
use crate::error::Result;
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// y = x W + b for a batch x with one row per data point: W is `inputs x outputs`
/// (`{name}.weight`), b is `1 x outputs` (`{name}.bias`, starting at zero).
#[derive(Clone, Debug)]
pub struct Linear {
    weight: ParamId,
    bias: ParamId,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    /// Registers a layer's parameters in `store`, weights drawn by `init`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a zero size; [`crate::Error::Parameter`] if a name is
    /// taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        inputs: usize,
        outputs: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        check_sizes("layer size", inputs, outputs)?;
        let weight = store.add(format!("{name}.weight"), init.weights(inputs, outputs, rng))?;
        let bias = store.add(format!("{name}.bias"), DMatrix::zeros(1, outputs))?;
        Ok(Linear {
            weight,
            bias,
            inputs,
            outputs,
        })
    }

    /// x W + b on the tape of `x`.
    pub fn forward<'t, T: Real>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        x.affine(tape.param(self.weight), tape.param(self.bias))
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The parameter ids: (weight, bias).
    pub fn params(&self) -> (ParamId, ParamId) {
        (self.weight, self.bias)
    }
}
