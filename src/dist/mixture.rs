//! Finite mixtures of distributions of one family, through log-sum-exp.

use super::Support;
use super::univariate::{Distribution, Valid, require};
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

/// p(x) = Σ_k w_k p_k(x) with weights w = softmax(logits) (`1 x K`) and K components of one
/// family (say K [`crate::dist::Normal`]s), each scoring a point as one value: the points are
/// an `n x 1` column for components of one variable, or `n x d` rows for components of
/// vectors.
///
/// ln p(x) = logsumexp_k (ln w_k + ln p_k(x)), so that no component's density is ever
/// exponentiated on its own (a point far in one component's tail does not underflow).
#[derive(Clone, Debug)]
pub struct Mixture<'t, T: Real, D> {
    logits: Var<'t, T>,
    components: Vec<D>,
}

impl<'t, T: Real, D: Distribution<'t, T>> Mixture<'t, T, D> {
    /// The mixture of `components` weighted by softmax(`logits`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if there is no component, the logits are not one row with
    /// a finite entry per component.
    pub fn new(logits: Var<'t, T>, components: Vec<D>) -> Result<Self> {
        if components.is_empty() {
            return Err(Error::invalid("Mixture components", 0, "at least 1"));
        }
        if logits.shape() != (1, components.len()) {
            return Err(Error::invalid(
                "Mixture logits",
                format!("{}x{}", logits.shape().0, logits.shape().1),
                "one row with an entry per component",
            ));
        }
        require("Mixture logit", &logits, Valid::Finite)?;
        Ok(Mixture { logits, components })
    }

    /// ln w, the log weights (`1 x K`).
    pub fn log_weights(&self) -> Var<'t, T> {
        self.logits - self.logits.row_logsumexp()
    }
}

impl<'t, T: Real, D: Distribution<'t, T>> Distribution<'t, T> for Mixture<'t, T, D> {
    /// `n x 1`: one log density per point.
    ///
    /// # Panics
    /// If a component does not score the points as one column (points of one variable given
    /// as more than one column, say).
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let parts: Vec<Var<'t, T>> = self.components.iter().map(|d| d.log_prob(x)).collect();
        for part in &parts {
            assert!(
                part.shape().1 == 1,
                "Mixture::log_prob: a component scored the points as {}x{}; give one column of \
                 points (or rows, for components of vectors)",
                part.shape().0,
                part.shape().1
            );
        }
        (Var::concat_columns(&parts) + self.log_weights()).row_logsumexp()
    }

    /// One draw from the mixture per draw of a component: each component is drawn in full
    /// (their draws must have one shape) and every row takes its component's row, chosen by
    /// the weights.
    ///
    /// # Panics
    /// If the components' draws differ in shape.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        let draws: Vec<DMatrix<T>> = self.components.iter().map(|d| d.sample(rng)).collect();
        let shape = draws[0].shape();
        assert!(
            draws.iter().all(|d| d.shape() == shape),
            "Mixture::sample: the components draw matrices of different shapes"
        );
        let weights: Vec<f64> = self
            .log_weights()
            .value()
            .iter()
            .map(|v| v.to_f64().exp())
            .collect();
        let mut out = draws[0].clone();
        for i in 0..shape.0 {
            let u: f64 = rng.random();
            let mut total = 0.0;
            let k = (0..weights.len())
                .find(|&k| {
                    total += weights[k];
                    u < total
                })
                .unwrap_or(weights.len() - 1);
            out.set_row(i, &draws[k].row(i));
        }
        out
    }

    /// The components' support, when they share one.
    fn support(&self) -> Option<Support> {
        let first = self.components[0].support()?;
        self.components
            .iter()
            .all(|c| c.support() == Some(first))
            .then_some(first)
    }
}
