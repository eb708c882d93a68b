//! The host's Bernoulli log-likelihood from logits, per row, with the residual its gradient
//! needs.

use crate::kernels::{buffers, wide};
use crate::ops::{sigmoid, softplus};
use crate::real::Real;
use nalgebra::DMatrix;

/// The rows' Bernoulli log-likelihoods Σ_j x_ij l_ij − softplus(l_ij) (R x 1) of logits `l` and
/// targets `xv`, with the residual x − σ(l) when `wants_gradient`.
///
/// # Panics
/// If the shapes differ.
pub(crate) fn bernoulli_logits<T: Real>(
    l: &DMatrix<T>,
    xv: &DMatrix<T>,
    wants_gradient: bool,
) -> (DMatrix<T>, Option<DMatrix<T>>) {
    assert_eq!(
        l.shape(),
        xv.shape(),
        "bernoulli_log_prob: logits and targets differ in shape"
    );
    let rows = l.nrows().max(1);
    let mut out = buffers::zeros(l.nrows(), 1);
    let columns = l
        .as_slice()
        .chunks_exact(rows)
        .zip(xv.as_slice().chunks_exact(rows));
    let residual = if wants_gradient {
        // Every entry is written below.
        let mut residual = buffers::uninitialized(l.nrows(), l.ncols());
        let slots = residual.as_mut_slice().chunks_exact_mut(rows);
        wide(
            l.len(),
            #[inline(always)]
            || {
                for ((lc, xc), rc) in columns.zip(slots) {
                    let entries = out.as_mut_slice().iter_mut().zip(lc).zip(xc).zip(rc);
                    for (((o, &lv), &xv), r) in entries {
                        *o += xv * lv - softplus(lv);
                        *r = xv - sigmoid(lv);
                    }
                }
            },
        );
        Some(residual)
    } else {
        wide(
            l.len(),
            #[inline(always)]
            || {
                for (lc, xc) in columns {
                    for ((o, &lv), &xv) in out.as_mut_slice().iter_mut().zip(lc).zip(xc) {
                        *o += xv * lv - softplus(lv);
                    }
                }
            },
        );
        None
    };
    (out, residual)
}
