//! Kernels composed from the contract's others, generic over the backend, so that each is
//! written once for every device: the Cholesky factor of a symmetric part and its derivative,
//! the derivatives of a triangular solve and of a product, and the convolutions.

use super::{Backend, OperandGradients};
use crate::ops::{BinaryOp, Grid, UnaryOp};
use crate::real::Real;

/// The lower Cholesky factor L of the symmetric part S = ½(A + Aᵀ) of the square `a`, on
/// backend `b`: all NaN where S is not positive definite.
pub(crate) fn cholesky<T: Real, B: Backend<T>>(
    b: &B,
    a: &B::Matrix,
) -> Result<B::Matrix, B::Error> {
    let sum = b.binary(BinaryOp::Add, a, &b.transpose(a)?)?;
    b.cholesky(&b.unary(UnaryOp::Scale(T::of_f64(0.5)), &sum)?)
}

/// Vector-Jacobian product of `L = chol(S)`, S = ½(A + Aᵀ), on backend `b`. From
/// dS = dL Lᵀ + L dLᵀ, dL = L Φ(L⁻¹ dS L⁻ᵀ) with Φ the lower triangle with its diagonal halved
/// (Murray 2016), so the gradient in S is L⁻ᵀ Φ(Lᵀ Ḡ) L⁻¹, and the symmetric part passes on
/// its symmetric half.
pub(crate) fn cholesky_vjp<T: Real, B: Backend<T>>(
    b: &B,
    l: &B::Matrix,
    g: &B::Matrix,
) -> Result<B::Matrix, B::Error> {
    let n = b.shape(l).0;
    let half = UnaryOp::Scale(T::of_f64(0.5));
    // Entries of Ḡ above the diagonal belong to L's constant zeros.
    let lower_g = b.lower_triangle(g, true)?;
    let mut p = b.lower_triangle(&b.matmul(l, true, &lower_g, false)?, true)?;
    let halved = b.unary(half, &b.diagonal(&p)?)?;
    b.copy_grid(
        &halved,
        Grid::block(n, (0, 0)),
        &mut p,
        Grid::diagonal(n),
        [n, 1, 1],
    )?;
    // Y = L⁻ᵀ P, then (Y L⁻¹)ᵀ = L⁻ᵀ Yᵀ: both are solves with Lᵀ (all NaN when L is singular).
    let y = b.solve_lower(l, &p, true)?;
    let s_transposed = b.solve_lower(l, &b.transpose(&y)?, true)?;
    let sum = b.binary(BinaryOp::Add, &b.transpose(&s_transposed)?, &s_transposed)?;
    b.unary(half, &sum)
}

/// Vector-Jacobian products of `C = op(A) op(B)` by any backend's `product(operand, x, tx, y,
/// ty)` (`op(x) op(y)`, the gradient of operand 0, A, or 1, B), for the matrices [A, B, G].
pub(crate) fn product_vjp<M, R>(
    mut product: impl FnMut(usize, &M, bool, &M, bool) -> R,
    [a, b, g]: [&M; 3],
    ta: bool,
    tb: bool,
    need: (bool, bool),
) -> OperandGradients<R> {
    // With A' = op(A), B' = op(B): dA' = G B'ᵀ and dB' = A'ᵀ G; transpose back where op did.
    let ga = need.0.then(|| {
        if ta {
            product(0, b, tb, g, true)
        } else {
            product(0, g, false, b, !tb)
        }
    });
    let gb = need.1.then(|| {
        if tb {
            product(1, g, true, a, ta)
        } else {
            product(1, a, !ta, g, false)
        }
    });
    (ga, gb)
}

/// Vector-Jacobian products of `X = L⁻¹ B`: dB = L⁻ᵀ G and dL = -tril(dB Xᵀ).
pub(crate) fn solve_lower_vjp<T: Real, B: Backend<T>>(
    b: &B,
    [l, x, g]: [&B::Matrix; 3],
    need: (bool, bool),
) -> Result<OperandGradients<B::Matrix>, B::Error> {
    let gb = b.solve_lower(l, g, true)?;
    let gl = need
        .0
        .then(|| {
            let outer = b.matmul(&gb, false, x, true)?;
            b.unary(UnaryOp::Neg, &b.lower_triangle(&outer, true)?)
        })
        .transpose()?;
    Ok((gl, need.1.then_some(gb)))
}
