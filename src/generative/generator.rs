//! A generator: a network that turns simple noise — and, for a conditional one, a label —
//! into data.

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::nn::Network;
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// The noise ε a generator starts from, independent per coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Uniform on (−1, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

impl Noise {
    /// `rows x dim` draws.
    pub fn sample<T: Real, R: Rng + ?Sized>(
        self,
        rows: usize,
        dim: usize,
        rng: &mut R,
    ) -> DMatrix<T> {
        self.draw(&Tape::new(), rows, dim, rng)
            .value()
            .clone_owned()
    }

    /// `rows x dim` draws on `tape`, made where it runs.
    pub fn draw<'t, T: Real, R: Rng + ?Sized>(
        self,
        tape: &'t Tape<'t, T>,
        rows: usize,
        dim: usize,
        rng: &mut R,
    ) -> Var<'t, T> {
        match self {
            Noise::Uniform => tape.uniform(rows, dim, (-1.0, 1.0), rng),
            Noise::Normal => tape.standard_normal(rows, dim, rng),
        }
    }
}

/// G([ε, y]): a network whose input is `noise` of its input width minus `classes`, followed
/// (for a conditional generator, `classes > 0`) by a one-hot label y. Its output is a data row
/// (its own output activation: the logistic for pixels, none for real values).
#[derive(Clone, Debug)]
pub struct Generator<N> {
    /// The network, noise (and label) in, data out.
    pub network: N,
    /// The noise's law.
    pub noise: Noise,
    /// Label classes for a conditional generator; 0 for none.
    pub classes: usize,
}

impl<N> Generator<N> {
    /// The noise's dimension: the network's input width less the label's.
    pub fn noise_dim<T: Real>(&self) -> usize
    where
        N: Network<T>,
    {
        self.network.inputs().saturating_sub(self.classes)
    }

    /// Checks that the network leaves room for noise beside the label.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the network's input is not wider than the label.
    pub fn validate<T: Real>(&self) -> Result<()>
    where
        N: Network<T>,
    {
        if self.network.inputs() <= self.classes {
            return Err(Error::invalid(
                "generator input width",
                self.network.inputs(),
                "more than the label's classes (room for noise)",
            ));
        }
        Ok(())
    }

    /// `rows` generated rows on `tape`, given their one-hot labels (`rows x classes`) when
    /// the generator is conditional.
    pub fn generate<'t, T: Real, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        labels: Option<Var<'t, T>>,
        rows: usize,
        rng: &mut R,
    ) -> Var<'t, T>
    where
        N: Network<T>,
    {
        let noise = self.noise.draw(tape, rows, self.noise_dim(), rng);
        let input = match labels {
            Some(labels) => Var::concat_columns(&[noise, labels]),
            None => noise,
        };
        self.network.forward(input)
    }

    /// `n` generated rows off the tape; for a conditional generator, one per row of the one-hot
    /// `labels` (then `n` is their number).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if labels are given to an unconditional generator, missing for
    /// a conditional one, or not `classes` wide.
    pub fn sample<T: Real, R: Rng + ?Sized>(
        &self,
        store: &ParamStore<T>,
        n: usize,
        labels: Option<&DMatrix<T>>,
        rng: &mut R,
    ) -> Result<DMatrix<T>>
    where
        N: Network<T>,
    {
        let tape = Tape::for_evaluation(store);
        let (rows, labels) = match (labels, self.classes) {
            (None, 0) => (n, None),
            (Some(l), classes) if classes > 0 && l.ncols() == classes => {
                (l.nrows(), Some(tape.constant(l.clone())))
            }
            (given, classes) => {
                return Err(Error::shape(
                    "labels for the generator (one-hot, one row per sample)",
                    (n, classes),
                    given.map_or((0, 0), |l| l.shape()),
                ));
            }
        };
        Ok(self
            .generate(&tape, labels, rows, rng)
            .value()
            .clone_owned())
    }
}

/// Splits data rows into their features and, when `classes > 0`, the one-hot labels carried in
/// the last `classes` columns.
pub(crate) fn split_labels<'t, T: Real>(
    x: Var<'t, T>,
    classes: usize,
) -> (Var<'t, T>, Option<Var<'t, T>>) {
    if classes == 0 {
        return (x, None);
    }
    let features = x.shape().1 - classes;
    (x.columns(0, features), Some(x.columns(features, classes)))
}
