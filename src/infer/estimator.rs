//! Estimators of the evidence lower bound and of the importance-weighted bound.

use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::model::{Likelihood, Prior, Scope, VariationalFamily};
use crate::real::{Real, c};
use rand::Rng;

/// Which bound on log p(x) is estimated, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// E_q[log p(x, z) − log q(z)], every term by Monte Carlo. Works for any family.
    Elbo,
    /// E_q[log p(x | z)] − KL(q ‖ p), the KL in closed form (Gaussian family and prior).
    ElboAnalyticKl,
    /// E_q[log p(x, z)] + H(q), the entropy in closed form (Gaussian family).
    ElboAnalyticEntropy,
    /// The importance-weighted bound log (1/K) Σ_k p(x, z_k) / q(z_k) with K = particles
    /// (Burda et al. 2016); K = 1 is the ELBO, and it rises towards log p(x) as K grows.
    Iwae,
}

/// How the gradient flows through log q.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientEstimator {
    /// The full reparameterisation gradient.
    Reparameterization,
    /// The path derivative ("sticking the landing", Roeder et al. 2017): log q is scored with its
    /// parameters cut from the gradient, dropping the score term, which has mean zero. Its
    /// variance vanishes when q equals the posterior, so fits settle exactly. For
    /// [`Estimator::Elbo`] only.
    PathDerivative,
}

/// An estimator with its number of Monte Carlo particles and gradient estimator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// The bound.
    pub estimator: Estimator,
    /// Draws from q per estimate (K for the IWAE bound).
    pub particles: usize,
    /// The gradient estimator.
    pub gradient: GradientEstimator,
    /// β, the weight of the KL term: E_q[log p(x | z)] − β KL(q ‖ p). 1 gives the ELBO; a VAE's
    /// KL warm-up raises it from 0 to 1; β-VAEs use other values. Must be 1 for the IWAE bound.
    pub kl_weight: f64,
}

impl Default for Objective {
    /// The Monte Carlo ELBO with one particle and the path-derivative gradient.
    fn default() -> Self {
        Objective {
            estimator: Estimator::Elbo,
            particles: 1,
            gradient: GradientEstimator::PathDerivative,
            kl_weight: 1.0,
        }
    }
}

impl Objective {
    /// `estimator` with `particles` draws and the full reparameterisation gradient.
    pub fn new(estimator: Estimator, particles: usize) -> Self {
        Objective {
            estimator,
            particles,
            gradient: GradientEstimator::Reparameterization,
            kl_weight: 1.0,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero particles or the path derivative with an estimator
    /// other than [`Estimator::Elbo`].
    pub fn validate(&self) -> Result<()> {
        if self.particles == 0 {
            return Err(Error::invalid("particles", 0, "at least 1"));
        }
        if !(self.kl_weight >= 0.0 && self.kl_weight.is_finite()) {
            return Err(Error::invalid(
                "KL weight",
                self.kl_weight,
                "a finite number >= 0",
            ));
        }
        if self.estimator == Estimator::Iwae && self.kl_weight != 1.0 {
            return Err(Error::invalid(
                "KL weight",
                self.kl_weight,
                "1 for the IWAE bound",
            ));
        }
        if self.gradient == GradientEstimator::PathDerivative && self.estimator != Estimator::Elbo {
            return Err(Error::invalid(
                "gradient estimator",
                "PathDerivative",
                "Reparameterization unless the estimator is Estimator::Elbo",
            ));
        }
        Ok(())
    }

    /// The bound for each distribution of `q` (`R x 1`: one entry for a global latent, one per
    /// data row for a local one).
    ///
    /// `data_scale` multiplies the log-likelihood of a global latent so that a minibatch of B of
    /// N rows stands for the whole data set (pass N/B; 1 for the full data). It is not applied
    /// to local latents, whose rows are bounds on each data point's own evidence.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the settings are invalid or an analytic term is asked of
    /// a family or prior without one; [`Error::ShapeMismatch`] if a local family's rows do not
    /// match the data's.
    pub fn estimate<'t, T, F, P, L, G>(
        &self,
        prior: &P,
        likelihood: &L,
        q: &F,
        x: Var<'t, T>,
        data_scale: T,
        rng: &mut G,
    ) -> Result<Var<'t, T>>
    where
        T: Real + 't,
        F: VariationalFamily<'t, T>,
        P: Prior<T> + ?Sized,
        L: Likelihood<T>,
        G: Rng + ?Sized,
    {
        self.validate()?;
        let (rows, particles) = (q.rows(), self.particles);
        let scope = likelihood.scope();
        if scope == Scope::Local && rows != x.shape().0 {
            return Err(Error::shape(
                "local variational family (rows)",
                (x.shape().0, q.dim()),
                (rows, q.dim()),
            ));
        }
        let beta = c::<T>(self.kl_weight);
        let z = q.rsample(particles, rng);
        let log_lik = match scope {
            Scope::Global => likelihood
                .log_likelihood_sampled(x, z, rng)
                .scale(data_scale),
            Scope::Local if particles == 1 => likelihood.log_likelihood(x, z),
            Scope::Local => likelihood.log_likelihood(x.tile_rows(particles), z),
        };
        // Column s of an R x S matrix holds draw s, matching the stacking of rsample.
        let by_draw = |v: Var<'t, T>| v.reshape(rows, particles);
        let analytic_missing = |term| {
            Error::invalid(
                "estimator",
                term,
                "a Gaussian family and prior, or Estimator::Elbo",
            )
        };
        Ok(match self.estimator {
            Estimator::Elbo | Estimator::Iwae => {
                let scored = match self.gradient {
                    GradientEstimator::Reparameterization => q.log_prob(z),
                    GradientEstimator::PathDerivative => q.stop_gradient().log_prob(z),
                };
                let log_w = by_draw(log_lik + (prior.log_prob(z) - scored).scale(beta));
                if self.estimator == Estimator::Elbo {
                    log_w.row_means()
                } else {
                    log_w
                        .row_logsumexp()
                        .shift(-c::<T>((particles as f64).ln()))
                }
            }
            Estimator::ElboAnalyticKl => {
                let kl = q
                    .kl_to_prior(prior)
                    .ok_or_else(|| analytic_missing("ElboAnalyticKl"))?;
                by_draw(log_lik).row_means() - kl.scale(beta)
            }
            Estimator::ElboAnalyticEntropy => {
                let entropy = q
                    .entropy()
                    .ok_or_else(|| analytic_missing("ElboAnalyticEntropy"))?;
                by_draw(log_lik + prior.log_prob(z).scale(beta)).row_means() + entropy.scale(beta)
            }
        })
    }
}
