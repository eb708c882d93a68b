//! The exact Gaussian posterior of a linear-Gaussian model, and the evidence by Bayes' rule.

use crate::autodiff::Tape;
use crate::dist::{Gaussian, MvNormal, kl_full};
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// An exact Gaussian posterior N(mean, covariance) with the model's exact log evidence.
///
/// Computed in f64 whatever precision the fit runs in: it is the reference answer.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianPosterior {
    /// Posterior mean.
    pub mean: DVector<f64>,
    /// Posterior covariance.
    pub covariance: DMatrix<f64>,
    /// Posterior precision (the inverse covariance).
    pub precision: DMatrix<f64>,
    /// log p(x), the exact log marginal likelihood.
    pub log_evidence: f64,
}

impl GaussianPosterior {
    /// Combines a N(0, I) prior with a likelihood whose log is
    /// `−½ zᵀ Λ z + ηᵀ z + const` in z (so that the posterior precision is `I + Λ` and its
    /// information vector `η`). The evidence comes from Bayes' rule at the posterior mean ẑ:
    /// log p(x) = log p(x | ẑ) + log p(ẑ) − log p(ẑ | x), exact for any ẑ, with
    /// `log_likelihood(ẑ)` supplied by the model. This is how a new conjugate check is written:
    /// give a model's Λ, η and log-likelihood, and fit it against the answer.
    ///
    /// ```
    /// use elbo::conjugate::GaussianPosterior;
    /// use nalgebra::{DMatrix, DVector};
    ///
    /// # fn main() -> elbo::Result<()> {
    /// // z ~ N(0, 1), one observation x = 1 ~ N(z, 1): Λ = 1, η = x.
    /// let log_lik = |z: &DVector<f64>| -0.5 * (1.0 - z[0]).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    /// let exact = GaussianPosterior::from_standard_prior(
    ///     DMatrix::from_element(1, 1, 1.0),
    ///     DVector::from_element(1, 1.0),
    ///     log_lik,
    /// )?;
    /// assert!((exact.mean[0] - 0.5).abs() < 1e-15 && (exact.covariance[(0, 0)] - 0.5).abs() < 1e-15);
    /// // p(x) = N(1; 0, 2).
    /// let want = -0.25 - 0.5 * (4.0 * std::f64::consts::PI).ln();
    /// assert!((exact.log_evidence - want).abs() < 1e-14);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless Λ is d x d for an η of length d;
    /// [`Error::NotPositiveDefinite`] if I + Λ has no Cholesky factor.
    pub fn from_standard_prior(
        likelihood_precision: DMatrix<f64>,
        information: DVector<f64>,
        log_likelihood: impl Fn(&DVector<f64>) -> f64,
    ) -> Result<Self> {
        let d = information.len();
        if likelihood_precision.shape() != (d, d) {
            return Err(Error::shape(
                "likelihood precision",
                (d, d),
                likelihood_precision.shape(),
            ));
        }
        let precision = DMatrix::identity(d, d) + likelihood_precision;
        let chol = precision
            .clone()
            .cholesky()
            .ok_or(Error::NotPositiveDefinite {
                what: "posterior precision",
            })?;
        let mean = chol.solve(&information);
        let covariance = chol.inverse();
        let log_prior = log_mvn(&mean, &DVector::zeros(d), &DMatrix::identity(d, d));
        let log_post = {
            // N(ẑ; ẑ, Σ) = −½ ln det(2πΣ) = ½ ln det Λ − d ln √(2π)
            let half_log_det_precision: f64 = chol.l().diagonal().iter().map(|v| v.ln()).sum();
            half_log_det_precision - d as f64 * crate::dist::LN_SQRT_2PI
        };
        let log_evidence = log_likelihood(&mean) + log_prior - log_post;
        Ok(GaussianPosterior {
            mean,
            covariance,
            precision,
            log_evidence,
        })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Marginal posterior standard deviations √Σ_ii.
    pub fn sd(&self) -> DVector<f64> {
        self.covariance.diagonal().map(f64::sqrt)
    }

    /// The standard deviations of the best mean-field (diagonal) Gaussian approximation,
    /// 1/√Λ_ii: the diagonal family's exact target. Its mean is the posterior mean.
    pub fn mean_field_sd(&self) -> DVector<f64> {
        self.precision.diagonal().map(|p| 1.0 / p.sqrt())
    }

    /// KL(q ‖ posterior) for a Gaussian q = N(mean, covariance).
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] if `covariance` is not a valid covariance;
    /// [`Error::ShapeMismatch`] if the dimension differs.
    pub fn kl_from(&self, mean: &DVector<f64>, covariance: &DMatrix<f64>) -> Result<f64> {
        kl_between(mean, covariance, &self.mean, &self.covariance)
    }

    /// How far a fitted Gaussian q = N(mean, covariance) is from what its family can reach:
    /// the exact posterior for a full-covariance family, the mean-field optimum (exact mean,
    /// sds 1/√Λ_ii) for a diagonal one.
    ///
    /// # Errors
    /// As [`GaussianPosterior::kl_from`].
    pub fn compare(
        &self,
        mean: &DVector<f64>,
        covariance: &DMatrix<f64>,
        mean_field: bool,
    ) -> Result<Comparison> {
        let kl_to_exact = self.kl_from(mean, covariance)?;
        let exact_sd = self.sd();
        let (target_sd, excess_kl) = if mean_field {
            let target_sd = self.mean_field_sd();
            let best = self.kl_from(
                &self.mean,
                &DMatrix::from_diagonal(&target_sd.map(|s| s * s)),
            )?;
            (target_sd, kl_to_exact - best)
        } else {
            (exact_sd.clone(), kl_to_exact)
        };
        let q_sd = covariance.diagonal().map(f64::sqrt);
        Ok(Comparison {
            kl_to_exact,
            excess_kl,
            mean_err_sd: (mean - &self.mean).component_div(&exact_sd).abs().max(),
            sd_rel_err: (&q_sd - &target_sd).component_div(&target_sd).abs().max(),
            target_sd,
            q_sd,
        })
    }

    /// log p(z | x) at `z`.
    pub fn log_density(&self, z: &DVector<f64>) -> f64 {
        log_mvn(z, &self.mean, &self.covariance)
    }
}

/// A fitted Gaussian measured against the exact posterior ([`GaussianPosterior::compare`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// KL(q ‖ exact posterior) in nats.
    pub kl_to_exact: f64,
    /// How far q's ELBO falls short of the best its family can reach, in nats:
    /// KL(q ‖ exact) − KL(q* ‖ exact) with q* the family's optimum — the exact posterior for a
    /// full-covariance family (so this is KL(q ‖ exact)), the mean-field optimum for a diagonal
    /// one. (Not KL(q ‖ q*): along directions where the posterior is strongly correlated the
    /// ELBO hardly changes while KL(q ‖ q*) does, so that measure judges the fit on what its
    /// objective cannot see.)
    pub excess_kl: f64,
    /// max_j |mean_q − mean_exact| / sd_exact, in posterior standard deviations.
    pub mean_err_sd: f64,
    /// max_j |sd_q − sd_target| / sd_target.
    pub sd_rel_err: f64,
    /// The sds the family should reach.
    pub target_sd: DVector<f64>,
    /// q's marginal sds.
    pub q_sd: DVector<f64>,
}

impl Comparison {
    /// What this fit misses of `accuracy`, one phrase per miss ("KL 0.3 nats > 0.01");
    /// empty when it meets every bound.
    pub fn misses(&self, accuracy: &Accuracy) -> Vec<String> {
        let mut misses = Vec::new();
        let mut check = |what: &str, value: f64, bound: f64| {
            if value.is_nan() || value > bound {
                misses.push(format!("{what} {value:.3e} > {bound}"));
            }
        };
        check("excess KL (nats)", self.excess_kl, accuracy.kl);
        check(
            "mean error (posterior sds)",
            self.mean_err_sd,
            accuracy.mean_err_sd,
        );
        check("relative sd error", self.sd_rel_err, accuracy.sd_rel_err);
        misses
    }
}

/// How close a fit must come to its exact answer to count as a result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// Largest excess KL ([`Comparison::excess_kl`]) in nats.
    pub kl: f64,
    /// Largest mean error, in posterior standard deviations.
    pub mean_err_sd: f64,
    /// Largest relative error of a standard deviation.
    pub sd_rel_err: f64,
}

impl Default for Accuracy {
    /// Excess KL ≤ 0.01 nats, mean errors ≤ 0.05 posterior sds, sd errors ≤ 5%.
    fn default() -> Self {
        Accuracy {
            kl: 0.01,
            mean_err_sd: 0.05,
            sd_rel_err: 0.05,
        }
    }
}

/// KL(N(m, S) ‖ N(target_mean, target_covariance)).
fn kl_between(
    mean: &DVector<f64>,
    covariance: &DMatrix<f64>,
    target_mean: &DVector<f64>,
    target_covariance: &DMatrix<f64>,
) -> Result<f64> {
    let d = target_mean.len();
    if mean.len() != d || covariance.shape() != (d, d) {
        return Err(Error::shape("q's covariance", (d, d), covariance.shape()));
    }
    let factor = |m: &DMatrix<f64>, what| {
        m.clone()
            .cholesky()
            .map(|c| c.l())
            .ok_or(Error::NotPositiveDefinite { what })
    };
    let lq = factor(covariance, "q's covariance")?;
    let lp = factor(target_covariance, "posterior covariance")?;
    let tape = Tape::new();
    let on_tape = |m: &DVector<f64>, l: DMatrix<f64>| MvNormal {
        mean: tape.constant(DMatrix::from_row_slice(1, d, m.as_slice())),
        scale_tril: tape.constant(l),
    };
    Ok(kl_full(&on_tape(mean, lq), &on_tape(target_mean, lp)).scalar())
}

/// log N(z; mean, covariance) in f64, through the crate's own density on a tape.
pub(crate) fn log_mvn(z: &DVector<f64>, mean: &DVector<f64>, covariance: &DMatrix<f64>) -> f64 {
    let d = z.len();
    let l = covariance
        .clone()
        .cholesky()
        .map(|c| c.l())
        .unwrap_or_else(|| DMatrix::from_element(d, d, f64::NAN));
    let tape = Tape::new();
    let g = Gaussian::Full(MvNormal {
        mean: tape.constant(DMatrix::from_row_slice(1, d, mean.as_slice())),
        scale_tril: tape.constant(l),
    });
    g.log_prob(tape.constant(DMatrix::from_row_slice(1, d, z.as_slice())))
        .scalar()
}
