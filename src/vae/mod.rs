//! Ready-made models built from the crate's parts.

mod checkpoint;
mod linear_vae;
mod vae;

pub use linear_vae::LinearVae;
pub use vae::{EpochReport, Vae, VaeConfig, VaeDecoder, VaeLikelihood};
