//! The full-covariance Gaussian N(mean, L Lᵀ) on the tape, through its Cholesky factor.

use super::Support;
use super::normal::LN_SQRT_2PI;
use super::same_width;
use super::univariate::{Distribution, Valid, positive, require};
use crate::autodiff::Var;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// N(mean, L Lᵀ) with `L` lower triangular with a positive diagonal.
///
/// Densities use triangular solves and `ln det Σ = 2 Σ ln L_ii`: no inverse or determinant is
/// ever formed.
#[derive(Clone, Copy, Debug)]
pub struct MvNormal<'t, T: Real> {
    /// `1 x d` mean.
    pub mean: Var<'t, T>,
    /// `d x d` lower-triangular Cholesky factor of the covariance (entries above the diagonal
    /// are ignored).
    pub scale_tril: Var<'t, T>,
}

impl<'t, T: Real> MvNormal<'t, T> {
    /// N(mean, L Lᵀ) for a `1 x d` mean and a `d x d` lower-triangular factor.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] for shapes that do not fit;
    /// [`crate::Error::InvalidParameter`] unless the mean and the factor are finite and the
    /// factor's diagonal positive.
    pub fn new(mean: Var<'t, T>, scale_tril: Var<'t, T>) -> crate::error::Result<Self> {
        let d = mean.shape().1;
        if mean.shape().0 != 1 || scale_tril.shape() != (d, d) {
            return Err(crate::Error::shape(
                "MvNormal scale_tril (for the mean's dimension)",
                (d, d),
                scale_tril.shape(),
            ));
        }
        require("MvNormal mean", &mean, Valid::Finite)?;
        require("MvNormal scale_tril", &scale_tril, Valid::Finite)?;
        // Read off the value: a check adds nothing to the tape.
        if let Some(bad) = scale_tril
            .value()
            .diagonal()
            .iter()
            .map(|v| v.to_f64())
            .find(|&v| !positive(v))
        {
            return Err(crate::Error::invalid(
                "MvNormal scale_tril diagonal",
                bad,
                "a finite number > 0",
            ));
        }
        Ok(MvNormal { mean, scale_tril })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.shape().1
    }

    /// ln det L = Σ ln L_ii (1x1).
    pub fn half_log_det(&self) -> Var<'t, T> {
        self.scale_tril.diagonal().ln().sum()
    }

    /// Panics unless the mean is one row of d and the factor d x d.
    fn check(&self, op: &str) {
        let (mean, l) = (self.mean.shape(), self.scale_tril.shape());
        assert!(
            mean.0 == 1 && l == (mean.1, mean.1),
            "{op}: a mean of {}x{} needs a {}x{} scale_tril, got {}x{}",
            mean.0,
            mean.1,
            mean.1,
            mean.1,
            l.0,
            l.1
        );
    }

    /// log N(z_i; mean, L Lᵀ) for each row of `z` (`n x d`); returns `n x 1`.
    ///
    /// # Panics
    /// If `z`'s width is not the dimension, or the parameters disagree in shape.
    pub fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        self.check("MvNormal::log_prob");
        same_width("MvNormal::log_prob", self.mean.shape(), z.shape());
        let l = self.scale_tril.lower_triangle(true);
        let u = l.solve_lower((z - self.mean).transpose()); // d x n, columns L⁻¹(z_i - μ)
        let d = c::<T>(self.dim() as f64);
        let quad = u.square().col_sums().transpose().scale(c(-0.5)); // n x 1
        quad - self.half_log_det() - d * c(LN_SQRT_2PI)
    }

    /// `particles` reparameterised draws `mean + L ε`, one per row.
    pub fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        self.check("MvNormal::rsample");
        let eps = self.mean.tape().standard_normal(particles, self.dim(), rng);
        eps.matmul_t(self.scale_tril.lower_triangle(true)) + self.mean
    }

    /// Differential entropy (1x1): ln det L + d ln √(2πe).
    pub fn entropy(&self) -> Var<'t, T> {
        self.check("MvNormal::entropy");
        let d = c::<T>(self.dim() as f64);
        self.half_log_det().shift(d * c(LN_SQRT_2PI + 0.5))
    }

    /// The same distribution with its parameters detached from the tape.
    pub fn stop_gradient(&self) -> Self {
        MvNormal {
            mean: self.mean.detach(),
            scale_tril: self.scale_tril.detach(),
        }
    }
}

impl<'t, T: Real> Distribution<'t, T> for MvNormal<'t, T> {
    /// ln N(x_i; mean, L Lᵀ) for each row (`n x 1`), as [`MvNormal::log_prob`].
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
        MvNormal::log_prob(self, x)
    }

    /// One draw (`1 x d`).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
        (*self.rsample(1, rng).value()).clone()
    }

    fn support(&self) -> Option<Support> {
        Some(Support::Real)
    }
}
