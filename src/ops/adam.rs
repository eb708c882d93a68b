//! The Adam update, entry by entry: the one rule every backend applies.

use crate::kernels::wide;
use crate::real::Real;

/// One Adam update, entry by entry: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − step ·
/// m / (√v + ε), with the bias corrections folded into `step`. Every backend applies this.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamUpdate<T> {
    pub(crate) beta1: T,
    pub(crate) beta2: T,
    pub(crate) epsilon: T,
    pub(crate) step: T,
}

impl<T: Real> AdamUpdate<T> {
    /// Updates the parameter entries `p` and their moments `m`, `v` by the gradient `g`.
    pub(crate) fn apply(self, p: &mut [T], m: &mut [T], v: &mut [T], g: &[T]) {
        let AdamUpdate {
            beta1: b1,
            beta2: b2,
            epsilon: eps,
            step,
        } = self;
        wide(
            p.len(),
            #[inline(always)]
            || {
                for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                    *m = b1 * *m + (T::one() - b1) * g;
                    *v = b2 * *v + (T::one() - b2) * g * g;
                    *p -= step * *m / (v.sqrt() + eps);
                }
            },
        )
    }
}
