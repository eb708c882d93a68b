//! Fused operations: chains of elementwise work done in one pass with a hand-written
//! vector-Jacobian product, where the chain sits on a hot path and its intermediates would
//! each cost a full-size allocation.

use super::elementwise::{sigmoid, softplus};
use super::tape::{Op, Var};
use crate::real::Real;
use crate::wide::wide;
use nalgebra::DMatrix;

impl<'t, T: Real> Var<'t, T> {
    /// Bernoulli log-likelihood from logits, per row: Σ_j x_ij l_ij − softplus(l_ij), for these
    /// logits `l` (R x D) and targets `x` (R x D, values in [0, 1]); returns R x 1. The same as
    /// `(x * l - l.softplus()).row_sums()`, in one pass.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn bernoulli_log_prob(self, x: Var<'t, T>) -> Self {
        self.same_tape(&x);
        let value = {
            let (l, xv) = (self.data(), x.data());
            assert_eq!(
                l.shape(),
                xv.shape(),
                "bernoulli_log_prob: logits and targets differ in shape"
            );
            let mut out = DMatrix::zeros(l.nrows(), 1);
            wide(
                l.len(),
                #[inline(always)]
                || {
                    for (lc, xc) in l
                        .as_slice()
                        .chunks_exact(l.nrows().max(1))
                        .zip(xv.as_slice().chunks_exact(l.nrows().max(1)))
                    {
                        for ((o, &lv), &xv) in out.as_mut_slice().iter_mut().zip(lc).zip(xc) {
                            *o += xv * lv - softplus(lv);
                        }
                    }
                },
            );
            out
        };
        self.record(
            value,
            Op::BernoulliLogits {
                logits: self.id,
                x: x.id,
            },
        )
    }
}

/// Vector-Jacobian products of [`Var::bernoulli_log_prob`]: g_i (x_ij − σ(l_ij)) for the
/// logits and g_i l_ij for the targets.
pub(crate) fn bernoulli_vjp<T: Real>(
    logits: &DMatrix<T>,
    x: &DMatrix<T>,
    g: &DMatrix<T>,
    need: (bool, bool),
) -> (Option<DMatrix<T>>, Option<DMatrix<T>>) {
    (
        need.0
            .then(|| by_row_gradient(logits, x, g, |l, xv| xv - sigmoid(l))),
        need.1.then(|| by_row_gradient(logits, x, g, |l, _| l)),
    )
}

/// g_i f(l_ij, x_ij) for every entry (generic in `f`, so that the loop vectorises).
fn by_row_gradient<T: Real>(
    logits: &DMatrix<T>,
    x: &DMatrix<T>,
    g: &DMatrix<T>,
    f: impl Fn(T, T) -> T,
) -> DMatrix<T> {
    let rows = logits.nrows().max(1);
    let mut out = logits.clone();
    wide(
        logits.len(),
        #[inline(always)]
        || {
            for (oc, xc) in out
                .as_mut_slice()
                .chunks_exact_mut(rows)
                .zip(x.as_slice().chunks_exact(rows))
            {
                for ((o, &xv), &gi) in oc.iter_mut().zip(xc).zip(g.as_slice()) {
                    *o = gi * f(*o, xv);
                }
            }
        },
    );
    out
}
