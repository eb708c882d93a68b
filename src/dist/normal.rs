//! The diagonal Gaussian N(mean, diag(sd²)), row by row, on the tape.

use super::same_width;
use crate::autodiff::{Tape, Var};
use crate::real::{Real, c};
use rand::Rng;

/// ln √(2π), the normalising constant of one standard normal coordinate.
pub const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// N(mean, diag(exp(log_sd)²)) for each row: row r of `mean` and `log_sd` gives the r-th
/// distribution. A `1 x d` `log_sd` is shared by every row.
///
/// The scale is parameterised by its logarithm, so any real value is a valid scale, and
/// `ln σ` (needed by the density and entropy) is exact.
#[derive(Clone, Copy, Debug)]
pub struct DiagNormal<'t, T: Real> {
    /// `R x d` means.
    pub mean: Var<'t, T>,
    /// `R x d` or `1 x d` log standard deviations.
    pub log_sd: Var<'t, T>,
}

impl<'t, T: Real> DiagNormal<'t, T> {
    /// N(0, I) in `dim` dimensions, as constants on `tape`.
    pub fn standard(tape: &'t Tape<'t, T>, dim: usize) -> Self {
        // One constant for both: on a device each is made by a kernel of its own.
        let zeros = tape.filled(1, dim, T::zero());
        DiagNormal {
            mean: zeros,
            log_sd: zeros,
        }
    }

    /// Number of distributions (rows).
    pub fn rows(&self) -> usize {
        self.mean.shape().0
    }

    /// Dimension of each.
    pub fn dim(&self) -> usize {
        self.mean.shape().1
    }

    /// Brings an `R x d` parameter to the `n = S·R` rows of a sample: rows repeat every `R`.
    ///
    /// # Panics
    /// If `n` is not a multiple of `R` (a sample that does not stack whole draws).
    fn spread(&self, v: Var<'t, T>, n: usize) -> Var<'t, T> {
        let r = v.shape().0;
        if r == 1 || r == n {
            v
        } else {
            assert!(
                n.is_multiple_of(r),
                "DiagNormal: {n} sample rows are not whole draws of {r} distributions"
            );
            v.tile_rows(n / r)
        }
    }

    /// Panics unless the mean and the log sds have one dimension and compatible rows.
    fn check(&self, op: &str) {
        let (mean, log_sd) = (self.mean.shape(), self.log_sd.shape());
        same_width(op, mean, log_sd);
        assert!(
            log_sd.0 == 1 || log_sd.0 == mean.0,
            "{op}: log_sd of {}x{} for a mean of {}x{} (give 1 or as many rows)",
            log_sd.0,
            log_sd.1,
            mean.0,
            mean.1
        );
    }

    /// log N(z_i; mean, diag sd²) for each row `z_i` of `z` (`S·R x d`; row `i` is scored under
    /// distribution `i mod R`). Returns `S·R x 1`.
    ///
    /// # Panics
    /// If `z`'s width is not the dimension, or the parameters disagree in shape.
    pub fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        self.check("DiagNormal::log_prob");
        same_width("DiagNormal::log_prob", self.mean.shape(), z.shape());
        let n = z.shape().0;
        let mean = self.spread(self.mean, n);
        let log_sd = self.spread(self.log_sd, n);
        let standardized = (z - mean) * (-log_sd).exp();
        let d = c::<T>(self.dim() as f64);
        (standardized.square().scale(c(-0.5)) - log_sd)
            .row_sums()
            .shift(-d * c(LN_SQRT_2PI))
    }

    /// `particles` reparameterised draws `mean + sd ∘ ε`, stacked: rows `s·R .. (s+1)·R` are
    /// draw `s` for each of the `R` distributions. Gradients flow to the mean and scale.
    pub fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        self.check("DiagNormal::rsample");
        let n = particles * self.rows();
        let eps = self.mean.tape().standard_normal(n, self.dim(), rng);
        let mean = self.spread(self.mean, n);
        let log_sd = self.spread(self.log_sd, n);
        // One fused op, the same bits as `mean + log_sd.exp() * eps`.
        Var::normal_draw([mean, log_sd, eps])
    }

    /// Differential entropy of each row (`R x 1`): Σ_j (ln σ_j + ln √(2πe)).
    pub fn entropy(&self) -> Var<'t, T> {
        self.check("DiagNormal::entropy");
        let log_sd = self.spread(self.log_sd, self.rows());
        let d = c::<T>(self.dim() as f64);
        log_sd.row_sums().shift(d * c(LN_SQRT_2PI + 0.5))
    }

    /// The same distribution with its parameters detached from the tape.
    pub fn stop_gradient(&self) -> Self {
        DiagNormal {
            mean: self.mean.detach(),
            log_sd: self.log_sd.detach(),
        }
    }
}
