//! The categorical distribution over K categories, by logits.

use super::univariate::{Distribution, Valid, require};
use crate::autodiff::Var;
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

/// P(x = k) = softmax(logits)_k for k in 0..K. The logits are `1 x K` (one distribution for
/// every point) or `n x K` (one per point); the points are an `n x 1` column of category
/// indices, counted from 0.
#[derive(Clone, Copy, Debug)]
pub struct Categorical<'t, T: Real> {
    logits: Var<'t, T>,
}

impl<'t, T: Real> Categorical<'t, T> {
    /// Categorical(softmax(logits)), a distribution per row of `logits`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every logit is finite.
    pub fn new(logits: Var<'t, T>) -> Result<Self> {
        require("Categorical logit", &logits, Valid::Finite)?;
        Ok(Categorical { logits })
    }

    /// ln softmax(logits), row by row (`R x K`).
    pub fn log_probs(&self) -> Var<'t, T> {
        self.logits - self.logits.row_logsumexp()
    }
}

impl<'t, T: Real> Distribution<'t, T> for Categorical<'t, T> {
    /// ln softmax(logits)_{x_i} for each row i of the `n x 1` column `x`; −∞ for an index
    /// that is not a category.
    ///
    /// # Panics
    /// If `x` is not one column, or the logits have neither 1 nor `n` rows.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (n, one) = x.shape();
        let (rows, k) = self.logits.shape();
        assert!(
            one == 1 && (rows == 1 || rows == n),
            "Categorical::log_prob: {n}x{one} points for {rows}x{k} logits (give one column of \
             indices, and 1 or {n} rows of logits)"
        );
        let value = x.value();
        let index = |i: usize| -> Option<usize> {
            let v = value[(i, 0)].to_f64();
            (v >= 0.0 && v.fract() == 0.0 && v < k as f64).then_some(v as usize)
        };
        // The chosen entry of each row, through a constant one-hot mask: no gather op needed.
        let one_hot = DMatrix::from_fn(n, k, |i, j| {
            if index(i) == Some(j) {
                T::one()
            } else {
                T::zero()
            }
        });
        let outside = DMatrix::from_fn(n, 1, |i, _| {
            T::of_f64(if index(i).is_some() {
                0.0
            } else {
                f64::NEG_INFINITY
            })
        });
        let tape = x.tape();
        (self.log_probs() * tape.constant(one_hot)).row_sums() + tape.constant(outside)
    }

    /// One index per row of the logits (`R x 1`).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        let probs = self.log_probs().value().map(|v| v.to_f64().exp());
        DMatrix::from_fn(probs.nrows(), 1, |i, _| {
            // The first category whose cumulative probability exceeds a uniform draw (the last
            // one if rounding leaves the total just under it).
            let u: f64 = rng.random();
            let mut total = 0.0;
            let chosen = (0..probs.ncols())
                .find(|&j| {
                    total += probs[(i, j)];
                    u < total
                })
                .unwrap_or(probs.ncols() - 1);
            T::of_f64(chosen as f64)
        })
    }
}
