//! The adversarial autoencoder: an autoencoder whose codes are pushed towards an imposed prior
//! by a discriminator that tells codes from prior draws, and that the encoder learns to fool.

use crate::autodiff::{Tape, Var};
use crate::autoencoder::{AutoencoderLoss, Codec};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::model::Prior;
use crate::nn::Network;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// An autoencoder, a discriminator on codes (K in, one logit out) and the prior p(z) the codes
/// should follow. Generation decodes prior draws.
///
/// As an engine [`Loss`] it serves three parameter groups, by position in the trainer:
/// - [`AdversarialAutoencoder::RECONSTRUCTION`] (0), the encoder and decoder: the
///   autoencoder's own objective (a sum over the data set, as [`AutoencoderLoss`] gives it);
/// - [`AdversarialAutoencoder::DISCRIMINATOR`] (1): the cross-entropy of telling prior draws
///   (positives) from the batch's codes (negatives), batch means;
/// - [`AdversarialAutoencoder::ENCODER`] (2), the encoder alone: −mean ln D(f(x)), the
///   non-saturating loss of fooling the discriminator.
///
/// Each group's step holds the others' parameters as constants.
pub struct AdversarialAutoencoder<'a, T: Real, A: ?Sized, D, P> {
    /// The autoencoder and its reconstruction objective.
    pub autoencoder: AutoencoderLoss<'a, T, A>,
    /// D on codes, as a logit.
    pub discriminator: D,
    /// p(z).
    pub prior: P,
}

impl<T: Real, A: ?Sized, D, P> AdversarialAutoencoder<'_, T, A, D, P> {
    /// The encoder and decoder's group: the first.
    pub const RECONSTRUCTION: usize = 0;
    /// The discriminator's group: the second.
    pub const DISCRIMINATOR: usize = 1;
    /// The encoder's adversarial group: the third.
    pub const ENCODER: usize = 2;
}

impl<T, A, D, P> Loss<T> for AdversarialAutoencoder<'_, T, A, D, P>
where
    T: Real,
    A: Codec<T> + ?Sized,
    D: Network<T>,
    P: Prior<T>,
{
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        if batch.group == Self::RECONSTRUCTION {
            return self.autoencoder.loss(tape, batch, rng);
        }
        let x = tape.constant_placed(batch.x);
        let codes = self
            .autoencoder
            .autoencoder
            .encode_with_jacobian(x, false)
            .0;
        let code_logits = self.discriminator.forward(codes);
        match batch.group {
            Self::DISCRIMINATOR => {
                let draws = self.prior.sample(tape, batch.x.nrows(), rng)?;
                let prior_logits = self.discriminator.forward(draws);
                Ok((-prior_logits).softplus().mean() + code_logits.softplus().mean())
            }
            Self::ENCODER => Ok((-code_logits).softplus().mean()),
            other => Err(Error::invalid(
                "parameter group of an adversarial autoencoder",
                other,
                "0 (encoder and decoder), 1 (discriminator) or 2 (encoder)",
            )),
        }
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.autoencoder.validate(data)?;
        check_code_width(self.autoencoder.autoencoder.code_width(), self.prior.dim())?;
        if self.discriminator.inputs() != self.prior.dim() || self.discriminator.outputs() != 1 {
            return Err(Error::shape(
                "code discriminator (code in, one logit out)",
                (self.prior.dim(), 1),
                (self.discriminator.inputs(), self.discriminator.outputs()),
            ));
        }
        Ok(())
    }
}

/// Checks that the codes and the prior's draws have the same width.
pub(crate) fn check_code_width(code: usize, prior: usize) -> Result<()> {
    if code != prior {
        return Err(Error::shape(
            "prior (dimension: the autoencoder's code units)",
            (1, code),
            (1, prior),
        ));
    }
    Ok(())
}
