//! The KL divergence between two diagonal Gaussians as one tape op: a VAE's KL term is a chain
//! of about a dozen elementwise ops on the latent layer and as many in its derivative, each a
//! kernel launch on a GPU (where a small step's time is its launches) and an allocation on the
//! host. Here it is one pass forward and one pass back.

use super::elementwise::unbroadcast;
use super::shape::{row_broadcast_entry as entry, rows_broadcast};
use super::tape::{Op, Var};
use crate::backend::{Backend, Cpu};
use crate::kernels::buffers;
use crate::real::{Real, c};
use nalgebra::DMatrix;

/// The four parameters of a KL term, in this order: q's means and log standard deviations,
/// then p's.
pub(crate) type NormalPair<M> = [M; 4];

impl<'t, T: Real> Var<'t, T> {
    /// Σ_j KL(N(μq_ij, σq_ij²) ‖ N(μp_ij, σp_ij²)) for each row (`R x 1`), from the means and
    /// log standard deviations `[μq, ln σq, μp, ln σp]`. Each is `R x d`, or `1 x d` shared by
    /// every row.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or `R`.
    pub(crate) fn diag_normal_kl(params: NormalPair<Var<'t, T>>) -> Var<'t, T> {
        let op = || Op::DiagNormalKl(params.map(|v| v.id));
        if let Some(kl) = Var::on_device(params, op, |k, values| k.diag_normal_kl(values)) {
            return kl;
        }
        let Ok(value) = Var::with_values(params, |values| Cpu.diag_normal_kl(values));
        params[0].record(value, op())
    }
}

/// `(R, d)`: the rows and width of the term of `params`' shapes.
///
/// # Panics
/// As [`Var::diag_normal_kl`].
pub(crate) fn term_shape(shapes: NormalPair<(usize, usize)>) -> (usize, usize) {
    rows_broadcast("diag_normal_kl", &shapes)
}

/// The pieces of one entry's term that its value and derivatives share: ln(σq/σp),
/// (σq/σp)² and u = (μq − μp)/σp.
#[inline(always)]
fn shared<T: Real>(params: NormalPair<&DMatrix<T>>, i: usize, j: usize) -> (T, T, T, T) {
    let [mq, lq, mp, lp] = params;
    let log_ratio = entry(lq, i, j) - entry(lp, i, j);
    let var_ratio = (log_ratio * c(2.0)).exp();
    let inv_sd_p = (-entry(lp, i, j)).exp();
    let u = (entry(mq, i, j) - entry(mp, i, j)) * inv_sd_p;
    (log_ratio, var_ratio, u, inv_sd_p)
}

/// [`Var::diag_normal_kl`]'s value on the host: ½((σq/σp)² + u² − 1) − ln(σq/σp) summed along
/// each row.
pub(crate) fn diag_normal_kl<T: Real>(params: NormalPair<&DMatrix<T>>) -> DMatrix<T> {
    let (rows, width) = term_shape(params.map(DMatrix::shape));
    let mut out = buffers::zeros(rows, 1);
    for j in 0..width {
        for (i, o) in out.as_mut_slice().iter_mut().enumerate() {
            let (log_ratio, var_ratio, u, _) = shared(params, i, j);
            *o += c::<T>(0.5) * (var_ratio + u * u - T::one()) - log_ratio;
        }
    }
    out
}

/// The vector-Jacobian products of [`diag_normal_kl`] with output gradient `g` (`R x 1`), for
/// the parameters that `need` them. Per entry, times g_i: u/σp for μq, −u/σp for μp,
/// (σq/σp)² − 1 for ln σq and 1 − (σq/σp)² − u² for ln σp; summed down the rows for a shared
/// parameter.
pub(crate) fn diag_normal_kl_vjp<T: Real>(
    params: NormalPair<&DMatrix<T>>,
    g: &DMatrix<T>,
    need: [bool; 4],
) -> NormalPair<Option<DMatrix<T>>> {
    let (rows, width) = term_shape(params.map(DMatrix::shape));
    // One pass: each entry's shared pieces (two exponentials) once for every derivative asked.
    let mut partials = need.map(|wanted| wanted.then(|| buffers::uninitialized(rows, width)));
    for j in 0..width {
        for i in 0..rows {
            let (_, var_ratio, u, inv_sd_p) = shared(params, i, j);
            let d_mean = u * inv_sd_p;
            let derivatives = [
                d_mean,
                var_ratio - T::one(),
                -d_mean,
                T::one() - var_ratio - u * u,
            ];
            for (partial, d) in partials.iter_mut().zip(derivatives) {
                if let Some(partial) = partial {
                    partial[(i, j)] = g[(i, 0)] * d;
                }
            }
        }
    }
    let mut grads = [None, None, None, None];
    for ((grad, partial), param) in grads.iter_mut().zip(partials).zip(params) {
        *grad = partial.map(|p| unbroadcast(p, param.shape()));
    }
    grads
}
