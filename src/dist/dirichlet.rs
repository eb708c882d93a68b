//! The Dirichlet distribution on the probability simplex.

use super::Support;
use super::univariate::{Distribution, Valid, masked, require, restrict_entries};
use crate::autodiff::Var;
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::Distribution as _;

/// How far a point's coordinates may sum from 1 and still be on the simplex.
const SIMPLEX_TOLERANCE: f64 = 1e-9;

/// Dirichlet(α) over vectors of K positive coordinates that sum to 1. The concentrations are
/// `1 x K` (shared by every point) or `n x K`; each row of the points is one vector.
#[derive(Clone, Copy, Debug)]
pub struct Dirichlet<'t, T: Real> {
    concentration: Var<'t, T>,
}

impl<'t, T: Real> Dirichlet<'t, T> {
    /// Dirichlet(concentration), a distribution per row.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless every concentration is finite and positive
    /// and there are at least two categories.
    pub fn new(concentration: Var<'t, T>) -> Result<Self> {
        require("Dirichlet concentration", &concentration, Valid::Positive)?;
        if concentration.shape().1 < 2 {
            return Err(crate::Error::invalid(
                "Dirichlet categories",
                concentration.shape().1,
                "at least 2",
            ));
        }
        Ok(Dirichlet { concentration })
    }
}

impl<'t, T: Real> Distribution<'t, T> for Dirichlet<'t, T> {
    /// ln Γ(Σ α_k) − Σ ln Γ(α_k) + Σ (α_k − 1) ln x_k for each row x on the simplex (−∞ off
    /// it: a coordinate not above 0, or a sum more than 1e-9 from 1). Returns `n x 1`.
    ///
    /// # Panics
    /// If the points' width is not the number of categories, or the concentrations have
    /// neither 1 nor `n` rows.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (n, k) = x.shape();
        let (rows, categories) = self.concentration.shape();
        assert!(
            k == categories && (rows == 1 || rows == n),
            "Dirichlet::log_prob: {n}x{k} points for {rows}x{categories} concentrations"
        );
        let value = x.value();
        let on_simplex: Vec<bool> = value
            .row_iter()
            .map(|r| {
                let sum: f64 = r.iter().map(|v| v.to_f64()).sum();
                r.iter().all(|v| v.to_f64() > 0.0) && (sum - 1.0).abs() <= SIMPLEX_TOLERANCE
            })
            .collect();
        // Rows off the simplex are scored at the uniform point; their entries' masks of −∞
        // then sum to −∞ for the row.
        let inside = DMatrix::from_fn(n, k, |i, _| on_simplex[i]);
        let (x, mask) = restrict_entries(x, &inside, 1.0 / k as f64);
        let alpha = self.concentration;
        let normaliser = alpha.row_sums().ln_gamma() - alpha.ln_gamma().row_sums();
        normaliser + masked(alpha.shift(-T::one()) * x.ln(), mask).row_sums()
    }

    /// One vector per row of the concentrations: independent Gamma(α_k, 1) draws, normalised.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        let alpha = self.concentration.value();
        let mut draws = alpha.map(|a| {
            rand_distr::Gamma::new(a.to_f64(), 1.0)
                .expect("a validated concentration")
                .sample(rng)
        });
        for mut row in draws.row_iter_mut() {
            let sum: f64 = row.iter().sum();
            row /= sum;
        }
        draws.map(T::of_f64)
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Simplex)
    }
}
