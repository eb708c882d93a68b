//! Distributions of positive quantities: half-normal, half-Cauchy, log-normal, exponential,
//! gamma.

use super::Support;
use super::normal::LN_SQRT_2PI;
use super::univariate::{Distribution, Valid, draw_each, masked, require, restrict_to_support};
use crate::autodiff::Var;
use crate::error::Result;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::Distribution as _;

/// ln π.
const LN_PI: f64 = 1.144_729_885_849_400_2;

/// x ≥ 0.
fn non_negative(v: f64) -> bool {
    v >= 0.0
}

/// |N(0, scale²)|: support x ≥ 0.
#[derive(Clone, Copy, Debug)]
pub struct HalfNormal<'t, T: Real> {
    scale: Var<'t, T>,
}

impl<'t, T: Real> HalfNormal<'t, T> {
    /// HalfNormal(scale).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `scale` is finite and positive.
    pub fn new(scale: Var<'t, T>) -> Result<Self> {
        require("HalfNormal scale", &scale, Valid::Positive)?;
        Ok(HalfNormal { scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for HalfNormal<'t, T> {
    /// ln 2 − ½ (x/σ)² − ln σ − ln √(2π) for x ≥ 0.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, non_negative, 0.0);
        let z = x / self.scale;
        let density = z.square().scale(c(-0.5))
            - self
                .scale
                .ln()
                .shift(c(LN_SQRT_2PI - std::f64::consts::LN_2));
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("HalfNormal::sample", [&self.scale], |[s]| {
            let e: f64 = rand_distr::StandardNormal.sample(rng);
            s * e.abs()
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Positive)
    }
}

/// |Cauchy(0, scale)|: support x ≥ 0.
#[derive(Clone, Copy, Debug)]
pub struct HalfCauchy<'t, T: Real> {
    scale: Var<'t, T>,
}

impl<'t, T: Real> HalfCauchy<'t, T> {
    /// HalfCauchy(scale).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `scale` is finite and positive.
    pub fn new(scale: Var<'t, T>) -> Result<Self> {
        require("HalfCauchy scale", &scale, Valid::Positive)?;
        Ok(HalfCauchy { scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for HalfCauchy<'t, T> {
    /// ln 2 − ln π − ln γ − ln(1 + (x/γ)²) for x ≥ 0.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, non_negative, 0.0);
        let z = x / self.scale;
        let density =
            -(z.square().ln_1p() + self.scale.ln().shift(c(LN_PI - std::f64::consts::LN_2)));
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("HalfCauchy::sample", [&self.scale], |[s]| {
            // The tangent of a uniform angle in [0, π/2).
            let u: f64 = rng.random();
            s * (std::f64::consts::FRAC_PI_2 * u).tan()
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Positive)
    }
}

/// exp(N(loc, scale²)): support x > 0.
#[derive(Clone, Copy, Debug)]
pub struct LogNormal<'t, T: Real> {
    loc: Var<'t, T>,
    scale: Var<'t, T>,
}

impl<'t, T: Real> LogNormal<'t, T> {
    /// LogNormal(loc, scale): ln x ~ N(loc, scale²).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `loc` is finite and `scale` finite and
    /// positive.
    pub fn new(loc: Var<'t, T>, scale: Var<'t, T>) -> Result<Self> {
        require("LogNormal loc", &loc, Valid::Finite)?;
        require("LogNormal scale", &scale, Valid::Positive)?;
        Ok(LogNormal { loc, scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for LogNormal<'t, T> {
    /// −ln x − ½ ((ln x − μ)/σ)² − ln σ − ln √(2π) for x > 0.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, |v| v > 0.0, 1.0);
        let log_x = x.ln();
        let z = (log_x - self.loc) / self.scale;
        let density = z.square().scale(c(-0.5)) - log_x - self.scale.ln().shift(c(LN_SQRT_2PI));
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("LogNormal::sample", [&self.loc, &self.scale], |[m, s]| {
            let e: f64 = rand_distr::StandardNormal.sample(rng);
            (m + s * e).exp()
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Positive)
    }
}

/// The exponential distribution with rate λ: support x ≥ 0.
#[derive(Clone, Copy, Debug)]
pub struct Exponential<'t, T: Real> {
    rate: Var<'t, T>,
}

impl<'t, T: Real> Exponential<'t, T> {
    /// Exponential(rate).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `rate` is finite and positive.
    pub fn new(rate: Var<'t, T>) -> Result<Self> {
        require("Exponential rate", &rate, Valid::Positive)?;
        Ok(Exponential { rate })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Exponential<'t, T> {
    /// ln λ − λ x for x ≥ 0.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, non_negative, 0.0);
        masked(self.rate.ln() - self.rate * x, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Exponential::sample", [&self.rate], |[rate]| {
            let e: f64 = rand_distr::Exp1.sample(rng);
            e / rate
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Positive)
    }
}

/// The gamma distribution with shape α and rate β: support x > 0 (at the boundary point 0,
/// of probability zero, the log density is −∞ whatever the shape).
#[derive(Clone, Copy, Debug)]
pub struct Gamma<'t, T: Real> {
    shape: Var<'t, T>,
    rate: Var<'t, T>,
}

impl<'t, T: Real> Gamma<'t, T> {
    /// Gamma(shape, rate), with mean shape/rate (statrs's parameterisation).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `shape` and `rate` is finite and
    /// positive.
    pub fn new(shape: Var<'t, T>, rate: Var<'t, T>) -> Result<Self> {
        require("Gamma shape", &shape, Valid::Positive)?;
        require("Gamma rate", &rate, Valid::Positive)?;
        Ok(Gamma { shape, rate })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Gamma<'t, T> {
    /// α ln β − ln Γ(α) + (α − 1) ln x − β x for x > 0.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, |v| v > 0.0, 1.0);
        let (alpha, beta) = (self.shape, self.rate);
        let density =
            alpha * beta.ln() - alpha.ln_gamma() + alpha.shift(-T::one()) * x.ln() - beta * x;
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Gamma::sample", [&self.shape, &self.rate], |[a, b]| {
            rand_distr::Gamma::new(a, 1.0 / b)
                .expect("validated parameters")
                .sample(rng)
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Positive)
    }
}
