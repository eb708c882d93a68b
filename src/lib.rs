//! # elbo
//!
//! Variational inference for latent-variable models: describe a model by its parts — a prior
//! p(z), a likelihood p(x | z) and a variational family q(z) — and fit q by stochastic gradient
//! variational Bayes, maximising the evidence lower bound
//!
//! ```text
//! ELBO = E_q[ log p(x | z) ] − KL( q(z) ‖ p(z) )  ≤  log p(x)
//! ```
//!
//! with reparameterised draws z = μ + L ε. Gradients come from the crate's own reverse-mode
//! differentiation over nalgebra matrices ([`autodiff`]), so a custom model is ordinary math on
//! [`autodiff::Var`]s and needs no hand-derived derivative.
//!
//! Where to look:
//! - [`model`]: the traits ([`model::Prior`], [`model::Likelihood`], [`model::Decoder`],
//!   [`model::VariationalFamily`], [`model::Guide`]); ready parts in [`prior`], [`guide`] and
//!   [`likelihood`];
//! - [`infer`]: the bounds ([`infer::Estimator`]: Monte Carlo, analytic-KL and analytic-entropy
//!   ELBOs, IWAE) and [`infer::Svi`], a model made of a prior, a likelihood and a guide;
//! - [`engine`]: the one training loop ([`engine::Trainer`]) with parameter groups, observers,
//!   stop reasons and checkpoints of any model;
//! - [`optim`]: the open [`optim::Optimizer`] trait, Adam, SGD, learning-rate schedules;
//! - [`vae`]: the variational autoencoder and the linear VAE; [`autoencoder`]: the
//!   deterministic autoencoders; [`generative`]: GANs, moment matching, adversarial and
//!   MMD-regularised autoencoders, conditional generation;
//! - [`conjugate`] and [`reduction`]: models with exact answers, which prove a fit right;
//! - [`dist`], [`nn`], [`special`]: densities, networks, special functions on the tape.
//!
//! Everything is generic over [`Real`] (`f32` or `f64`). Randomness is always passed in as
//! `&mut R where R: Rng + ?Sized`; with a portable seeded generator such as `rand_pcg::Pcg64` the
//! same seed gives the same numbers.
//!
//! ## Example: the mean of Gaussian data, checked against the exact posterior
//!
//! ```
//! use elbo::conjugate::GaussianMean;
//! use elbo::infer::{Svi, SviConfig};
//! use elbo::guide::DiagGaussianGuide;
//! use elbo::model::GaussianGuide;
//! use elbo::optim::Adam;
//! use elbo::ParamStore;
//! use rand::SeedableRng;
//!
//! # fn main() -> elbo::Result<()> {
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
//! // z ~ N(0, I_3), x_i | z ~ N(z, 4 I): 50 rows, measured far from zero.
//! let model = GaussianMean::new(2.0)?;
//! let (_, data) = model.simulate(3, 50, &mut rng)?;
//! let data = data.map(|v| v + 250.0);
//!
//! let mut params = ParamStore::new();
//! let guide = DiagGaussianGuide::new(&mut params, "q", 3, 1.0)?;
//! let svi = Svi::new(model.prior(3)?, model.likelihood(3)?, guide);
//! // Start at the posterior's mode with its curvature's scales, then fit until the ELBO has
//! // settled and the averaged parameters are known to 0.005 posterior sds.
//! svi.start_at_laplace(&mut params, &data)?;
//! let report = svi.fit(&mut params, &data, &mut Adam::default(), &SviConfig::default(), &mut rng)?;
//! assert!(report.converged);
//!
//! let exact = model.posterior(&data)?;
//! let error = (svi.guide.mean(&params) - &exact.mean).component_div(&exact.sd()).abs().max();
//! assert!(error < 0.01, "{error}");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod autodiff;
pub mod autoencoder;
pub mod backend;
pub mod classic;
pub mod conjugate;
pub mod data;
pub mod dist;
pub mod engine;
pub mod error;
pub mod generative;
pub mod guide;
pub mod infer;
pub mod io;
mod kernels;
pub mod likelihood;
pub mod memory;
pub mod model;
pub mod nn;
mod ops;
pub mod optim;
pub mod params;
#[cfg(feature = "plot")]
pub mod plot;
pub mod prior;
pub mod program;
pub mod real;
pub mod reduction;
pub mod special;
pub mod vae;
mod validate;

pub use error::{Error, Result};
// The crates whose types the public API takes and returns (matrices, generators), re-exported
// so that a user's code names exactly the versions this crate was built with: a second version
// in a dependency tree gives trait-bound errors that do not say so.
pub use nalgebra;
pub use params::{ParamId, ParamStore};
pub use rand;
pub use rand_pcg;
pub use real::Real;

/// The README's code, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The tutorial on programs (`docs/models.md`), compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../docs/models.md")]
pub struct ModelsDoctests;
