//! # elbo
//!
//! Variational inference for latent-variable models in Rust.
#![warn(missing_docs)]

pub mod autodiff;
pub mod conjugate;
pub mod data;
pub mod dist;
pub mod error;
pub mod infer;
pub mod model;
pub mod optim;
pub mod params;
pub mod real;

pub use error::{Error, Result};
pub use params::{ParamId, ParamStore};
pub use real::Real;
