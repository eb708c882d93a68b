//! Differentiable log densities, reparameterised samplers and analytic KL divergences; a
//! library of distributions on the tape ([`Distribution`]); supports of constrained
//! parameters and their transforms from the reals ([`Support`], [`Transform`]).

mod bounded;
mod categorical;
mod dirichlet;
mod discrete;
mod gaussian;
mod kl;
mod low_rank;
mod mixture;
mod mvnormal;
mod normal;
mod positive;
mod real_line;
mod transform;
mod univariate;

pub use bounded::{Beta, Uniform};
pub use categorical::Categorical;
pub use dirichlet::Dirichlet;
pub use discrete::{Bernoulli, Binomial, NegativeBinomial, Poisson};
pub use gaussian::Gaussian;
pub use kl::{kl_diag, kl_divergence, kl_full};
pub use low_rank::LowRankNormal;
pub use mixture::Mixture;
pub use mvnormal::MvNormal;
pub use normal::{DiagNormal, LN_SQRT_2PI};
pub use positive::{Exponential, Gamma, HalfCauchy, HalfNormal, LogNormal};
pub use real_line::{Cauchy, Laplace, Normal, StudentT};
pub use transform::{Support, Transform};
pub use univariate::Distribution;

/// Panics unless `a` and `b` have the same number of columns: a density's parameters and its
/// points must agree in dimension (broadcasting would silently score the wrong thing, and put
/// the wrong dimension in the normalising constant).
#[track_caller]
pub(crate) fn same_width(op: &str, a: (usize, usize), b: (usize, usize)) {
    assert!(
        a.1 == b.1,
        "{op}: shapes {}x{} and {}x{} differ in dimension (columns)",
        a.0,
        a.1,
        b.0,
        b.1
    );
}
