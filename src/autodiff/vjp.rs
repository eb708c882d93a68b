//! The reverse sweep's one step, for every device: given a node's output gradient, the
//! gradient contributions to its parents, each a call on the tape's kernels. An op's own
//! derivative kernels live beside its forward code (and in the backend); this file dispatches.

use super::tape::{Node, Op, Tape, Value, nan};
use crate::backend::DeviceMatrix;
use crate::backend::composed::product_vjp;
use crate::ops::{BinaryOp, Reduce};
use crate::real::Real;
use nalgebra::DMatrix;
use std::borrow::Cow;

/// Sends `g`, the gradient of node `i`, to its `parents`. Parents that need no gradient get
/// nothing (and cost nothing).
pub(crate) fn propagate<T: Real>(
    tape: &Tape<'_, T>,
    nodes: &[Node<T>],
    i: usize,
    g: DeviceMatrix<T>,
    parents: &mut Parents<'_, DeviceMatrix<T>>,
) {
    let needs = |p: usize| nodes[p].requires_grad;
    let value = |p: usize| nodes[p].value.matrix();
    let y = value(i);
    // Each kernel call runs on the tape's kernels (`Tape::run`): a device's failure is kept for
    // the pass and the rest of the sweep computes shapes only.
    // Ops whose parent's gradient is `g` itself, transformed in its own storage where the
    // device allows (a unary map on the CPU, a reshape anywhere).
    let g = match nodes[i].op {
        Op::Unary(op, a) => {
            let shape = g.shape();
            let grad = match tape.kernels().unary_vjp(op, value(a), y, g) {
                Ok(grad) => grad,
                Err(e) => tape.lose(e, shape),
            };
            return parents.send(a, Some(grad));
        }
        Op::Reshape(a) | Op::Transpose(a) if is_vector_or_reshape(&nodes[i].op, y) => {
            // A vector's transpose has its entries in the same order: a reshape.
            let (rows, cols) = value(a).shape();
            return parents.send(a, Some(g.reshaped(rows, cols)));
        }
        _ => g,
    };
    match nodes[i].op {
        Op::Constant | Op::Input | Op::Param(_) | Op::Unary(..) | Op::Reshape(_) => {}
        Op::Binary(op, a, b) => {
            let values = [value(a), value(b), y, &g];
            let (ga, gb) = tape.run(|k| k.binary_vjp(op, values, (needs(a), needs(b))));
            parents.send(a, ga);
            parents.send(b, gb);
        }
        Op::MatMul { a, b, ta, tb } => product_vjp_into(tape, nodes, parents, [a, b], (ta, tb), &g),
        Op::Affine { x, w, b } => {
            product_vjp_into(tape, nodes, parents, [x, w], (false, false), &g);
            parents.send(
                b,
                needs(b).then(|| tape.run(|k| k.sum(&g, Reduce::EachColumn))),
            );
        }
        Op::Reduce(_, a) => parents.send(a, Some(tape.run(|k| k.sum_vjp(&g, value(a).shape())))),
        Op::LogSumExp(how, a) => {
            parents.send(a, Some(tape.run(|k| k.logsumexp_vjp(how, value(a), y, &g))))
        }
        Op::Transpose(a) => parents.send(a, Some(tape.run(|k| k.transpose(&g)))),
        Op::TileRows { a, times } => parents.send(a, Some(tape.run(|k| k.untile_rows(&g, times)))),
        Op::BernoulliLogits {
            logits,
            x,
            ref residual,
        } => {
            // Row i of each factor times g_i (g is R x 1, broadcast along the rows).
            let scaled = |m: &DeviceMatrix<T>| tape.run(|k| k.binary(BinaryOp::Mul, m, &g));
            let residual = residual.as_deref().map(Value::matrix);
            parents.send(
                logits,
                needs(logits).then(|| {
                    scaled(
                        residual.expect("the forward pass keeps x − σ(l) when l needs a gradient"),
                    )
                }),
            );
            parents.send(x, needs(x).then(|| scaled(value(logits))));
        }
        Op::Columns { a, start } => {
            let shape = value(a).shape();
            parents.send(a, Some(tape.run(|k| k.embed(&g, shape, (0, start)))))
        }
        Op::Rows { a, start } => {
            let shape = value(a).shape();
            parents.send(a, Some(tape.run(|k| k.embed(&g, shape, (start, 0)))))
        }
        Op::ConcatColumns(ref parts) | Op::ConcatRows(ref parts) => {
            // Each part's gradient is the block of g where the part was placed.
            let side_by_side = matches!(nodes[i].op, Op::ConcatColumns(_));
            let mut at = 0;
            for &p in parts {
                let shape = value(p).shape();
                let corner = if side_by_side { (0, at) } else { (at, 0) };
                parents.send(
                    p,
                    needs(p).then(|| tape.run(|k| k.block(&g, corner, shape))),
                );
                at += if side_by_side { shape.1 } else { shape.0 };
            }
        }
        Op::LowerTriangle {
            a,
            include_diagonal,
        } => parents.send(
            a,
            Some(tape.run(|k| k.lower_triangle(&g, include_diagonal))),
        ),
        Op::Diagonal(a) => parents.send(a, Some(tape.run(|k| k.diagonal_matrix(&g)))),
        Op::DiagonalMatrix(a) => {
            let (rows, cols) = value(a).shape();
            parents.send(a, Some(tape.run(|k| k.diagonal(&g)).reshaped(rows, cols)))
        }
        Op::SolveLower { l, b } => {
            let values = [value(l), y, &g];
            let (gl, gb) = tape.run(|k| k.solve_lower_vjp(values, (needs(l), needs(b))));
            parents.send(l, gl);
            parents.send(b, gb);
        }
        Op::Conv2d {
            input,
            kernel,
            ref geometry,
            transposed,
        } => {
            let geometry = **geometry;
            let values = [value(input), value(kernel), &g];
            let need = (needs(input), needs(kernel));
            let (gi, gk) = tape.run(|k| k.conv_vjp(values, geometry, transposed, need));
            parents.send(input, gi);
            parents.send(kernel, gk);
        }
        Op::Cholesky(a) => parents.send(a, Some(tape.run(|k| k.cholesky_vjp(y, &g)))),
        Op::DiagNormalKl(params) => {
            let grads =
                tape.run(|k| k.diag_normal_kl_vjp(params.map(value), &g, params.map(needs)));
            for (p, grad) in params.into_iter().zip(grads) {
                parents.send(p, grad);
            }
        }
        Op::NormalDraw(parts) => {
            let grads = tape.run(|k| k.normal_draw_vjp(parts.map(value), &g, parts.map(needs)));
            for (p, grad) in parts.into_iter().zip(grads) {
                parents.send(p, grad);
            }
        }
        Op::Custom(ref custom) => {
            // The user's VJP runs on host matrices: on a device, what it reads comes back
            // (each value once, kept) and its gradients go over.
            let host = |p: usize| tape.host_of(&nodes[p].value);
            let inputs: Vec<Cow<'_, DMatrix<T>>> =
                custom.operands.iter().map(|&p| host(p)).collect();
            let inputs: Vec<&DMatrix<T>> = inputs.iter().map(|m| &**m).collect();
            let need: Vec<bool> = custom.operands.iter().map(|&p| needs(p)).collect();
            let g_host = match g.as_host() {
                Some(m) => Cow::Borrowed(m),
                None => Cow::Owned(g.to_host().unwrap_or_else(|e| {
                    tape.fail(e);
                    nan(g.shape())
                })),
            };
            let grads = custom.gradients(&inputs, &host(i), &g_host, &need);
            for (&p, grad) in custom.operands.iter().zip(grads) {
                parents.send(p, grad.map(|m| tape.upload_matrix(m)));
            }
        }
    }
    g.recycle();
}

/// True for a reshape, or a transpose whose value `y` is a row or a column.
fn is_vector_or_reshape<T: Real>(op: &Op<T>, y: &DeviceMatrix<T>) -> bool {
    let (rows, cols) = y.shape();
    matches!(op, Op::Reshape(_)) || rows == 1 || cols == 1
}

/// The product rule of `linalg::product_vjp` for `op(A) op(B)` (nodes `[a, b]`), each
/// gradient sent to its operand's parent slot. An operand whose gradient holds contributions
/// already (a value read by several products, a weight shared across the steps of a sequence)
/// gets its product added there by the product itself (`matmul_add`): one launch on a GPU
/// where a product and an addition are two, and the sum the sweep's addition would have made,
/// `sum + product`, elsewhere.
fn product_vjp_into<T: Real>(
    tape: &Tape<'_, T>,
    nodes: &[Node<T>],
    parents: &mut Parents<'_, DeviceMatrix<T>>,
    [a, b]: [usize; 2],
    (ta, tb): (bool, bool),
    g: &DeviceMatrix<T>,
) {
    let needs = |p: usize| nodes[p].requires_grad;
    let value = |p: usize| nodes[p].value.matrix();
    let operands = [a, b];
    let product = |operand: usize, x: &DeviceMatrix<T>, tx, y: &DeviceMatrix<T>, ty| match parents
        .take(operands[operand])
    {
        Some(mut sum) => {
            let shape = sum.shape();
            match tape.kernels().matmul_add(&mut sum, x, tx, y, ty) {
                Ok(()) => sum,
                Err(e) => tape.lose(e, shape),
            }
        }
        None => tape.run(|k| k.matmul(x, tx, y, ty)),
    };
    let values = [value(a), value(b), g];
    let (ga, gb) = product_vjp(product, values, ta, tb, (needs(a), needs(b)));
    // Each slot taken is empty until these land, so the sends store the sums, adding nothing;
    // for `a` = `b`, the second adds to the first as the sweep adds any two contributions.
    parents.send(a, ga);
    parents.send(b, gb);
}

/// The gradients of a node's parents as `backward::sweep` hands them to the node's VJP: each parent's
/// contributions are summed by the sweep's `add`, or taken by a VJP that adds its own into
/// them (a device's product added inside the product kernel).
pub(crate) struct Parents<'s, G> {
    pub(super) grads: &'s mut [Option<G>],
    pub(super) add: &'s dyn Fn(&mut Option<G>, G),
}

impl<G> Parents<'_, G> {
    /// Adds `contribution`, if there is one, to the gradient of `parent` (a VJP computes none
    /// for a parent that needs no gradient).
    pub(crate) fn send(&mut self, parent: usize, contribution: Option<G>) {
        if let Some(c) = contribution {
            (self.add)(&mut self.grads[parent], c)
        }
    }

    /// The gradient of `parent` summed so far, taken out: whoever takes it sends back the sum
    /// with its own contribution added.
    pub(crate) fn take(&mut self, parent: usize) -> Option<G> {
        self.grads[parent].take()
    }
}
