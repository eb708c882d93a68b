//! The host's KL divergence between diagonal Gaussians, per row, and its vector-Jacobian
//! products.

use super::elementwise::unbroadcast;
use super::shape::row_broadcast_entry as entry;
use crate::kernels::buffers;
use crate::ops::{NormalPair, term_shape};
use crate::real::{Real, c};
use nalgebra::DMatrix;

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

/// `Var::diag_normal_kl`'s value on the host: ½((σq/σp)² + u² − 1) − ln(σq/σp) summed along
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
