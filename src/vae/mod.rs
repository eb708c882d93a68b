//! Variational autoencoders: the VAE with neural networks, and the linear VAE whose optimum
//! is known in closed form.

mod linear_vae;
#[allow(clippy::module_inception)]
mod vae;

pub use linear_vae::{LinearVae, LinearVaeStart};
pub use vae::{
    EpochReport, Vae, VaeArchitecture, VaeEncoder, VaeLikelihood, VaeTraining, VaeTrainingData,
};
