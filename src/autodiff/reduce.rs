//! Reductions on the tape: sums, means and log-sum-exp over everything, each row or each column.

use super::tape::{Op, Var};
use crate::ops::Reduce;
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    fn reduce(self, how: Reduce) -> Self {
        // A sum of one term is that term (but for −0, which a sum from 0 makes +0): nothing to
        // record. A VAE's mean over one draw is one; on a GPU it was two launches and a memset.
        if how.out_shape(self.shape()) == self.shape() {
            return self;
        }
        let op = || Op::Reduce(how, self.id);
        Var::apply([self], op, |k, [x]| k.sum(x, how))
    }

    fn lse(self, how: Reduce) -> Self {
        let op = || Op::LogSumExp(how, self.id);
        Var::apply([self], op, |k, [x]| k.logsumexp(x, how))
    }

    /// Sum of every entry (1x1).
    pub fn sum(self) -> Self {
        self.reduce(Reduce::All)
    }
    /// Sum along each row (R x 1).
    pub fn row_sums(self) -> Self {
        self.reduce(Reduce::EachRow)
    }
    /// Sum down each column (1 x C).
    pub fn col_sums(self) -> Self {
        self.reduce(Reduce::EachColumn)
    }
    /// Mean of every entry (1x1).
    pub fn mean(self) -> Self {
        let n = self.shape().0 * self.shape().1;
        self.sum().scale(T::one() / T::of_f64(n as f64))
    }
    /// Mean along each row (R x 1).
    pub fn row_means(self) -> Self {
        let n = self.shape().1;
        self.row_sums().scale(T::one() / T::of_f64(n as f64))
    }
    /// Mean down each column (1 x C).
    pub fn col_means(self) -> Self {
        let n = self.shape().0;
        self.col_sums().scale(T::one() / T::of_f64(n as f64))
    }
    /// log Σ_j exp(x_ij) along each row (R x 1), computed stably.
    pub fn row_logsumexp(self) -> Self {
        self.lse(Reduce::EachRow)
    }
    /// log Σ_i exp(x_ij) down each column (1 x C), computed stably.
    pub fn col_logsumexp(self) -> Self {
        self.lse(Reduce::EachColumn)
    }
}
