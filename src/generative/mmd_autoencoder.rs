//! The MMD-regularised autoencoder (WAE-MMD, InfoVAE): reconstruction plus λ·MMD² between the
//! batch's codes and draws from a prior, in place of the VAE's KL term.

use super::adversarial_autoencoder::check_code_width;
use super::mmd::GaussianMmd;
use crate::autodiff::{Tape, Var};
use crate::autoencoder::{AutoencoderLoss, Codec};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::model::Prior;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// An autoencoder trained on its own objective plus λ·MMD²(codes, prior draws) per example:
/// with the autoencoder's sum over the data set (N/B times the batch's), the penalty is
/// N·λ·MMD² of the batch's codes against as many prior draws. One parameter group.
pub struct MmdAutoencoder<'a, T: Real, A: ?Sized, P> {
    /// The autoencoder and its reconstruction objective.
    pub autoencoder: AutoencoderLoss<'a, T, A>,
    /// p(z).
    pub prior: P,
    /// The discrepancy (its bandwidths).
    pub mmd: GaussianMmd,
    /// λ, per example.
    pub weight: f64,
}

impl<T, A, P> Loss<T> for MmdAutoencoder<'_, T, A, P>
where
    T: Real,
    A: Codec<T> + ?Sized,
    P: Prior<T>,
{
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        let (reconstruction, codes) = self.autoencoder.loss_and_codes(tape, batch, rng);
        let rows = batch.x.nrows();
        let draws = self.prior.sample(tape, rows.max(2), rng)?;
        let n = batch.scale * T::of_f64(rows as f64);
        let penalty = self.mmd.mmd2_for_gradients(codes, draws);
        Ok(reconstruction + penalty.scale(n * c(self.weight)))
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.autoencoder.validate(data)?;
        self.mmd.validate()?;
        if !(self.weight >= 0.0 && self.weight.is_finite()) {
            return Err(Error::invalid(
                "MMD weight",
                self.weight,
                "a finite number >= 0",
            ));
        }
        check_code_width(self.autoencoder.autoencoder.code_width(), self.prior.dim())
    }
}
