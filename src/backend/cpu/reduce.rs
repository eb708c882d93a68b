//! The host's reductions: sums (accumulated in f64), log-sum-exp, and their vector-Jacobian
//! products.

use crate::kernels::{self, buffers};
use crate::ops::Reduce;
use crate::real::Real;
use nalgebra::DMatrix;

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

/// Vector-Jacobian product of a sum whose result `g` has the reduced shape: `g` spread over
/// `shape` (the host's [`crate::backend::Backend::sum_vjp`]).
pub(crate) fn sum_vjp<T: Real>(g: &DMatrix<T>, shape: (usize, usize)) -> DMatrix<T> {
    let how = match g.shape() {
        (1, 1) => Reduce::All,
        (_, 1) => Reduce::EachRow,
        _ => Reduce::EachColumn,
    };
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
