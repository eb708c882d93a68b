//! The Gaussian with a low-rank-plus-diagonal covariance, on the tape.

use super::normal::LN_SQRT_2PI;
use crate::autodiff::Var;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// N(μ, W Wᵀ + diag σ²) for a `1 x d` mean, a `d x r` factor W and `1 x d` log standard
/// deviations ln σ: a Gaussian whose correlations live in r directions.
///
/// Its density never forms the `d x d` covariance: by the matrix determinant lemma and
/// Woodbury's identity, with W̃ = diag(σ)⁻¹ W and the `r x r` capacitance C = I + W̃ᵀ W̃ = L Lᵀ,
/// ln det Σ = 2 Σ ln σ_j + 2 Σ ln L_kk and (z − μ)ᵀ Σ⁻¹ (z − μ) = ‖ṽ‖² − ‖L⁻¹ W̃ᵀ ṽ‖² for
/// ṽ = (z − μ)/σ. A step costs O(d r²), not O(d³).
#[derive(Clone, Copy, Debug)]
pub struct LowRankNormal<'t, T: Real> {
    /// `1 x d` mean.
    pub mean: Var<'t, T>,
    /// `d x r` factor W.
    pub factor: Var<'t, T>,
    /// `1 x d` ln σ of the diagonal part.
    pub log_sd: Var<'t, T>,
}

impl<'t, T: Real> LowRankNormal<'t, T> {
    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.mean.shape().1
    }

    /// W̃ = diag(σ)⁻¹ W and the Cholesky factor of the capacitance I + W̃ᵀ W̃.
    fn whitened_factor(&self) -> (Var<'t, T>, Var<'t, T>) {
        let scaled = self.factor * (-self.log_sd).exp().transpose();
        let rank = self.factor.shape().1;
        let identity = self.mean.tape().filled(rank, 1, T::one()).diagonal_matrix();
        let capacitance = (scaled.t_matmul(scaled) + identity).cholesky();
        (scaled, capacitance)
    }

    /// ln det Σ (`1 x 1`).
    fn log_det(&self, capacitance: Var<'t, T>) -> Var<'t, T> {
        (self.log_sd.sum() + capacitance.diagonal().ln().sum()).scale(c(2.0))
    }

    /// `particles` reparameterised draws, one per row: z = μ + W ε₁ + σ ⊙ ε₂.
    pub fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        let tape = self.mean.tape();
        let (d, r) = self.factor.shape();
        let shared = tape.standard_normal(particles, r, rng);
        let own = tape.standard_normal(particles, d, rng);
        self.mean + shared.matmul_t(self.factor) + own * self.log_sd.exp()
    }

    /// ln q(z) for each row of `z` (`n x 1`).
    pub fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        let (scaled, capacitance) = self.whitened_factor();
        let v = (z - self.mean) * (-self.log_sd).exp(); // n x d
        let projected = capacitance.solve_lower(v.matmul(scaled).transpose()); // r x n
        let quadratic = v.square().row_sums() - projected.square().col_sums().transpose();
        let d = c::<T>(self.dim() as f64);
        quadratic.scale(c(-0.5)) - self.log_det(capacitance).scale(c(0.5))
            + z.tape().scalar(-d * c(LN_SQRT_2PI))
    }

    /// Differential entropy (`1 x 1`): ½ ln det Σ + d (½ + ln √(2π)).
    pub fn entropy(&self) -> Var<'t, T> {
        let (_, capacitance) = self.whitened_factor();
        let d = c::<T>(self.dim() as f64);
        self.log_det(capacitance)
            .scale(c(0.5))
            .shift(d * c(0.5 + LN_SQRT_2PI))
    }

    /// The same distribution with its parameters detached from the tape.
    pub fn stop_gradient(&self) -> Self {
        LowRankNormal {
            mean: self.mean.detach(),
            factor: self.factor.detach(),
            log_sd: self.log_sd.detach(),
        }
    }

    /// The covariance W Wᵀ + diag σ², off the tape.
    pub fn covariance(&self) -> DMatrix<T> {
        let w = self.factor.value();
        let mut sigma = &*w * w.transpose();
        for (j, s) in self.log_sd.value().iter().enumerate() {
            sigma[(j, j)] += (*s + *s).exp();
        }
        sigma
    }
}
