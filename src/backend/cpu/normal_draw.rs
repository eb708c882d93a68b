//! The host's reparameterised Gaussian draw μ + e^ℓ ε and its vector-Jacobian products.

use super::elementwise::unbroadcast;
use super::shape::row_broadcast_entry as entry;
use crate::kernels::buffers;
use crate::ops::{DrawParts, draw_shape};
use crate::real::Real;
use nalgebra::DMatrix;

/// `Var::normal_draw`'s value on the host.
pub(crate) fn normal_draw<T: Real>(parts: DrawParts<&DMatrix<T>>) -> DMatrix<T> {
    let (rows, width) = draw_shape(parts.map(DMatrix::shape));
    let [mean, log_sd, eps] = parts;
    let mut out = buffers::uninitialized(rows, width);
    for j in 0..width {
        for i in 0..rows {
            out[(i, j)] = entry(mean, i, j) + entry(log_sd, i, j).exp() * entry(eps, i, j);
        }
    }
    out
}

/// `m ∘ n` entry by entry, at the draw's shape `(rows, width)`.
fn product<T: Real>(m: &DMatrix<T>, n: &DMatrix<T>, (rows, width): (usize, usize)) -> DMatrix<T> {
    let mut out = buffers::uninitialized(rows, width);
    for j in 0..width {
        for i in 0..rows {
            out[(i, j)] = entry(m, i, j) * entry(n, i, j);
        }
    }
    out
}

/// The vector-Jacobian products of [`normal_draw`] with output gradient `g` (`R x d`), for the
/// operands that `need` them: g for μ, (g ε) e^ℓ for ℓ and g e^ℓ for ε, each summed down the
/// rows for a shared operand (for ℓ before the factor e^ℓ: the order of the unfused ops, so
/// that the bits are theirs).
pub(crate) fn normal_draw_vjp<T: Real>(
    parts: DrawParts<&DMatrix<T>>,
    g: &DMatrix<T>,
    need: [bool; 3],
) -> DrawParts<Option<DMatrix<T>>> {
    let shape = draw_shape(parts.map(DMatrix::shape));
    let [mean, log_sd, eps] = parts;
    let sd = (need[1] || need[2]).then(|| log_sd.map(T::exp));
    let sd = || sd.as_ref().expect("made when ℓ or ε needs a gradient");
    [
        need[0].then(|| unbroadcast(buffers::copy(g), mean.shape())),
        need[1].then(|| {
            let mut d = unbroadcast(product(g, eps, shape), log_sd.shape());
            d.component_mul_assign(sd());
            d
        }),
        need[2].then(|| unbroadcast(product(g, sd(), shape), eps.shape())),
    ]
}
