//! Distributions of counts: Bernoulli, binomial, Poisson, negative binomial.
//!
//! Their points are counts held as numbers on the tape (data, usually constants); a point that
//! is not a count of the support has log mass −∞.

use super::univariate::{
    Distribution, Valid, at, broadcast_shape, draw_each, is_count, masked, require,
    restrict_entries, restrict_to_support,
};
use crate::autodiff::{Var, sigmoid};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::Distribution as _;

/// The Bernoulli distribution on {0, 1}, by probability or by logit.
#[derive(Clone, Copy, Debug)]
pub struct Bernoulli<'t, T: Real> {
    /// p, or ln(p / (1 − p)) when `logits`.
    parameter: Var<'t, T>,
    logits: bool,
}

impl<'t, T: Real> Bernoulli<'t, T> {
    /// Bernoulli(p).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `p` is in [0, 1].
    pub fn new(probs: Var<'t, T>) -> Result<Self> {
        require("Bernoulli p", &probs, Valid::Probability)?;
        Ok(Bernoulli {
            parameter: probs,
            logits: false,
        })
    }

    /// Bernoulli(sigmoid(logits)): exact for probabilities near 0 and 1.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every logit is finite.
    pub fn from_logits(logits: Var<'t, T>) -> Result<Self> {
        require("Bernoulli logit", &logits, Valid::Finite)?;
        Ok(Bernoulli {
            parameter: logits,
            logits: true,
        })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Bernoulli<'t, T> {
    /// ln p at 1 and ln(1 − p) at 0; by logit l: k l − softplus(l).
    fn log_prob(&self, k: Var<'t, T>) -> Var<'t, T> {
        let (k, mask) = restrict_to_support(k, |v| v == 0.0 || v == 1.0, 0.0);
        let density = if self.logits {
            k * self.parameter - self.parameter.softplus()
        } else {
            // ln(k p + (1 − k)(1 − p)): the mass of the outcome itself, so that p = 0 or 1 gives
            // ln 1 = 0 or ln 0 = −∞, never 0 · ln 0.
            let p = self.parameter;
            (k * p + (-k).shift(T::one()) * (-p).shift(T::one())).ln()
        };
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        let logits = self.logits;
        draw_each("Bernoulli::sample", [&self.parameter], |[v]| {
            let p = if logits { sigmoid(v) } else { v };
            f64::from(
                rand_distr::Bernoulli::new(p)
                    .expect("a probability")
                    .sample(rng),
            )
        })
    }
}

/// The binomial distribution: successes in `trials` independent trials of probability p.
#[derive(Clone, Copy, Debug)]
pub struct Binomial<'t, T: Real> {
    trials: Var<'t, T>,
    probs: Var<'t, T>,
}

impl<'t, T: Real> Binomial<'t, T> {
    /// Binomial(trials, p).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `trials` is a count (a whole number
    /// ≥ 0) and every `p` is in (0, 1) — at 0 or 1 the distribution is a point mass, whose log
    /// mass would need 0 · ln 0.
    pub fn new(trials: Var<'t, T>, probs: Var<'t, T>) -> Result<Self> {
        require("Binomial trials", &trials, Valid::Count)?;
        require("Binomial p", &probs, Valid::InteriorProbability)?;
        Ok(Binomial { trials, probs })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Binomial<'t, T> {
    /// ln C(n, k) + k ln p + (n − k) ln(1 − p) for k in 0..=n.
    fn log_prob(&self, k: Var<'t, T>) -> Var<'t, T> {
        let (n, p) = (self.trials, self.probs);
        let (kv, nv) = (k.value(), n.value());
        let shape = broadcast_shape("Binomial::log_prob", &[kv.shape(), nv.shape()]);
        let in_support = DMatrix::from_fn(shape.0, shape.1, |i, j| {
            let v = at(&kv, i, j);
            is_count(v) && v <= at(&nv, i, j)
        });
        // Scored at 0 where outside, then masked.
        let (k, mask) = restrict_entries(k, &in_support, 0.0);
        let one = T::one();
        let log_choose =
            n.shift(one).ln_gamma() - k.shift(one).ln_gamma() - (n - k).shift(one).ln_gamma();
        let density = log_choose + k * p.ln() + (n - k) * (-p).ln_1p();
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Binomial::sample", [&self.trials, &self.probs], |[n, p]| {
            rand_distr::Binomial::new(n as u64, p)
                .expect("validated parameters")
                .sample(rng) as f64
        })
    }
}

/// The Poisson distribution, by rate λ or by log-rate η = ln λ.
#[derive(Clone, Copy, Debug)]
pub struct Poisson<'t, T: Real> {
    /// λ, or η when `log_rate`.
    parameter: Var<'t, T>,
    log_rate: bool,
}

impl<'t, T: Real> Poisson<'t, T> {
    /// Poisson(rate).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every rate is finite and positive.
    pub fn new(rate: Var<'t, T>) -> Result<Self> {
        require("Poisson rate", &rate, Valid::Positive)?;
        Ok(Poisson {
            parameter: rate,
            log_rate: false,
        })
    }

    /// Poisson(exp(log_rate)): the log link of a Poisson regression.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every log-rate is finite.
    pub fn from_log_rate(log_rate: Var<'t, T>) -> Result<Self> {
        require("Poisson log-rate", &log_rate, Valid::Finite)?;
        Ok(Poisson {
            parameter: log_rate,
            log_rate: true,
        })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Poisson<'t, T> {
    /// k ln λ − λ − ln k! (with ln λ = η for the log-rate form).
    fn log_prob(&self, k: Var<'t, T>) -> Var<'t, T> {
        let (k, mask) = restrict_to_support(k, is_count, 0.0);
        let (log_rate, rate) = if self.log_rate {
            (self.parameter, self.parameter.exp())
        } else {
            (self.parameter.ln(), self.parameter)
        };
        let density = k * log_rate - rate - k.shift(T::one()).ln_gamma();
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        let log_rate = self.log_rate;
        draw_each("Poisson::sample", [&self.parameter], |[v]| {
            let rate = if log_rate { v.exp() } else { v };
            rand_distr::Poisson::new(rate)
                .expect("a positive finite rate")
                .sample(rng)
        })
    }
}

/// The negative binomial distribution: failures before the r-th success in trials of success
/// probability p (statrs's parameterisation; r need not be whole).
#[derive(Clone, Copy, Debug)]
pub struct NegativeBinomial<'t, T: Real> {
    successes: Var<'t, T>,
    probs: Var<'t, T>,
}

impl<'t, T: Real> NegativeBinomial<'t, T> {
    /// NegativeBinomial(r, p), with mean r (1 − p) / p.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `r` is finite and positive and every
    /// `p` in (0, 1) (at 1 the distribution is a point mass at 0).
    pub fn new(successes: Var<'t, T>, probs: Var<'t, T>) -> Result<Self> {
        require("NegativeBinomial r", &successes, Valid::Positive)?;
        require("NegativeBinomial p", &probs, Valid::InteriorProbability)?;
        Ok(NegativeBinomial { successes, probs })
    }
}

impl<'t, T: Real> Distribution<'t, T> for NegativeBinomial<'t, T> {
    /// ln Γ(k + r) − ln k! − ln Γ(r) + r ln p + k ln(1 − p).
    fn log_prob(&self, k: Var<'t, T>) -> Var<'t, T> {
        let (k, mask) = restrict_to_support(k, is_count, 0.0);
        let (r, p) = (self.successes, self.probs);
        let density = (k + r).ln_gamma() - k.shift(T::one()).ln_gamma() - r.ln_gamma()
            + r * p.ln()
            + k * (-p).ln_1p();
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each(
            "NegativeBinomial::sample",
            [&self.successes, &self.probs],
            |[r, p]| {
                // A Poisson whose rate is gamma-distributed with shape r and scale (1 − p)/p.
                let rate: f64 = rand_distr::Gamma::new(r, (1.0 - p) / p)
                    .expect("validated parameters")
                    .sample(rng);
                if rate > 0.0 {
                    rand_distr::Poisson::new(rate)
                        .expect("a positive finite rate")
                        .sample(rng)
                } else {
                    0.0
                }
            },
        )
    }
}
