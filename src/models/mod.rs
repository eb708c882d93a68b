//! Ready-made models built from the crate's parts.

mod vae;

pub use vae::{EpochReport, Vae, VaeConfig, VaeDecoder, VaeLikelihood};
