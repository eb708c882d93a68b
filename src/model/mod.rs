//! The traits a model is made of: a [`Prior`] p(z), a [`Likelihood`] p(x | z), and a [`Guide`]
//! that produces a [`VariationalFamily`] q(z) on each step's tape — from free parameters (a
//! global guide) or, later, from an encoder of x (an amortized guide).
//!
//! Conventions shared by every trait: data `x` reaches the model as a constant `Var` with one row
//! per data point (the fitting loop puts each batch on the tape once, without copying); a latent
//! sample `z` is a `Var` with one row per draw; log densities come back as a column with one entry
//! per row of `z`.

use crate::autodiff::{Tape, Var};
use crate::dist::{Gaussian, kl_divergence};
use crate::error::{Error, Result};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// How the rows of a latent sample relate to the rows of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One latent vector explains the whole data set (a parameter, such as a mean or a
    /// regression weight). Each row of `z` is a draw of it; a minibatch's log-likelihood is
    /// scaled by N/B to stand for the whole data set.
    Global,
    /// One latent vector per data point (as in a VAE). Row `i` of `z` explains row `i` of `x`.
    Local,
}

/// The prior p(z).
///
/// Priors, likelihoods and guides are `Sync`: a training step may evaluate shards of a batch on
/// several threads with the same model (they hold parameter ids and settings, not values).
pub trait Prior<T: Real>: Sync {
    /// Dimension of z.
    fn dim(&self) -> usize;

    /// log p(z_i) for each row of `z` (`n x d`); returns `n x 1`. Learnable priors load their
    /// parameters from `z.tape()`.
    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T>;

    /// `n` draws from the prior on `tape`, one per row (`n x d`); a learnable prior loads its
    /// parameters from `tape`, and reparameterised draws let gradients flow to them.
    ///
    /// # Errors
    /// The default says the prior has no sampler ([`crate::Error::InvalidParameter`]): a prior
    /// that is only a density (a program's, with a flat prior on a parameter) need not write one.
    fn sample<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        n: usize,
        rng: &mut R,
    ) -> Result<Var<'t, T>>
    where
        Self: Sized,
    {
        let _ = (tape, n, rng);
        Err(crate::Error::invalid(
            "prior",
            "a density without a sampler",
            "a prior that implements Prior::sample",
        ))
    }

    /// The prior as a Gaussian on `tape`, if it is one (enables analytic KL terms).
    fn gaussian<'t>(&self, tape: &'t Tape<'t, T>) -> Option<Gaussian<'t, T>> {
        let _ = tape;
        None
    }
}

/// The likelihood p(x | z). It may own learnable parameters (loaded from `z.tape()`).
pub trait Likelihood<T: Real>: Sync {
    /// The scope of the latent this likelihood conditions on.
    fn scope(&self) -> Scope;

    /// For each row of `z`, the log-likelihood of the data it explains: all rows of `x` for a
    /// [`Scope::Global`] latent (returns `n x 1` for `n` draws), row `i` of `x` for row `i` of
    /// `z` for a [`Scope::Local`] one (then `x` and `z` have equally many rows).
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T>;

    /// The log-likelihood where it needs random draws of its own, as the bounds call it: a
    /// likelihood with per-row latents of its own (a program's local latents) returns, for
    /// each row of `z`, a one-draw lower bound Σ_i E_q[ln p(x_i, u_i | z) − ln q(u_i | x_i)] from
    /// its guide of those latents. The default is [`Likelihood::log_likelihood`].
    fn log_likelihood_sampled<'t, R: Rng + ?Sized>(
        &self,
        x: Var<'t, T>,
        z: Var<'t, T>,
        rng: &mut R,
    ) -> Var<'t, T>
    where
        Self: Sized,
    {
        let _ = rng;
        self.log_likelihood(x, z)
    }

    /// Checks that `x` is data this likelihood can score with latents of dimension
    /// `latent_dim`, before any fitting starts.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] (or another variant) saying what is wrong.
    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()>;
}

/// Checks that `data` has `columns` columns: the shape check a `validate` starts with.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what`, with `data`'s rows and `columns` columns expected.
pub(crate) fn check_columns<T: nalgebra::Scalar>(
    what: &'static str,
    data: &DMatrix<T>,
    columns: usize,
) -> Result<()> {
    if data.ncols() != columns {
        return Err(Error::shape(what, (data.nrows(), columns), data.shape()));
    }
    Ok(())
}

/// A likelihood that is a decoder: p(x | z) with a mean E[x | z] to reconstruct and generate
/// from (a VAE's or an autoencoder's observation model).
pub trait Decoder<T: Real>: Likelihood<T> {
    /// E[x | z] for each row of `z`.
    fn mean<'t>(&self, z: Var<'t, T>) -> Var<'t, T>;
}

/// A model's parts may be borrowed: a program is its own prior and likelihood
/// ([`crate::program::Program`]), and [`crate::infer::Svi`] holds both views of it.
impl<T: Real, P: Prior<T>> Prior<T> for &P {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        (**self).log_prob(z)
    }
    fn sample<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        n: usize,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        (**self).sample(tape, n, rng)
    }
    fn gaussian<'t>(&self, tape: &'t Tape<'t, T>) -> Option<Gaussian<'t, T>> {
        (**self).gaussian(tape)
    }
}

impl<T: Real, L: Likelihood<T>> Likelihood<T> for &L {
    fn scope(&self) -> Scope {
        (**self).scope()
    }
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        (**self).log_likelihood(x, z)
    }
    fn log_likelihood_sampled<'t, R: Rng + ?Sized>(
        &self,
        x: Var<'t, T>,
        z: Var<'t, T>,
        rng: &mut R,
    ) -> Var<'t, T> {
        (**self).log_likelihood_sampled(x, z, rng)
    }
    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        (**self).validate(x, latent_dim)
    }
}

impl<T: Real, L: Likelihood<T> + ?Sized> Likelihood<T> for Box<L> {
    fn scope(&self) -> Scope {
        (**self).scope()
    }
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        (**self).log_likelihood(x, z)
    }
    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        (**self).validate(x, latent_dim)
    }
}

impl<T: Real, D: Decoder<T> + ?Sized> Decoder<T> for Box<D> {
    fn mean<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        (**self).mean(z)
    }
}

/// A variational distribution q(z) instantiated on a tape.
pub trait VariationalFamily<'t, T: Real + 't>: Sized {
    /// Number of distributions: 1 for a global latent, one per data row for a local one.
    fn rows(&self) -> usize;

    /// Dimension of z.
    fn dim(&self) -> usize;

    /// `particles` reparameterised draws, stacked: rows `s·R .. (s+1)·R` are draw `s` for each of
    /// the `R` distributions. Gradients flow through the draw to q's parameters.
    fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T>;

    /// log q(z_i) for each row (row `i` is scored under distribution `i mod R`).
    fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T>;

    /// The same distribution with its parameters cut from the gradient. Scoring a draw under it
    /// gives the path-derivative ("sticking the landing") gradient estimator.
    fn stop_gradient(&self) -> Self;

    /// The family as a Gaussian, if it is one.
    fn as_gaussian(&self) -> Option<Gaussian<'t, T>> {
        None
    }

    /// Differential entropy of each distribution (`R x 1`), where known in closed form.
    fn entropy(&self) -> Option<Var<'t, T>> {
        self.as_gaussian().map(|g| g.entropy())
    }

    /// KL(q ‖ prior) for each distribution (`R x 1`), where known in closed form.
    fn kl_to_prior<P: Prior<T> + ?Sized>(&self, prior: &P) -> Option<Var<'t, T>> {
        let q = self.as_gaussian()?;
        let p = prior.gaussian(q.tape())?;
        kl_divergence(&q, &p)
    }
}

/// Produces the variational family for a step: from free parameters (global) or from `x`.
pub trait Guide<T: Real>: Sync {
    /// The family it produces.
    type Family<'t>: VariationalFamily<'t, T>
    where
        T: 't;

    /// Dimension of z.
    fn dim(&self) -> usize;

    /// Loads the guide's parameters onto `tape` and builds q for the minibatch `x` (a global
    /// guide ignores `x`).
    fn family<'t>(&self, tape: &'t Tape<'t, T>, x: Var<'t, T>) -> Self::Family<'t>;

    /// True if q for row i of a minibatch depends on row i of `x` alone, as an encoder's does.
    /// Training may then cut a batch into shards of rows and differentiate them on separate
    /// threads (with local latents). The default, false, is right for every guide whose q
    /// depends on where a row sits in the batch or on the whole batch.
    fn row_wise(&self) -> bool {
        false
    }
}

/// A guide whose q is a single Gaussian (a global latent): read back what the fit found.
pub trait GaussianGuide<T: Real>: Guide<T> {
    /// The current mean of q.
    fn mean(&self, store: &ParamStore<T>) -> DVector<T>;

    /// The current covariance of q.
    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T>;

    /// Moves q to the member of its family closest (in KL(q ‖ ·)) to the Gaussian
    /// N(mean, precision⁻¹) — a Laplace approximation, say — and measures later steps from it, in
    /// units of its scales: where a fit should start on data of any scale or offset
    /// ([`crate::infer::Svi::start_at_laplace`]).
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] for a mean or precision of the wrong size;
    /// [`crate::Error::NonFiniteData`] for non-finite values; [`crate::Error::NotPositiveDefinite`]
    /// for a precision that is not positive definite (as far as the family needs it to be).
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()>;
}

impl<'t, T: Real> VariationalFamily<'t, T> for Gaussian<'t, T> {
    fn rows(&self) -> usize {
        Gaussian::rows(self)
    }
    fn dim(&self) -> usize {
        Gaussian::dim(self)
    }
    fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        Gaussian::rsample(self, particles, rng)
    }
    fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        Gaussian::log_prob(self, z)
    }
    fn stop_gradient(&self) -> Self {
        Gaussian::stop_gradient(self)
    }
    fn as_gaussian(&self) -> Option<Gaussian<'t, T>> {
        Some(*self)
    }
}
