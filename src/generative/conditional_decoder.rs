//! The likelihood of a conditional VAE: pixels given the latent and the label each data row
//! carries.

use super::generator::split_labels;
use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::model::{Likelihood, Scope};
use crate::nn::{Network, check_width};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;

/// p(x | z, y): Bernoulli pixels whose logits a network computes from [z, y], y the one-hot
/// label in each data row's last `classes` columns. With an encoder that reads whole rows
/// (pixels and label), [`crate::infer::Svi`] trains the conditional VAE through the engine;
/// [`ConditionalBernoulli::generate`] then draws a requested label's images.
#[derive(Clone, Debug)]
pub struct ConditionalBernoulli<N> {
    /// The network, [z, y] in, one logit per pixel out.
    pub network: N,
    /// Label classes.
    pub classes: usize,
}

impl<N> ConditionalBernoulli<N> {
    /// E[x | z, y] for each row of `z` and of the one-hot `labels`, off the tape.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `z` and `labels` have as many rows and together are the
    /// network's input width.
    pub fn generate<T: Real>(
        &self,
        store: &ParamStore<T>,
        z: &DMatrix<T>,
        labels: &DMatrix<T>,
    ) -> Result<DMatrix<T>>
    where
        N: Network<T>,
    {
        if z.nrows() != labels.nrows()
            || labels.ncols() != self.classes
            || z.ncols() + labels.ncols() != self.network.inputs()
        {
            return Err(Error::shape(
                "latents and one-hot labels (one row each, together the decoder's input)",
                (z.nrows(), self.network.inputs()),
                (labels.nrows(), z.ncols() + labels.ncols()),
            ));
        }
        let tape = Tape::for_evaluation(store);
        let input = Var::concat_columns(&[tape.constant(z.clone()), tape.constant(labels.clone())]);
        Ok(self.network.forward(input).sigmoid().value().clone_owned())
    }
}

impl<T: Real, N: Network<T>> Likelihood<T> for ConditionalBernoulli<N> {
    fn scope(&self) -> Scope {
        Scope::Local
    }

    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        let (pixels, labels) = split_labels(x, self.classes);
        let input = match labels {
            Some(labels) => Var::concat_columns(&[z, labels]),
            None => z,
        };
        self.network.forward(input).bernoulli_log_prob(pixels)
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        if self.network.inputs() != latent_dim + self.classes {
            return Err(Error::shape(
                "conditional decoder input (latent and label)",
                (1, latent_dim + self.classes),
                (1, self.network.inputs()),
            ));
        }
        check_width(x, self.network.outputs(), self.classes)
    }
}
