//! What a model hands the engine: a loss on a tape, from a minibatch.

use crate::autodiff::{Tape, Var};
use crate::backend::Placed;
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// The rows a loss is evaluated on, and where the run stands.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a, T: Real> {
    /// The rows this tape sees: a whole minibatch, or one shard of it, on the device the
    /// step runs on. Put it on the tape with [`Tape::constant_placed`] (no copy); read it on
    /// the host with [`Placed::host`] (a copy back from a device).
    pub x: &'a Placed<T>,
    /// N / B, the data set's rows over the minibatch's rows (1 for full-batch runs). A loss that
    /// sums over rows multiplies by it, so that a minibatch — or a shard of one — stands for
    /// the whole data set and gradients keep their scale whatever the batch size.
    pub scale: T,
    /// Steps taken before this one, over the trainer's life (0-based index of this step).
    pub step: usize,
    /// Minibatches per pass over the data.
    pub steps_per_epoch: usize,
    /// The parameter group being updated, by its position in the trainer's groups: a model
    /// with two players (a GAN's discriminator and generator) returns each one's loss.
    pub group: usize,
}

/// A scalar to minimise, computed on a tape from a minibatch.
///
/// `Sync`, because a data-parallel step may evaluate shards of a batch on several threads with
/// the same loss (it holds parameter ids and settings, not values).
pub trait Loss<T: Real>: Sync {
    /// The loss on `batch`, as a 1x1 `Var` on `tape`, standing for the whole data set. Load
    /// parameters with [`Tape::param`]; draw any noise from `rng`.
    ///
    /// # Errors
    /// Whatever the model reports for settings it cannot evaluate.
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>>;

    /// True if the loss is a sum over the batch's rows, each term depending on its own row
    /// alone (times [`Batch::scale`]). The engine then cuts large batches into shards, one per
    /// thread, each on its own tape with its own generator, and adds their gradients. The
    /// default, false, is right for any loss that looks at the batch as a whole.
    fn row_separable(&self) -> bool {
        false
    }

    /// Checks, before a run, that `data` is something this loss can be evaluated on.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] or another variant saying what is wrong.
    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        let _ = data;
        Ok(())
    }
}
