//! Distributions on an interval: beta on (0, 1), uniform on [low, high].

use super::Support;
use super::univariate::{
    Distribution, Valid, at, broadcast_shape, draw_each, masked, require, restrict_to_support,
};
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::Distribution as _;

/// The beta distribution with shapes α and β: support 0 < x < 1.
#[derive(Clone, Copy, Debug)]
pub struct Beta<'t, T: Real> {
    alpha: Var<'t, T>,
    beta: Var<'t, T>,
}

impl<'t, T: Real> Beta<'t, T> {
    /// Beta(alpha, beta).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every shape is finite and positive.
    pub fn new(alpha: Var<'t, T>, beta: Var<'t, T>) -> Result<Self> {
        require("Beta alpha", &alpha, Valid::Positive)?;
        require("Beta beta", &beta, Valid::Positive)?;
        Ok(Beta { alpha, beta })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Beta<'t, T> {
    /// (α − 1) ln x + (β − 1) ln(1 − x) − ln B(α, β) for 0 < x < 1.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (x, mask) = restrict_to_support(x, |v| v > 0.0 && v < 1.0, 0.5);
        let (a, b) = (self.alpha, self.beta);
        let log_beta = a.ln_gamma() + b.ln_gamma() - (a + b).ln_gamma();
        let density = a.shift(-T::one()) * x.ln() + b.shift(-T::one()) * (-x).ln_1p() - log_beta;
        masked(density, mask)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Beta::sample", [&self.alpha, &self.beta], |[a, b]| {
            rand_distr::Beta::new(a, b)
                .expect("validated shapes")
                .sample(rng)
        })
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Interval(0.0, 1.0))
    }
}

/// The uniform distribution on [low, high].
#[derive(Clone, Copy, Debug)]
pub struct Uniform<'t, T: Real> {
    low: Var<'t, T>,
    high: Var<'t, T>,
}

impl<'t, T: Real> Uniform<'t, T> {
    /// Uniform(low, high).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless the bounds are finite and every `low` is
    /// below its `high`.
    pub fn new(low: Var<'t, T>, high: Var<'t, T>) -> Result<Self> {
        require("Uniform low", &low, Valid::Finite)?;
        require("Uniform high", &high, Valid::Finite)?;
        let (l, h) = (low.value(), high.value());
        let shape = broadcast_shape("Uniform::new", &[l.shape(), h.shape()]);
        for i in 0..shape.0 {
            for j in 0..shape.1 {
                if at(&l, i, j) >= at(&h, i, j) {
                    return Err(Error::invalid(
                        "Uniform bounds",
                        format!("[{}, {}]", at(&l, i, j), at(&h, i, j)),
                        "low < high",
                    ));
                }
            }
        }
        Ok(Uniform { low, high })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Uniform<'t, T> {
    /// −ln(high − low) on [low, high].
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (xv, l, h) = (x.value(), self.low.value(), self.high.value());
        let shape = broadcast_shape("Uniform::log_prob", &[xv.shape(), l.shape(), h.shape()]);
        let outside = DMatrix::from_fn(shape.0, shape.1, |i, j| {
            let v = at(&xv, i, j);
            T::of_f64(if v >= at(&l, i, j) && v <= at(&h, i, j) {
                0.0
            } else {
                f64::NEG_INFINITY
            })
        });
        -(self.high - self.low).ln() + x.tape().constant(outside)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        draw_each("Uniform::sample", [&self.low, &self.high], |[l, h]| {
            l + (h - l) * rng.random::<f64>()
        })
    }

    /// The interval, when its bounds are the same for every entry.
    fn support(&self) -> Option<Support> {
        let (l, h) = (self.low.value(), self.high.value());
        let same = |m: &DMatrix<T>| m.iter().all(|v| *v == m[0]);
        (same(&l) && same(&h)).then(|| Support::Interval(l[0].to_f64(), h[0].to_f64()))
    }
}
