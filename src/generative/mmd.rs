//! The maximum mean discrepancy between two samples, with a sum of Gaussians of several
//! bandwidths as the covariance function: the sample-based distance a moment-matching generator
//! descends, and a judge of samples.

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::real::{Real, c};
use nalgebra::DMatrix;

/// The MMD with the covariance function k(x, y) = Σ_b exp(−‖x − y‖² / (2 σ_b²)): Gaussians of
/// several bandwidths σ_b, so that the discrepancy sees differences at several scales at once.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMmd {
    /// The bandwidths σ_b, in the data's units.
    pub bandwidths: Vec<f64>,
}

impl GaussianMmd {
    /// Bandwidths at `multiples` of one `scale` (a typical distance between data points).
    pub fn scaled(scale: f64, multiples: &[f64]) -> Self {
        GaussianMmd {
            bandwidths: multiples.iter().map(|m| m * scale).collect(),
        }
    }

    /// The median distance between distinct rows of `x` (of its first 1,000 rows): the usual
    /// scale for the bandwidths ("median heuristic").
    ///
    /// # Errors
    /// [`Error::EmptyData`] for fewer than two rows; [`Error::InvalidParameter`] if every row is
    /// the same.
    pub fn median_distance<T: Real>(x: &DMatrix<T>) -> Result<f64> {
        let n = x.nrows().min(1000);
        if n < 2 {
            return Err(Error::EmptyData {
                what: "rows to measure distances between (at least two)",
            });
        }
        let mut distances = Vec::with_capacity(n * (n - 1) / 2);
        for i in 0..n {
            for j in 0..i {
                let d: f64 = x
                    .row(i)
                    .iter()
                    .zip(x.row(j).iter())
                    .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
                    .sum();
                distances.push(d.sqrt());
            }
        }
        distances.sort_by(f64::total_cmp);
        let median = distances[distances.len() / 2];
        if median > 0.0 && median.is_finite() {
            Ok(median)
        } else {
            Err(Error::invalid(
                "median distance between rows",
                median,
                "rows that differ (a positive, finite distance)",
            ))
        }
    }

    /// Checks the bandwidths.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if there are none or one is not positive and finite.
    pub fn validate(&self) -> Result<()> {
        if self.bandwidths.is_empty() {
            return Err(Error::invalid("MMD bandwidths", "[]", "at least one"));
        }
        match self
            .bandwidths
            .iter()
            .find(|b| !(**b > 0.0 && b.is_finite()))
        {
            Some(b) => Err(Error::invalid("MMD bandwidth", b, "a finite number > 0")),
            None => Ok(()),
        }
    }

    /// The covariance matrix k(x_i, y_j) (`m x n`) on the tape.
    pub fn matrix<'t, T: Real>(&self, x: Var<'t, T>, y: Var<'t, T>) -> Var<'t, T> {
        // ‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y, clamped at 0 against rounding.
        let distances = (x.square().row_sums() + y.square().row_sums().transpose()
            - x.matmul_t(y).scale(c(2.0)))
        .relu();
        let mut total: Option<Var<'t, T>> = None;
        for &b in &self.bandwidths {
            let k = distances.scale(c(-0.5 / (b * b))).exp();
            total = Some(match total {
                Some(t) => t + k,
                None => k,
            });
        }
        total.expect("validated: at least one bandwidth")
    }

    /// The unbiased estimate of MMD² between the samples `x` (m rows) and `y` (n rows), both at
    /// least two rows:
    /// (1/m(m−1)) Σ_{i≠j} k(x_i, x_j) + (1/n(n−1)) Σ_{i≠j} k(y_i, y_j) − (2/mn) Σ_{i,j} k(x_i, y_j).
    /// Its expectation is MMD² exactly, so it may come out below zero when the two
    /// distributions agree.
    ///
    /// # Panics
    /// If a sample has fewer than two rows or the widths differ.
    pub fn mmd2_unbiased<'t, T: Real>(&self, x: Var<'t, T>, y: Var<'t, T>) -> Var<'t, T> {
        assert!(
            x.shape().0 >= 2 && y.shape().0 >= 2,
            "MMD² needs two rows in each sample"
        );
        self.within(x) + self.within(y) - self.across(x, y)
    }

    /// [`GaussianMmd::mmd2_unbiased`] where each sample may have a single row (an epoch's
    /// last minibatch): a one-row sample has no within-sample pairs, and its term is left out.
    /// That term does not depend on the row, so gradients are those of MMD² all the same.
    pub(crate) fn mmd2_for_gradients<'t, T: Real>(
        &self,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Var<'t, T> {
        let mut total = -self.across(x, y);
        for s in [x, y] {
            if s.shape().0 >= 2 {
                total = total + self.within(s);
            }
        }
        total
    }

    /// (1/m(m−1)) Σ_{i≠j} k(s_i, s_j) for a sample of m ≥ 2 rows.
    pub(crate) fn within<'t, T: Real>(&self, s: Var<'t, T>) -> Var<'t, T> {
        let rows = s.shape().0;
        // Each row with itself is left out: the diagonal's sum taken off the whole sum.
        let k = self.matrix(s, s);
        (k.sum() - k.diagonal().sum()).scale(c(1.0 / (rows * (rows - 1)) as f64))
    }

    /// (2/mn) Σ_{i,j} k(x_i, y_j).
    pub(crate) fn across<'t, T: Real>(&self, x: Var<'t, T>, y: Var<'t, T>) -> Var<'t, T> {
        let (m, n) = (x.shape().0, y.shape().0);
        self.matrix(x, y).sum().scale(c(2.0 / (m * n) as f64))
    }

    /// [`GaussianMmd::mmd2_unbiased`] of two samples off the tape.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bad bandwidths; [`Error::EmptyData`] for a sample of
    /// fewer than two rows; [`Error::ShapeMismatch`] if the widths differ.
    pub fn mmd2<T: Real>(&self, x: &DMatrix<T>, y: &DMatrix<T>) -> Result<f64> {
        self.validate()?;
        if x.nrows() < 2 || y.nrows() < 2 {
            return Err(Error::EmptyData {
                what: "samples for MMD² (at least two rows each)",
            });
        }
        check_columns("second sample (columns of the first)", y, x.ncols())?;
        let tape = Tape::new();
        let value = self
            .mmd2_unbiased(tape.constant(x.clone()), tape.constant(y.clone()))
            .value()[(0, 0)]
            .to_f64();
        Ok(value)
    }
}
