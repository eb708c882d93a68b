//! The generative adversarial network: a generator trained to fool a discriminator that is
//! trained to tell its output from real data, the two updated in turn by the engine's
//! parameter groups.

use super::generator::{Generator, split_labels};
use crate::autodiff::{Tape, Var};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::nn::{Network, check_width};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// What the generator minimises, given the discriminator's logit l = logit D(G(ε)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GanLoss {
    /// −ln D(G(ε)) = softplus(−l): strong gradients while the discriminator still wins.
    #[default]
    NonSaturating,
    /// ln(1 − D(G(ε))) = −softplus(l): the minimax game as first written, whose gradient
    /// vanishes while the discriminator rejects the samples confidently.
    Minimax,
}

/// A GAN: a [`Generator`] and a discriminator network (a data row, and for a conditional GAN
/// its one-hot label, in; one logit out).
///
/// As an engine [`Loss`] it serves two parameter groups, by position in the trainer:
/// [`Gan::DISCRIMINATOR`] (0) is given the discriminator's cross-entropy, real rows as
/// positives and generated ones as negatives, −mean ln D(x) − mean ln(1 − D(G(ε)));
/// [`Gan::GENERATOR`] (1) the [`GanLoss`]. Make the generator's group `.every(k)` for k
/// discriminator steps per generator step; each group's step holds the other's parameters as
/// constants. Both losses are batch means (a GAN's loss does not stand for a data set's sum).
/// A conditional GAN reads each data row's label from its last `classes` columns and gives
/// the same label to the generated row it is paired with.
#[derive(Clone, Debug)]
pub struct Gan<G, D> {
    /// G.
    pub generator: Generator<G>,
    /// D, as a logit.
    pub discriminator: D,
    /// The generator's loss.
    pub loss: GanLoss,
}

impl<G, D> Gan<G, D> {
    /// The discriminator's group: the first.
    pub const DISCRIMINATOR: usize = 0;
    /// The generator's group: the second.
    pub const GENERATOR: usize = 1;
}

impl<G, D> Gan<G, D> {
    /// logit D(x) (or D([x, y])) for each row.
    fn judge<'t, T: Real>(&self, x: Var<'t, T>, labels: Option<Var<'t, T>>) -> Var<'t, T>
    where
        D: Network<T>,
    {
        match labels {
            Some(labels) => self
                .discriminator
                .forward(Var::concat_columns(&[x, labels])),
            None => self.discriminator.forward(x),
        }
    }

    /// D(x) ∈ (0, 1), the discriminator's probability that each row is real, off the tape
    /// (rows with their one-hot labels for a conditional GAN).
    pub fn discriminate<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T>
    where
        D: Network<T>,
    {
        let tape = Tape::for_evaluation(store);
        let (x, labels) = split_labels(tape.constant(x.clone()), self.generator.classes);
        self.judge(x, labels).sigmoid().value().clone_owned()
    }
}

impl<T: Real, G: Network<T>, D: Network<T>> Loss<T> for Gan<G, D> {
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        let rows = batch.x.nrows();
        let (real, labels) = split_labels(tape.constant_placed(batch.x), self.generator.classes);
        let fake = self.generator.generate(tape, labels, rows, rng);
        let fake_logits = self.judge(fake, labels);
        match batch.group {
            Self::DISCRIMINATOR => {
                let real_logits = self.judge(real, labels);
                Ok((-real_logits).softplus().mean() + fake_logits.softplus().mean())
            }
            Self::GENERATOR => Ok(match self.loss {
                GanLoss::NonSaturating => (-fake_logits).softplus().mean(),
                GanLoss::Minimax => -fake_logits.softplus().mean(),
            }),
            other => Err(Error::invalid(
                "parameter group of a GAN",
                other,
                "0 (the discriminator) or 1 (the generator)",
            )),
        }
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.generator.validate()?;
        let classes = self.generator.classes;
        check_width(data, self.generator.network.outputs(), classes)?;
        if self.discriminator.inputs() != data.ncols() || self.discriminator.outputs() != 1 {
            return Err(Error::shape(
                "discriminator (inputs: features and labels; one logit out)",
                (data.ncols(), 1),
                (self.discriminator.inputs(), self.discriminator.outputs()),
            ));
        }
        Ok(())
    }
}
