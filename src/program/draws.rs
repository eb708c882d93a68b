//! Draws from a fitted program, in the parameters' own spaces, and what is read off them.

use crate::error::Result;
use crate::infer::Psis;
use nalgebra::DMatrix;

/// Draws of every parameter entry and every `deterministic`, in their constrained spaces, with
/// the importance weights p(x, z)/q(z) of the draws where q has a density.
#[derive(Clone, Debug, PartialEq)]
pub struct Draws {
    /// Column names (`mu`, `theta[1]`, …), parameters in declaration order, then derived
    /// quantities.
    pub names: Vec<String>,
    /// One row per draw, one column per name.
    pub values: DMatrix<f64>,
    /// ln p(x, z_s) − ln q(z_s) per draw (z unconstrained); `None` for a point mass.
    pub log_weights: Option<Vec<f64>>,
}

/// Posterior summaries of one entry.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Its name.
    pub name: String,
    /// Mean of the draws.
    pub mean: f64,
    /// Standard deviation of the draws.
    pub sd: f64,
    /// 5% quantile.
    pub q05: f64,
    /// Median.
    pub q50: f64,
    /// 95% quantile.
    pub q95: f64,
}

impl Draws {
    /// The draws of `name`, if there is such a column.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.names.iter().position(|n| n == name)?;
        Some(self.values.column(j).iter().copied().collect())
    }

    /// Mean, sd and the 5/50/95% quantiles (linearly interpolated between order statistics)
    /// of every column.
    pub fn summary(&self) -> Vec<Summary> {
        self.names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let mut v: Vec<f64> = self.values.column(j).iter().copied().collect();
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                let variance =
                    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
                v.sort_by(f64::total_cmp);
                Summary {
                    name: name.clone(),
                    mean,
                    sd: variance.sqrt(),
                    q05: quantile(&v, 0.05),
                    q50: quantile(&v, 0.5),
                    q95: quantile(&v, 0.95),
                }
            })
            .collect()
    }

    /// The mean of ln p(x, z) − ln q(z) over the draws: an estimate of the ELBO (`None` for a
    /// point mass).
    pub fn elbo(&self) -> Option<f64> {
        let w = self.log_weights.as_ref()?;
        Some(w.iter().sum::<f64>() / w.len() as f64)
    }

    /// Pareto-smoothed importance sampling of p/q over the draws: k̂, the estimate of
    /// ln p(x), and weights for corrected estimates ([`Draws::psis_means`]); `None` for a
    /// point mass, which has no density to weigh by.
    ///
    /// # Errors
    /// As [`Psis::new`] (fewer than 5 draws, say).
    pub fn psis(&self) -> Result<Option<Psis>> {
        self.log_weights.as_deref().map(Psis::new).transpose()
    }

    /// Every column's PSIS-weighted mean: the posterior means corrected for q's misfit (as
    /// trustworthy as k̂ says).
    ///
    /// # Panics
    /// If `psis` was not computed from these draws (a different number of weights).
    pub fn psis_means(&self, psis: &Psis) -> Vec<f64> {
        (0..self.names.len())
            .map(|j| psis.expectation(self.values.column(j).iter().copied()))
            .collect()
    }
}

/// Quantile `p` of sorted values, interpolated linearly between order statistics (the
/// definition R and NumPy use by default).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// Posterior predictive draws of a program's observed variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// The observed variables' names, in the program's order.
    pub names: Vec<String>,
    /// For each, one row per posterior draw, one column per data row.
    pub values: Vec<DMatrix<f64>>,
}

impl Predictions {
    /// The draws of the variable observed as `name`.
    pub fn get(&self, name: &str) -> Option<&DMatrix<f64>> {
        let j = self.names.iter().position(|n| n == name)?;
        Some(&self.values[j])
    }
}
