//! The reverse sweep's one step: given a node's output gradient, the gradient contributions to
//! its parents. Each op's own derivative lives beside its forward code; this file dispatches.

use super::elementwise::{binary_vjp, unary_vjp};
use super::fused::bernoulli_vjp;
use super::linalg::{cholesky_vjp, lower_mask, matmul_vjp, solve_lower_vjp, transposed};
use super::normal_draw::normal_draw_vjp;
use super::normal_kl::diag_normal_kl_vjp;
use super::reduce::{Reduce, logsumexp_vjp, sum, sum_vjp};
use super::shape::{embed, untile};
use super::tape::{Node, Op, Parents};
use crate::backend::Cpu;
use crate::kernels::buffers;
use crate::real::Real;
use nalgebra::{DMatrix, Dyn};

/// Sends `g`, the gradient of node `i`, to its `parents`. Parents that need no gradient get
/// nothing (and cost nothing).
pub(crate) fn propagate<T: Real>(
    nodes: &[Node<T>],
    i: usize,
    g: DMatrix<T>,
    parents: &mut Parents<'_, DMatrix<T>>,
) {
    let needs = |p: usize| nodes[p].requires_grad;
    let value = |p: usize| &*nodes[p].value;
    let y = &*nodes[i].value;
    let mut send = |p: usize, contribution: Option<DMatrix<T>>| parents.send(p, contribution);
    // Ops whose parent's gradient is `g` itself, transformed in place; the others read `g`, which
    // then goes back to the recycled buffers.
    match nodes[i].op {
        Op::Unary(op, a) => return send(a, Some(unary_vjp(op, value(a), y, g))),
        Op::Reshape(a) => {
            let (r, c) = value(a).shape();
            return send(a, Some(g.reshape_generic(Dyn(r), Dyn(c))));
        }
        Op::Transpose(a) if g.nrows() == 1 || g.ncols() == 1 => {
            return send(a, Some(transposed(g)));
        }
        _ => {}
    }
    match nodes[i].op {
        Op::Constant | Op::Input | Op::Param(_) | Op::Unary(..) | Op::Reshape(_) => {}
        Op::Binary(op, a, b) => {
            let (ga, gb) = binary_vjp(op, value(a), value(b), y, &g, (needs(a), needs(b)));
            send(a, ga);
            send(b, gb);
        }
        Op::Affine { x, w, b } => {
            let (gx, gw) = matmul_vjp(value(x), value(w), false, false, &g, (needs(x), needs(w)));
            send(x, gx);
            send(w, gw);
            send(b, needs(b).then(|| sum(&g, Reduce::EachColumn)));
        }
        Op::MatMul { a, b, ta, tb } => {
            let (ga, gb) = matmul_vjp(value(a), value(b), ta, tb, &g, (needs(a), needs(b)));
            send(a, ga);
            send(b, gb);
        }
        Op::Reduce(how, a) => send(a, Some(sum_vjp(how, value(a).shape(), &g))),
        Op::LogSumExp(how, a) => send(a, Some(logsumexp_vjp(how, value(a), y, &g))),
        Op::Transpose(a) => send(a, Some(g.transpose())),
        Op::LowerTriangle {
            a,
            include_diagonal,
        } => send(a, Some(lower_mask(&g, include_diagonal))),
        Op::Diagonal(a) => send(
            a,
            Some(DMatrix::from_diagonal(
                &nalgebra::DVector::from_column_slice(g.as_slice()),
            )),
        ),
        Op::DiagonalMatrix(a) => {
            let (r, c) = value(a).shape();
            send(
                a,
                Some(DMatrix::from_column_slice(r, c, g.diagonal().as_slice())),
            );
        }
        Op::SolveLower { l, b } => {
            let Ok((gl, gb)) = solve_lower_vjp(&Cpu, [value(l), y, &g], (needs(l), needs(b)));
            send(l, gl);
            send(b, gb);
        }
        Op::Cholesky(a) => {
            let Ok(ga) = cholesky_vjp(&Cpu, y, &g);
            send(a, Some(ga))
        }
        Op::Conv2d {
            input,
            kernel,
            geometry,
            transposed,
        } => {
            let need = (needs(input), needs(kernel));
            let values = [value(input), value(kernel), &g];
            let Ok((gi, gk)) = geometry.apply_vjp(&Cpu, values, transposed, need);
            send(input, gi);
            send(kernel, gk);
        }
        Op::Columns { a, start } => send(a, Some(embed(&g, value(a).shape(), 0, start))),
        Op::Rows { a, start } => send(a, Some(embed(&g, value(a).shape(), start, 0))),
        Op::ConcatColumns(ref parts) => {
            let mut at = 0;
            for &p in parts {
                let n = value(p).ncols();
                if needs(p) {
                    send(p, Some(g.columns(at, n).into_owned()));
                }
                at += n;
            }
        }
        Op::ConcatRows(ref parts) => {
            let mut at = 0;
            for &p in parts {
                let n = value(p).nrows();
                if needs(p) {
                    send(p, Some(g.rows(at, n).into_owned()));
                }
                at += n;
            }
        }
        Op::TileRows { a, times } => send(a, Some(untile(&g, times))),
        Op::BernoulliLogits {
            logits,
            x,
            ref residual,
        } => {
            let need = (needs(logits), needs(x));
            let residual = residual.as_ref().map(|r| &**r);
            let (gl, gx) = bernoulli_vjp(value(logits), residual, &g, need);
            send(logits, gl);
            send(x, gx);
        }
        Op::DiagNormalKl(params) => {
            let grads = diag_normal_kl_vjp(params.map(value), &g, params.map(needs));
            for (p, grad) in params.into_iter().zip(grads) {
                send(p, grad);
            }
        }
        Op::NormalDraw(parts) => {
            let grads = normal_draw_vjp(parts.map(value), &g, parts.map(needs));
            for (p, grad) in parts.into_iter().zip(grads) {
                send(p, grad);
            }
        }
    }
    buffers::recycle(g);
}
