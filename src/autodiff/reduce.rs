//! Reductions: sums, means and log-sum-exp over everything, each row or each column.

use super::tape::{Op, Var};
use crate::backend::{Backend, Cpu};
use crate::kernels::{self, buffers};
use crate::real::Real;
use nalgebra::DMatrix;

/// Which entries a reduction combines.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reduce {
    /// Everything, to 1x1.
    All,
    /// Along each row, to a column (R x 1).
    EachRow,
    /// Down each column, to a row (1 x C).
    EachColumn,
}

impl Reduce {
    fn out_shape(self, (r, c): (usize, usize)) -> (usize, usize) {
        match self {
            Reduce::All => (1, 1),
            Reduce::EachRow => (r, 1),
            Reduce::EachColumn => (1, c),
        }
    }

    /// Index into the reduced output of input entry (i, j).
    #[inline]
    fn slot(self, i: usize, j: usize) -> (usize, usize) {
        match self {
            Reduce::All => (0, 0),
            Reduce::EachRow => (i, 0),
            Reduce::EachColumn => (0, j),
        }
    }
}

pub(crate) fn sum<T: Real>(x: &DMatrix<T>, how: Reduce) -> DMatrix<T> {
    let (r, c) = how.out_shape(x.shape());
    let mut out = DMatrix::zeros(r, c);
    // Walk the column-major storage column by column.
    let columns = x.as_slice().chunks_exact(x.nrows().max(1));
    match how {
        // Every entry at once, whatever the shape (a 1 x N row is N columns of one entry).
        Reduce::All => out[0] = kernels::sum(x.as_slice()),
        Reduce::EachColumn => {
            for (o, col) in out.iter_mut().zip(columns) {
                *o = kernels::sum(col);
            }
        }
        // One row: every entry at once, as for `All`.
        Reduce::EachRow if r == 1 => out[0] = kernels::sum(x.as_slice()),
        Reduce::EachRow => {
            for col in columns {
                for (o, &v) in out.iter_mut().zip(col) {
                    *o += v;
                }
            }
        }
    }
    out
}

pub(crate) fn logsumexp<T: Real>(x: &DMatrix<T>, how: Reduce) -> DMatrix<T> {
    let (r, c) = how.out_shape(x.shape());
    let mut max = DMatrix::from_element(r, c, T::of_f64(f64::NEG_INFINITY));
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let s = how.slot(i, j);
            if x[(i, j)] > max[s] {
                max[s] = x[(i, j)];
            }
        }
    }
    // A slot whose maximum is infinite (all -inf, or a +inf) is returned as that maximum.
    let shift = max.map(|m| if m.is_finite() { m } else { T::zero() });
    let mut acc = DMatrix::<T>::zeros(r, c);
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let s = how.slot(i, j);
            acc[s] += (x[(i, j)] - shift[s]).exp();
        }
    }
    acc.zip_zip_map(
        &shift,
        &max,
        |a, s, m| if m.is_finite() { a.ln() + s } else { m },
    )
}

/// Spreads `g` (reduced shape) back over `shape`, scaling entry (i, j) by `weight(i, j)`.
fn spread<T: Real>(
    g: &DMatrix<T>,
    how: Reduce,
    shape: (usize, usize),
    weight: impl Fn(usize, usize) -> T,
) -> DMatrix<T> {
    let mut out = buffers::uninitialized(shape.0, shape.1);
    for (j, column) in out
        .as_mut_slice()
        .chunks_exact_mut(shape.0.max(1))
        .enumerate()
    {
        for (i, o) in column.iter_mut().enumerate() {
            *o = g[how.slot(i, j)] * weight(i, j);
        }
    }
    out
}

impl<'t, T: Real> Var<'t, T> {
    fn reduce(self, how: Reduce) -> Self {
        // A sum of one term is that term (but for −0, which a sum from 0 makes +0): nothing to
        // record. A VAE's mean over one draw is one; on a GPU it was two launches and a memset.
        if how.out_shape(self.shape()) == self.shape() {
            return self;
        }
        let op = || Op::Reduce(how, self.id);
        if let Some(y) = Var::on_device([self], op, |k, [x]| k.sum(x, how)) {
            return y;
        }
        let Ok(value) = self.with_value(|v| Cpu.sum(v, how));
        self.record(value, Op::Reduce(how, self.id))
    }

    fn lse(self, how: Reduce) -> Self {
        let op = || Op::LogSumExp(how, self.id);
        if let Some(y) = Var::on_device([self], op, |k, [x]| k.logsumexp(x, how)) {
            return y;
        }
        let Ok(value) = self.with_value(|v| Cpu.logsumexp(v, how));
        self.record(value, Op::LogSumExp(how, self.id))
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

/// Vector-Jacobian product of a sum.
pub(crate) fn sum_vjp<T: Real>(how: Reduce, shape: (usize, usize), g: &DMatrix<T>) -> DMatrix<T> {
    spread(g, how, shape, |_, _| T::one())
}

/// Vector-Jacobian product of log-sum-exp: the gradient times the softmax weights.
pub(crate) fn logsumexp_vjp<T: Real>(
    how: Reduce,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    g: &DMatrix<T>,
) -> DMatrix<T> {
    spread(g, how, x.shape(), |i, j| {
        let m = y[how.slot(i, j)];
        if m.is_finite() {
            (x[(i, j)] - m).exp()
        } else {
            T::zero()
        }
    })
}
