//! Multilayer perceptrons.

use super::{Activation, Init, Linear};
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::params::ParamStore;
use crate::real::Real;
use rand::Rng;

/// A stack of [`Linear`] layers: `hidden` after each but the last, `output` after the last.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    hidden: Activation,
    output: Activation,
}

impl Mlp {
    /// Layers of the given widths, `sizes = [inputs, hidden..., outputs]` (at least two entries),
    /// registered as `{name}.0`, `{name}.1`, ..., with weights drawn by `init` (resolved for the
    /// activation each layer feeds).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than two sizes or a zero size;
    /// [`Error::Parameter`] if a name is taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        sizes: &[usize],
        hidden: Activation,
        output: Activation,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::invalid(
                "layer sizes",
                format!("{sizes:?}"),
                "at least an input and an output size",
            ));
        }
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                let activation = if k == last { output } else { hidden };
                Linear::new(
                    store,
                    &format!("{name}.{k}"),
                    w[0],
                    w[1],
                    init.resolve(activation),
                    rng,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp {
            layers,
            hidden,
            output,
        })
    }

    /// The network applied to a batch (one row per data point).
    pub fn forward<'t, T: Real>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (k, layer)| {
            let activation = if k == last { self.output } else { self.hidden };
            activation.apply(layer.forward(h))
        })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs()
    }

    /// The layers.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }
}
