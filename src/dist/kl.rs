//! Analytic KL divergences between Gaussians.

use super::{DiagNormal, Gaussian, MvNormal, same_width};
use crate::autodiff::Var;
use crate::real::{Real, c};

/// KL(q ‖ p) for each row of `q` (`R x 1`); `None` where no closed form applies here (several
/// diagonal rows against a full-covariance Gaussian).
pub fn kl_divergence<'t, T: Real>(q: &Gaussian<'t, T>, p: &Gaussian<'t, T>) -> Option<Var<'t, T>> {
    match (q, p) {
        (Gaussian::Diag(q), Gaussian::Diag(p)) => Some(kl_diag(q, p)),
        _ => Some(kl_full(&q.to_full()?, &p.to_full()?)),
    }
}

/// Σ_j [ ln σp_j − ln σq_j + (σq_j² + (μq_j − μp_j)²) / (2 σp_j²) − ½ ], per row.
///
/// # Panics
/// If the two differ in dimension.
pub fn kl_diag<'t, T: Real>(q: &DiagNormal<'t, T>, p: &DiagNormal<'t, T>) -> Var<'t, T> {
    same_width("kl_diag", q.mean.shape(), p.mean.shape());
    // One fused op: on a GPU this chain was two dozen launches, forward and back.
    Var::diag_normal_kl([q.mean, q.log_sd, p.mean, p.log_sd])
}

/// ln det Lp − ln det Lq + ½ ( ‖Lp⁻¹ Lq‖²_F + ‖Lp⁻¹(μq − μp)‖² − d ), as 1x1.
///
/// # Panics
/// If the two differ in dimension.
pub fn kl_full<'t, T: Real>(q: &MvNormal<'t, T>, p: &MvNormal<'t, T>) -> Var<'t, T> {
    same_width("kl_full", q.mean.shape(), p.mean.shape());
    let lp = p.scale_tril.lower_triangle(true);
    let lq = q.scale_tril.lower_triangle(true);
    let trace = lp.solve_lower(lq).square().sum();
    let mahalanobis = lp.solve_lower((q.mean - p.mean).transpose()).square().sum();
    let d = c::<T>(q.dim() as f64);
    p.half_log_det() - q.half_log_det() + (trace + mahalanobis).shift(-d).scale(c(0.5))
}
