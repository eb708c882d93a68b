//! Generators trained without the ELBO, and conditional generation.
//!
//! A generator network turns simple noise into data. It is trained either directly, by a
//! sample-based distance between generated and real data ([`MomentMatching`], on the maximum
//! mean discrepancy of [`GaussianMmd`]), or through a discriminator it must fool
//! ([`Gan`]). The same two ideas regularise an autoencoder's codes towards a prior: by an
//! adversary ([`AdversarialAutoencoder`]) or by MMD ([`MmdAutoencoder`]). A conditional GAN
//! takes a one-hot label beside the noise; a conditional VAE decodes the label beside the
//! latent ([`ConditionalBernoulli`]). Every one is an engine [`Loss`](crate::engine::Loss):
//! the alternating updates of the adversarial ones are the engine's parameter groups.

mod adversarial_autoencoder;
mod conditional_decoder;
mod gan;
mod generator;
mod mmd;
mod mmd_autoencoder;
mod moment_matching;

pub use adversarial_autoencoder::AdversarialAutoencoder;
pub use conditional_decoder::ConditionalBernoulli;
pub use gan::{Gan, GanLoss};
pub use generator::{Generator, Noise};
pub use mmd::GaussianMmd;

/// The old name of [`GaussianMmd`].
#[deprecated(note = "renamed `GaussianMmd`")]
pub type GaussianKernels = GaussianMmd;
pub use mmd_autoencoder::MmdAutoencoder;
pub use moment_matching::MomentMatching;
