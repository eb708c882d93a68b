//! A reparameterised Gaussian draw μ + e^ℓ ε as one tape op: as three ops it was three launches
//! on a GPU forward and four back, on every step of every Gaussian guide.

use super::elementwise::unbroadcast;
use super::shape::{row_broadcast_entry as entry, rows_broadcast};
use super::tape::{Op, Var};
use crate::backend::{Backend, Cpu};
use crate::kernels::buffers;
use crate::real::Real;
use nalgebra::DMatrix;

/// The three operands of a draw, in this order: the means μ, the log standard deviations ℓ and
/// the standard-normal noise ε.
pub(crate) type DrawParts<M> = [M; 3];

impl<'t, T: Real> Var<'t, T> {
    /// μ + e^ℓ ε entry by entry (`R x d`), from `[μ, ℓ, ε]`, each `R x d` or `1 x d` shared by
    /// every row. The same values, to the bit, as `mean + log_sd.exp() * eps`.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or `R`.
    pub(crate) fn normal_draw(parts: DrawParts<Var<'t, T>>) -> Var<'t, T> {
        let op = || Op::NormalDraw(parts.map(|v| v.id));
        if let Some(z) = Var::on_device(parts, op, |k, values| k.normal_draw(values)) {
            return z;
        }
        let Ok(value) = Var::with_values(parts, |values| Cpu.normal_draw(values));
        parts[0].record(value, op())
    }
}

/// `(R, d)`: the shape of the draw of `parts`' shapes.
///
/// # Panics
/// As [`Var::normal_draw`].
pub(crate) fn draw_shape(shapes: DrawParts<(usize, usize)>) -> (usize, usize) {
    rows_broadcast("normal_draw", &shapes)
}

/// [`Var::normal_draw`]'s value on the host.
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
