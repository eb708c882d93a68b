//! The convergence rule: a run has converged when its loss has stopped falling — by less than a
//! tolerance per window, or by less than the noise of the loss can tell from zero.
//!
//! Where the parameters themselves have a meaningful unit — a global guide measured in
//! posterior standard deviations ([`crate::model::GaussianGuide::start_at`]) — the loss alone
//! cannot certify a fit: near the optimum it is flat, and its noise hides parameter errors of
//! several percent. Then the rule goes on, once the loss has settled, averaging the parameters
//! window by window (Polyak–Ruppert), until the standard error of that average — from the
//! scatter of the window means (batch means) — is below a tolerance in those units.
//!
//! Why not Stan ADVI's relative rule (|Δ mean| / |mean| < tol): the loss of a probabilistic
//! model is a log density, which shifts by N·d·ln a when the data are measured in other units
//! (×a). A relative rule then stops at another time on the same problem; a rule in nats does
//! not. And a rule that compares two windows alone fires by chance when the loss is noisy; the
//! trend of several windows, judged against their scatter, does not.

use super::average::Average;
use crate::error::Result;
use crate::params::ParamStore;
use crate::real::Real;
use std::collections::VecDeque;

/// Windows whose trend is judged.
const WINDOWS: usize = 5;

/// One-sided 95% quantile of Student's t with `WINDOWS − 2` = 3 degrees of freedom: a fall per
/// window below this many standard errors of the fitted slope is indistinguishable from noise.
const T_QUANTILE: f64 = 2.353;

/// Tracks the window means of the loss and the parameters' mean over each window.
pub(crate) struct Convergence<T: Real> {
    window: usize,
    tolerance: f64,
    parameter_tolerance: Option<f64>,
    /// The mean loss of each of the last `WINDOWS` complete windows, oldest first.
    means: VecDeque<f64>,
    /// The parameters averaged over each of those windows, and over the window being filled.
    averages: VecDeque<Average<T>>,
    /// Once the loss has settled: the window means of the parameters since (batch means).
    batches: Option<BatchMeans>,
    sum: f64,
    count: usize,
}

impl<T: Real> Convergence<T> {
    pub(crate) fn new(
        window: usize,
        tolerance: f64,
        parameter_tolerance: Option<f64>,
        store: &ParamStore<T>,
    ) -> Result<Self> {
        Ok(Convergence {
            window,
            tolerance,
            parameter_tolerance,
            means: VecDeque::with_capacity(WINDOWS + 1),
            averages: VecDeque::from([Average::new(store)?]),
            batches: None,
            sum: 0.0,
            count: 0,
        })
    }

    /// Records a taken step's loss and the parameters after it; true when the run has
    /// converged.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device the parameters live on fails.
    pub(crate) fn record(&mut self, loss: f64, store: &ParamStore<T>) -> Result<bool> {
        self.sum += loss;
        self.count += 1;
        self.averages.back_mut().expect("a window").add(store)?;
        if self.count < self.window {
            return Ok(false);
        }
        self.means.push_back(self.sum / self.count as f64);
        (self.sum, self.count) = (0.0, 0);
        if let Some(batches) = self.batches.as_mut() {
            // Averaging until the mean is precise: every window since the loss settled counts,
            // folded into one running average.
            let window = self.averages.pop_back().expect("a window");
            batches.add(&window);
            let settled = self.averages.pop_back().expect("the settled average");
            self.averages
                .push_back(Average::combine([settled, window])?);
        } else {
            if self.means.len() > WINDOWS {
                self.means.pop_front();
                self.averages.pop_front();
            }
            if self.means.len() == WINDOWS && self.settled() {
                let Some(tolerance) = self.parameter_tolerance else {
                    return Ok(true);
                };
                let mut batches = BatchMeans::new(tolerance);
                for window in &self.averages {
                    batches.add(window);
                }
                self.batches = Some(batches);
                let settled = Average::combine(self.averages.drain(..))?;
                self.averages.push_back(settled);
            }
        }
        if self.batches.as_ref().is_some_and(BatchMeans::precise) {
            return Ok(true);
        }
        self.averages.push_back(Average::new(store)?);
        Ok(false)
    }

    /// Settled when the trend of the window means falls by less than the tolerance per
    /// window, or by less than their scatter can tell from zero.
    fn settled(&self) -> bool {
        let means: Vec<f64> = self.means.iter().copied().collect();
        Trend::of(&means).is_some_and(|t| t.flat_within(-1.0, self.tolerance))
    }

    /// Writes the parameters averaged over the settled windows (and, with a parameter
    /// tolerance, every window since) into the store.
    pub(crate) fn write_average(self, store: &mut ParamStore<T>) -> Result<()> {
        Average::combine(self.averages)?.write(store)
    }
}

/// The least-squares line through a series of window means, against their index: the
/// judgement of the convergence rule, for any series (a loss, or a held-out bound per epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trend {
    /// Change per window.
    pub slope: f64,
    /// Its standard error, from the scatter of the means about the line.
    pub standard_error: f64,
}

impl Trend {
    /// The trend of `means` (`None` for fewer than three, which leave no scatter to judge by).
    pub fn of(means: &[f64]) -> Option<Self> {
        let k = means.len() as f64;
        if means.len() < 3 {
            return None;
        }
        let x_mean = (k - 1.0) / 2.0;
        let y_mean = means.iter().sum::<f64>() / k;
        let sxx: f64 = (0..means.len()).map(|i| (i as f64 - x_mean).powi(2)).sum();
        let sxy: f64 = means
            .iter()
            .enumerate()
            .map(|(i, y)| (i as f64 - x_mean) * (y - y_mean))
            .sum();
        let slope = sxy / sxx;
        let residual: f64 = means
            .iter()
            .enumerate()
            .map(|(i, y)| (y - y_mean - slope * (i as f64 - x_mean)).powi(2))
            .sum();
        Some(Trend {
            slope,
            standard_error: (residual / (k - 2.0) / sxx).sqrt(),
        })
    }

    /// True when the movement in `direction` (−1: falling, a loss; +1: rising, a bound) per
    /// window is at most `tolerance`, or within 2.353 standard errors of zero: the one-sided
    /// 95% bound of Student's t for five means (3 degrees of freedom), the number the rule
    /// judges; judge five means for the bound to hold at that level.
    pub fn flat_within(&self, direction: f64, tolerance: f64) -> bool {
        let movement = direction * self.slope;
        movement.is_finite()
            && (movement <= tolerance || movement <= T_QUANTILE * self.standard_error)
    }
}

/// The scatter of window means of every parameter entry since the loss settled (Welford's
/// running mean and sum of squares, in f64): the standard error of their mean, by the method
/// of batch means.
struct BatchMeans {
    tolerance: f64,
    count: usize,
    mean: Vec<f64>,
    squares: Vec<f64>,
}

impl BatchMeans {
    fn new(tolerance: f64) -> Self {
        BatchMeans {
            tolerance,
            count: 0,
            mean: Vec::new(),
            squares: Vec::new(),
        }
    }

    fn add<T: Real>(&mut self, window: &Average<T>) {
        let values: Vec<f64> = window.values().map(|v| v.to_f64()).collect();
        if self.count == 0 {
            self.mean = vec![0.0; values.len()];
            self.squares = vec![0.0; values.len()];
        }
        self.count += 1;
        let n = self.count as f64;
        for ((m, s), v) in self.mean.iter_mut().zip(&mut self.squares).zip(values) {
            let delta = v - *m;
            *m += delta / n;
            *s += delta * (v - *m);
        }
    }

    /// True when every entry's mean over the windows has a standard error below the tolerance
    /// (with at least `WINDOWS` windows, so that the scatter itself is estimated).
    fn precise(&self) -> bool {
        let n = self.count as f64;
        self.count >= WINDOWS
            && self
                .squares
                .iter()
                .all(|s| (s / (n - 1.0) / n).sqrt() <= self.tolerance)
    }
}
