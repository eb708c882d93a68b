//! Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao and Gabry 2024): how far
//! importance weights p/q can be trusted, and estimates that use them.

use crate::error::{Error, Result};

/// The result of smoothing a set of log importance weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Psis {
    /// k̂, the estimated shape of the weights' upper tail. Below 0.5 the weights are reliable
    /// and estimates converge quickly; below 0.7 usable; above 0.7 the proposal q misses mass
    /// of p and its estimates (and the bound it was fitted to) should not be trusted.
    pub khat: f64,
    /// The smoothed log weights, normalised to sum to 1 (exponentiated).
    pub log_weights: Vec<f64>,
    /// ln of the mean raw weight over the smoothed ones: with weights p(x, z)/q(z), the PSIS
    /// estimate of ln p(x).
    pub log_mean_weight: f64,
    /// Draws in the smoothed tail.
    pub tail_len: usize,
}

impl Psis {
    /// Smooths `log_weights` (at least 5, finite or −∞): the largest M = min(S/5, 3√S) are
    /// replaced by the expected order statistics of a generalized Pareto distribution fitted
    /// to them, capped at the largest raw weight.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than 5 weights, a NaN or +∞, or all weights −∞.
    pub fn new(log_weights: &[f64]) -> Result<Psis> {
        let s = log_weights.len();
        if s < 5 {
            return Err(Error::invalid("importance weights", s, "at least 5 draws"));
        }
        if let Some(bad) = log_weights
            .iter()
            .find(|w| w.is_nan() || **w == f64::INFINITY)
        {
            return Err(Error::invalid(
                "log importance weight",
                bad,
                "a finite number or −∞",
            ));
        }
        let max = log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return Err(Error::invalid(
                "log importance weights",
                "all −∞",
                "at least one draw where p(x, z) > 0",
            ));
        }
        let shifted: Vec<f64> = log_weights.iter().map(|w| w - max).collect();
        let tail_len = ((s as f64 / 5.0).min(3.0 * (s as f64).sqrt())).ceil() as usize;
        let mut order: Vec<usize> = (0..s).collect();
        order.sort_by(|&a, &b| shifted[a].total_cmp(&shifted[b]));
        let mut smoothed = shifted.clone();
        let cutoff = shifted[order[s - tail_len - 1]];
        let khat = if cutoff == f64::NEG_INFINITY || tail_len < 5 {
            f64::INFINITY
        } else {
            let exceedances: Vec<f64> = order[s - tail_len..]
                .iter()
                .map(|&i| shifted[i].exp() - cutoff.exp())
                .collect();
            let (k, sigma) = fit_generalized_pareto(&exceedances);
            if k.is_finite() && sigma > 0.0 {
                for (rank, &i) in order[s - tail_len..].iter().enumerate() {
                    let p = (rank as f64 + 0.5) / tail_len as f64;
                    let quantile = cutoff.exp() + generalized_pareto_quantile(p, k, sigma);
                    // Capped at the largest raw weight (ln 1 = 0 after the shift).
                    smoothed[i] = quantile.ln().min(0.0);
                }
            }
            k
        };
        let log_total = log_sum_exp(&smoothed);
        Ok(Psis {
            khat,
            log_mean_weight: max + log_total - (s as f64).ln(),
            log_weights: smoothed.iter().map(|w| w - log_total).collect(),
            tail_len,
        })
    }

    /// The reading of k̂: "good" below 0.5, "ok" below 0.7, "bad" above.
    pub fn verdict(&self) -> &'static str {
        if self.khat < 0.5 {
            "good"
        } else if self.khat < 0.7 {
            "ok"
        } else {
            "bad"
        }
    }

    /// The self-normalised importance-sampling estimate Σ w_s f_s of E_p(f) from each draw's
    /// value of f.
    ///
    /// # Panics
    /// If `values` does not have one entry per weight.
    pub fn expectation(&self, values: impl IntoIterator<Item = f64>) -> f64 {
        let mut n = 0;
        let total = values
            .into_iter()
            .zip(&self.log_weights)
            .map(|(f, w)| {
                n += 1;
                f * w.exp()
            })
            .sum();
        assert_eq!(n, self.log_weights.len(), "one value per weight");
        total
    }
}

fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Quantile p of the generalized Pareto distribution with shape k and scale σ (location 0).
fn generalized_pareto_quantile(p: f64, k: f64, sigma: f64) -> f64 {
    if k.abs() < 1e-12 {
        -sigma * (-p).ln_1p()
    } else {
        sigma * ((-p).ln_1p() * -k).exp_m1() / k
    }
}

/// Shape k and scale σ of a generalized Pareto distribution fitted to positive `x` by Zhang and
/// Stephens's (2009) empirical-Bayes estimate, with the weakly informative prior on k used by
/// PSIS (k pulled towards 0.5 as if by 10 observations).
fn fit_generalized_pareto(x: &[f64]) -> (f64, f64) {
    let mut x = x.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len();
    let nf = n as f64;
    let m = 30 + (nf.sqrt() as usize);
    let quartile = x[((nf / 4.0 + 0.5) as usize).saturating_sub(1).min(n - 1)];
    let largest = x[n - 1];
    if largest <= 0.0 || quartile <= 0.0 {
        return (f64::INFINITY, 0.0);
    }
    // A grid of θ = −k/σ candidates and their profile log-likelihoods.
    let thetas: Vec<f64> = (1..=m)
        .map(|j| 1.0 / largest + (1.0 - (m as f64 / (j as f64 - 0.5)).sqrt()) / (3.0 * quartile))
        .collect();
    let profile: Vec<f64> = thetas
        .iter()
        .map(|&theta| {
            let k = x.iter().map(|v| (-theta * v).ln_1p()).sum::<f64>() / nf;
            nf * ((-theta / k).ln() - k - 1.0)
        })
        .collect();
    // Posterior weights of the candidates, then the posterior mean of θ.
    let weights: Vec<f64> = profile
        .iter()
        .map(|&l| 1.0 / profile.iter().map(|&o| (o - l).exp()).sum::<f64>())
        .collect();
    let theta: f64 = thetas.iter().zip(&weights).map(|(t, w)| t * w).sum();
    let k_hat = x.iter().map(|v| (-theta * v).ln_1p()).sum::<f64>() / nf;
    let sigma = -k_hat / theta;
    let k = (nf * k_hat + 10.0 * 0.5) / (nf + 10.0);
    (k, sigma)
}
