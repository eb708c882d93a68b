//! The KL divergence between two diagonal Gaussians as one tape op: a VAE's KL term is a chain
//! of about a dozen elementwise ops on the latent layer and as many in its derivative, each a
//! kernel launch on a GPU (where a small step's time is its launches) and an allocation on the
//! host. Here it is one pass forward and one pass back.

use super::tape::{Op, Var};
use crate::ops::NormalPair;
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    /// Σ_j KL(N(μq_ij, σq_ij²) ‖ N(μp_ij, σp_ij²)) for each row (`R x 1`), from the means and
    /// log standard deviations `[μq, ln σq, μp, ln σp]`. Each is `R x d`, or `1 x d` shared by
    /// every row.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or `R`.
    pub(crate) fn diag_normal_kl(params: NormalPair<Var<'t, T>>) -> Var<'t, T> {
        let op = || Op::DiagNormalKl(params.map(|v| v.id));
        Var::apply(params, op, |k, values| k.diag_normal_kl(values))
    }
}
