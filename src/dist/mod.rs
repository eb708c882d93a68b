//! Differentiable log densities, reparameterised samplers and analytic KL divergences.

mod gaussian;
mod kl;
mod mvnormal;
mod normal;

pub use gaussian::Gaussian;
pub use kl::{kl_diag, kl_divergence, kl_full};
pub use mvnormal::MvNormal;
pub use normal::{DiagNormal, LN_SQRT_2PI};
