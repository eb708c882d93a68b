//! Generalised linear models: normal, logistic and Poisson regression.

use crate::autodiff::Var;
use crate::dist::{Bernoulli, HalfNormal, Normal, Poisson};
use crate::error::{Error, Result};
use crate::program::{Model, Trace};
use crate::real::Real;
use nalgebra::DMatrix;

/// The likelihood and link of a [`Regression`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// y ~ N(Xβ, σ²), with σ ~ HalfNormal(S_σ).
    Normal,
    /// y ∈ {0, 1}, P(y = 1) = σ(Xβ).
    Bernoulli,
    /// y ∈ {0, 1, 2, …}, y ~ Poisson(exp(Xβ)).
    Poisson,
}

/// A regression on data whose last column is y and whose other columns are the features (no
/// intercept is added: give a column of ones). β_j ~ N(0, S²); parameters `beta` (one per
/// feature, in column order) and, for the normal likelihood, `sigma`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regression {
    /// The likelihood and link.
    pub link: Link,
    /// S, the prior sd of each coefficient.
    pub prior_sd: f64,
    /// S_σ, the prior scale of σ (normal likelihood).
    pub sigma_prior_sd: f64,
}

impl Regression {
    /// A regression with priors β_j ~ N(0, 10²) and σ ~ HalfNormal(10).
    pub fn new(link: Link) -> Self {
        Regression {
            link,
            prior_sd: 10.0,
            sigma_prior_sd: 10.0,
        }
    }
}

impl<T: Real> Model<T> for Regression {
    fn model<'t>(&self, m: &mut Trace<'t, '_, T>) -> Result<()> {
        let p = m.data().shape().1 - 1;
        let prior = Normal::new(m.constant(0.0), m.constant(self.prior_sd))?;
        let beta = m.sample("beta", &prior, p)?;
        let sigma = match self.link {
            Link::Normal => {
                let prior = HalfNormal::new(m.constant(self.sigma_prior_sd))?;
                Some(m.sample("sigma", &prior, 1)?)
            }
            _ => None,
        };
        if !m.scores_likelihood() {
            return Ok(());
        }
        // One row of linear predictors per draw, one column per data row: [β 0] [X y]ᵀ, the
        // zero weight on y sparing a copy of the feature columns at every step.
        let zero = m.tape().filled(beta.shape().0, 1, T::zero());
        let weights = Var::concat_columns(&[beta, zero]);
        let eta = weights.matmul_t(m.data());
        let y = m.column(p);
        match (self.link, sigma) {
            (Link::Normal, Some(sigma)) => m.observe("y", &Normal::new(eta, sigma)?, y),
            (Link::Bernoulli, _) => m.observe("y", &Bernoulli::from_logits(eta)?, y),
            (Link::Poisson, _) => m.observe("y", &Poisson::from_log_rate(eta)?, y),
            (Link::Normal, None) => unreachable!("sigma is declared for the normal likelihood"),
        }
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        if data.ncols() < 2 {
            return Err(Error::shape(
                "regression data (feature columns, then y)",
                (data.nrows(), 2),
                data.shape(),
            ));
        }
        if !(self.prior_sd > 0.0 && self.prior_sd.is_finite()) {
            return Err(Error::invalid(
                "prior sd",
                self.prior_sd,
                "a finite number > 0",
            ));
        }
        if !(self.sigma_prior_sd > 0.0 && self.sigma_prior_sd.is_finite()) {
            return Err(Error::invalid(
                "sigma prior sd",
                self.sigma_prior_sd,
                "a finite number > 0",
            ));
        }
        let y = data.column(data.ncols() - 1);
        let bad = match self.link {
            Link::Normal => None,
            Link::Bernoulli => y
                .iter()
                .find(|v| !(v.to_f64() == 0.0 || v.to_f64() == 1.0))
                .map(|v| (v.to_f64(), "0 or 1 (the last column is y)")),
            Link::Poisson => y
                .iter()
                .find(|v| !(v.to_f64() >= 0.0 && v.to_f64().fract() == 0.0))
                .map(|v| (v.to_f64(), "a count 0, 1, 2, … (the last column is y)")),
        };
        match bad {
            Some((value, expected)) => Err(Error::invalid("y", value, expected)),
            None => Ok(()),
        }
    }
}
