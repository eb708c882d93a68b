//! A chain of networks, each followed by an activation: convolutional stacks, or any mix of
//! layers, as one [`Network`].

use super::{Activation, Network};
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::real::Real;

/// Networks applied one after another, each followed by its activation.
#[derive(Debug)]
pub struct Sequential<T: Real> {
    stages: Vec<(Box<dyn Network<T>>, Activation)>,
}

impl<T: Real> Default for Sequential<T> {
    fn default() -> Self {
        Sequential { stages: Vec::new() }
    }
}

impl<T: Real> Sequential<T> {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `network` followed by `activation`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if its input width is not the chain's output width.
    pub fn then(
        mut self,
        network: impl Network<T> + 'static,
        activation: Activation,
    ) -> Result<Self> {
        if let Some((last, _)) = self.stages.last()
            && last.outputs() != network.inputs()
        {
            return Err(Error::shape(
                "next network of a chain (its inputs: the outputs before it)",
                (1, last.outputs()),
                (1, network.inputs()),
            ));
        }
        self.stages.push((Box::new(network), activation));
        Ok(self)
    }
}

impl<T: Real> Network<T> for Sequential<T> {
    /// # Panics
    /// If the chain is empty (a programming error: build it with [`Sequential::then`]).
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        assert!(!self.stages.is_empty(), "an empty Sequential network");
        self.stages.iter().fold(x, |h, (network, activation)| {
            activation.apply(network.forward(h))
        })
    }

    fn inputs(&self) -> usize {
        self.stages.first().map_or(0, |(n, _)| n.inputs())
    }

    fn outputs(&self) -> usize {
        self.stages.last().map_or(0, |(n, _)| n.outputs())
    }
}
