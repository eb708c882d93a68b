//! Centring by column means and scaling by one overall scale: the units a model of Gaussian
//! observations trains in, whatever units the data came in.

use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// x̃ = (x − m) / s, with m the column means of the data it was measured on and s one scale for
/// every column: the root mean square of the centred data (1 for constant data, which have no
/// scale of their own).
///
/// One scale, not one per column, so that isotropic observation noise stays isotropic and a
/// density in x̃ is a density in x up to the constant D ln s per row. A model fitted on x̃ is
/// then fitted the same way — step for step — whether the data are in grams or kilograms or
/// shifted by a constant, and its log densities in the data's units are those on x̃ minus
/// [`Standardization::log_jacobian`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// m, one entry per column.
    pub offset: Vec<f64>,
    /// s.
    pub scale: f64,
}

impl Standardization {
    /// Measures m and s on the rows of `x` (finite, at least one row: checked by the caller).
    pub fn of<T: Real>(x: &DMatrix<T>) -> Self {
        let n = x.nrows().max(1) as f64;
        let offset: Vec<f64> = x
            .column_iter()
            .map(|c| c.iter().map(|v| v.to_f64()).sum::<f64>() / n)
            .collect();
        let squares: f64 = x
            .column_iter()
            .zip(&offset)
            .map(|(c, m)| c.iter().map(|v| (v.to_f64() - m).powi(2)).sum::<f64>())
            .sum();
        let rms = (squares / (n * x.ncols().max(1) as f64)).sqrt();
        Standardization {
            offset,
            scale: if rms > 0.0 && rms.is_finite() {
                rms
            } else {
                1.0
            },
        }
    }

    /// (x − m) / s for each row of `x` (computed in f64, then rounded to `T`).
    pub fn apply<T: Real>(&self, x: &DMatrix<T>) -> DMatrix<T> {
        let mut out = x.clone();
        for (mut column, &m) in out.column_iter_mut().zip(&self.offset) {
            for v in column.iter_mut() {
                *v = T::of_f64((v.to_f64() - m) / self.scale);
            }
        }
        out
    }

    /// m + s x̃ for each row of `standard`, in place: back to the data's units.
    pub fn invert<T: Real>(&self, mut standard: DMatrix<T>) -> DMatrix<T> {
        for (mut column, &m) in standard.column_iter_mut().zip(&self.offset) {
            for v in column.iter_mut() {
                *v = T::of_f64(m + self.scale * v.to_f64());
            }
        }
        standard
    }

    /// D ln s for `dim` columns: how much a row's log density in x̃ exceeds its log density
    /// in x.
    pub fn log_jacobian(&self, dim: usize) -> f64 {
        dim as f64 * self.scale.ln()
    }
}
