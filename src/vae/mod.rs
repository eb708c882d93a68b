//! Variational autoencoders: the VAE with neural networks, and the linear VAE whose optimum
//! is known in closed form.

// The VAE's files, one job each: its settings, the model and what it computes from its
// networks, its training, the evaluation of its bounds, its checkpoints.
mod evaluate;
mod linear_vae;
mod model;
mod persist;
mod settings;
mod train;

pub use linear_vae::{LinearVae, LinearVaeStart};
pub use model::{Vae, VaeEncoder};
pub use settings::{VaeArchitecture, VaeLikelihood, VaeTraining};
pub use train::{EpochReport, VaeTrainingData};
