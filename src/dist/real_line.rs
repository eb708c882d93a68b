//! Distributions on the whole real line: Normal, Student's t, Cauchy, Laplace.

use super::Support;
use super::normal::LN_SQRT_2PI;
use super::univariate::{Distribution, Valid, draw_each, require};
use crate::autodiff::Var;
use crate::error::Result;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::Distribution as _;

/// ln π.
const LN_PI: f64 = 1.144_729_885_849_400_2;

/// N(loc, scale²), entry by entry.
///
/// ```
/// use elbo::autodiff::Tape;
/// use elbo::dist::{Distribution, Normal};
///
/// let tape = Tape::<f64>::new();
/// let normal = Normal::new(tape.scalar(1.0), tape.scalar(2.0)).unwrap();
/// let x = tape.scalar(1.0);
/// // At the mean: −ln 2 − ln √(2π).
/// assert!((normal.log_prob(x).scalar() + 2f64.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
/// // A scale that is not positive is refused.
/// assert!(Normal::new(tape.scalar(0.0), tape.scalar(-1.0)).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Normal<'t, T: Real> {
    loc: Var<'t, T>,
    scale: Var<'t, T>,
}

impl<'t, T: Real> Normal<'t, T> {
    /// N(loc, scale²).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every `loc` is finite and every `scale`
    /// finite and positive.
    pub fn new(loc: Var<'t, T>, scale: Var<'t, T>) -> Result<Self> {
        require("Normal loc", &loc, Valid::Finite)?;
        require("Normal scale", &scale, Valid::Positive)?;
        Ok(Normal { loc, scale })
    }

    /// The location (mean).
    pub fn loc(&self) -> Var<'t, T> {
        self.loc
    }

    /// The scale (standard deviation).
    pub fn scale(&self) -> Var<'t, T> {
        self.scale
    }
}

impl<'t, T: Real> Distribution<'t, T> for Normal<'t, T> {
    /// −½ ((x − μ)/σ)² − ln σ − ln √(2π).
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let z = (x - self.loc) / self.scale;
        z.square().scale(c(-0.5)) - self.scale.ln().shift(c(LN_SQRT_2PI))
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Normal::sample", [&self.loc, &self.scale], |[m, s]| {
            let e: f64 = rand_distr::StandardNormal.sample(rng);
            m + s * e
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Real)
    }
}

/// Student's t with `df` degrees of freedom, location `loc` and scale `scale`.
#[derive(Clone, Copy, Debug)]
pub struct StudentT<'t, T: Real> {
    df: Var<'t, T>,
    loc: Var<'t, T>,
    scale: Var<'t, T>,
}

impl<'t, T: Real> StudentT<'t, T> {
    /// t_ν(loc, scale).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `df` and `scale` are finite and positive and
    /// `loc` is finite.
    pub fn new(df: Var<'t, T>, loc: Var<'t, T>, scale: Var<'t, T>) -> Result<Self> {
        require("StudentT df", &df, Valid::Positive)?;
        require("StudentT loc", &loc, Valid::Finite)?;
        require("StudentT scale", &scale, Valid::Positive)?;
        Ok(StudentT { df, loc, scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for StudentT<'t, T> {
    /// ln Γ((ν+1)/2) − ln Γ(ν/2) − ½ ln(νπ) − ln σ − (ν+1)/2 · ln(1 + z²/ν), z = (x − μ)/σ.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let nu = self.df;
        let half_nu_plus = nu.shift(T::one()).scale(c(0.5));
        let z = (x - self.loc) / self.scale;
        let normaliser = half_nu_plus.ln_gamma()
            - nu.scale(c(0.5)).ln_gamma()
            - nu.ln().shift(c(LN_PI)).scale(c(0.5))
            - self.scale.ln();
        normaliser - half_nu_plus * (z.square() / nu).ln_1p()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each(
            "StudentT::sample",
            [&self.df, &self.loc, &self.scale],
            |[nu, m, s]| {
                let t: f64 = rand_distr::StudentT::new(nu)
                    .expect("a validated df")
                    .sample(rng);
                m + s * t
            },
        )
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Real)
    }
}

/// The Cauchy distribution with location `loc` and scale `scale`.
#[derive(Clone, Copy, Debug)]
pub struct Cauchy<'t, T: Real> {
    loc: Var<'t, T>,
    scale: Var<'t, T>,
}

impl<'t, T: Real> Cauchy<'t, T> {
    /// Cauchy(loc, scale).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `loc` is finite and `scale` finite and
    /// positive.
    pub fn new(loc: Var<'t, T>, scale: Var<'t, T>) -> Result<Self> {
        require("Cauchy loc", &loc, Valid::Finite)?;
        require("Cauchy scale", &scale, Valid::Positive)?;
        Ok(Cauchy { loc, scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Cauchy<'t, T> {
    /// −ln π − ln γ − ln(1 + z²), z = (x − x₀)/γ.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let z = (x - self.loc) / self.scale;
        -(z.square().ln_1p() + self.scale.ln().shift(c(LN_PI)))
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Cauchy::sample", [&self.loc, &self.scale], |[m, s]| {
            // The tangent of a uniform angle in (−π/2, π/2).
            let u: f64 = rng.random();
            m + s * (std::f64::consts::PI * (u - 0.5)).tan()
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Real)
    }
}

/// The Laplace (double exponential) distribution with location `loc` and scale `scale`.
#[derive(Clone, Copy, Debug)]
pub struct Laplace<'t, T: Real> {
    loc: Var<'t, T>,
    scale: Var<'t, T>,
}

impl<'t, T: Real> Laplace<'t, T> {
    /// Laplace(loc, scale).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `loc` is finite and `scale` finite and
    /// positive.
    pub fn new(loc: Var<'t, T>, scale: Var<'t, T>) -> Result<Self> {
        require("Laplace loc", &loc, Valid::Finite)?;
        require("Laplace scale", &scale, Valid::Positive)?;
        Ok(Laplace { loc, scale })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Laplace<'t, T> {
    /// −ln(2b) − |x − μ| / b.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        -((x - self.loc).abs() / self.scale + self.scale.ln().shift(c(std::f64::consts::LN_2)))
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Laplace::sample", [&self.loc, &self.scale], |[m, b]| {
            // The inverse CDF at a uniform u in (−½, ½).
            let u: f64 = rng.random::<f64>() - 0.5;
            m - b * u.signum() * (1.0 - 2.0 * u.abs()).max(f64::MIN_POSITIVE).ln()
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Real)
    }
}
