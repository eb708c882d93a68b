//! One type for both Gaussian shapes, so that priors and variational families can meet in an
//! analytic KL whatever their covariance structure.

use super::{DiagNormal, MvNormal};
use crate::autodiff::Var;
use crate::real::Real;
use rand::Rng;

/// A Gaussian on the tape: diagonal (possibly one per row) or full covariance.
#[derive(Clone, Copy, Debug)]
pub enum Gaussian<'t, T: Real> {
    /// Independent coordinates; `R` distributions, one per row.
    Diag(DiagNormal<'t, T>),
    /// Full covariance through a Cholesky factor; a single distribution.
    Full(MvNormal<'t, T>),
}

impl<'t, T: Real> Gaussian<'t, T> {
    /// Number of distributions (rows): `R` for [`Gaussian::Diag`], 1 for [`Gaussian::Full`].
    pub fn rows(&self) -> usize {
        match self {
            Gaussian::Diag(g) => g.rows(),
            Gaussian::Full(_) => 1,
        }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        match self {
            Gaussian::Diag(g) => g.dim(),
            Gaussian::Full(g) => g.dim(),
        }
    }

    /// Log density of each row of `z` (see [`DiagNormal::log_prob`]).
    pub fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        match self {
            Gaussian::Diag(g) => g.log_prob(z),
            Gaussian::Full(g) => g.log_prob(z),
        }
    }

    /// Reparameterised draws (see [`DiagNormal::rsample`]).
    pub fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        match self {
            Gaussian::Diag(g) => g.rsample(particles, rng),
            Gaussian::Full(g) => g.rsample(particles, rng),
        }
    }

    /// Differential entropy of each distribution (`R x 1`).
    pub fn entropy(&self) -> Var<'t, T> {
        match self {
            Gaussian::Diag(g) => g.entropy(),
            Gaussian::Full(g) => g.entropy(),
        }
    }

    /// The same distribution with its parameters detached from the tape.
    pub fn stop_gradient(&self) -> Self {
        match self {
            Gaussian::Diag(g) => Gaussian::Diag(g.stop_gradient()),
            Gaussian::Full(g) => Gaussian::Full(g.stop_gradient()),
        }
    }

    /// As a full-covariance Gaussian; `None` for a diagonal Gaussian with several rows.
    pub fn to_full(&self) -> Option<MvNormal<'t, T>> {
        match self {
            Gaussian::Full(g) => Some(*g),
            Gaussian::Diag(g) if g.rows() == 1 => Some(MvNormal {
                mean: g.mean,
                scale_tril: g.log_sd.exp().diagonal_matrix(),
            }),
            Gaussian::Diag(_) => None,
        }
    }
}

impl<'t, T: Real> Gaussian<'t, T> {
    /// The tape the distribution's parameters live on.
    pub fn tape(&self) -> &'t crate::autodiff::Tape<'t, T> {
        match self {
            Gaussian::Diag(g) => g.mean.tape(),
            Gaussian::Full(g) => g.mean.tape(),
        }
    }
}
