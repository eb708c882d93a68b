//! The reverse sweep of a tape on a device: the same walk as [`Tape::backward`]'s, with the
//! gradients held on the device and every op's vector-Jacobian product taken there.

use super::gradients::Gradients;
use super::linalg::product_vjp;
use super::reduce::Reduce;
use super::tape::{Node, Op, Parents, Tape, Value, Var, device_result, sweep};
use crate::autodiff::{BinaryOp, UnaryOp};
use crate::backend::{DeviceMatrix, Kernels, Placed};
use crate::real::Real;

/// [`Tape::backward`] for a tape on a device; the parameters' gradients stay there.
pub(crate) fn backward<T: Real>(
    tape: &Tape<'_, T>,
    kernels: &Kernels,
    loss: Var<'_, T>,
) -> Gradients<T> {
    let nodes = tape.nodes.borrow();
    let (start, seed) = start_of_walk(&nodes, loss.id);
    let (rows, cols) = nodes[start].value.shape();
    let (grads, param_grads) = sweep(
        &nodes,
        start,
        tape.params().map_or(0, |p| p.len()),
        device_result(kernels.filled(rows, cols, seed)),
        |slot, g| accumulate(kernels, slot, g),
        |i, g, emit| propagate(kernels, &nodes, i, g, emit),
    );
    // The inputs' gradients come back to the host; the parameters' stay for the optimizer.
    let inputs = grads
        .into_iter()
        .map(|g| g.map(|g| device_result(g.to_host())))
        .collect();
    let params = param_grads
        .into_iter()
        .map(|g| g.map(Placed::device_matrix))
        .collect();
    Gradients::new(tape.params().map(|p| p.uid()), inputs, params)
}

/// Where the walk starts, and the gradient there (every entry the same): at the loss with
/// gradient 1, or, for a loss that is a scaled sum (a bound summed over rows, negated and
/// scaled to the data set), at the summed value with the scale as every entry's gradient.
/// What the walk would have found there, to the bit (1·s is s; a sum's VJP copies), with the
/// scaling's VJP and the sum's, two launches, left out.
fn start_of_walk<T: Real>(nodes: &[Node<T>], loss: usize) -> (usize, T) {
    let (scaled, scale) = match nodes[loss].op {
        Op::Unary(UnaryOp::Scale(s), scaled) => (scaled, s),
        _ => (loss, T::one()),
    };
    match nodes[scaled].op {
        Op::Reduce(Reduce::All, summed) => (summed, scale),
        _ => (scaled, scale),
    }
}

fn accumulate<T: Real>(kernels: &Kernels, slot: &mut Option<DeviceMatrix<T>>, g: DeviceMatrix<T>) {
    *slot = Some(match slot.take() {
        Some(acc) => {
            assert_eq!(
                acc.shape(),
                g.shape(),
                "gradient contributions differ in shape"
            );
            device_result(kernels.binary(BinaryOp::Add, &acc, &g))
        }
        None => g,
    });
}

/// Sends `g`, the gradient of node `i`, to its `parents`.
fn propagate<T: Real>(
    kernels: &Kernels,
    nodes: &[Node<T>],
    i: usize,
    g: DeviceMatrix<T>,
    parents: &mut Parents<'_, DeviceMatrix<T>>,
) {
    let needs = |p: usize| nodes[p].requires_grad;
    let on_device = |p: usize| nodes[p].value.device_matrix();
    let (k, y) = (kernels, on_device(i));
    match nodes[i].op {
        Op::Unary(op, a) => {
            parents.send(a, Some(device_result(k.unary_vjp(op, on_device(a), y, &g))))
        }
        Op::Binary(op, a, b) => {
            let values = [on_device(a), on_device(b), y, &g];
            let (ga, gb) = device_result(k.binary_vjp(op, values, (needs(a), needs(b))));
            parents.send(a, ga);
            parents.send(b, gb);
        }
        Op::MatMul { a, b, ta, tb } => product_vjp_into(k, nodes, parents, [a, b], (ta, tb), &g),
        Op::Affine { x, w, b } => {
            product_vjp_into(k, nodes, parents, [x, w], (false, false), &g);
            parents.send(
                b,
                needs(b).then(|| device_result(k.sum(&g, Reduce::EachColumn))),
            );
        }
        Op::Reduce(_, a) => {
            parents.send(a, Some(device_result(k.sum_vjp(&g, on_device(a).shape()))))
        }
        Op::LogSumExp(how, a) => parents.send(
            a,
            Some(device_result(k.logsumexp_vjp(how, on_device(a), y, &g))),
        ),
        Op::Transpose(a) => parents.send(a, Some(device_result(k.transpose(&g)))),
        Op::TileRows { a, times } => parents.send(a, Some(device_result(k.untile_rows(&g, times)))),
        Op::Reshape(a) => {
            let (rows, cols) = on_device(a).shape();
            parents.send(a, Some(g.reshaped(rows, cols)))
        }
        Op::BernoulliLogits {
            logits,
            x,
            ref residual,
        } => {
            // Row i of each factor times g_i (g is R x 1, broadcast along the rows).
            let scaled = |m: &DeviceMatrix<T>| device_result(k.binary(BinaryOp::Mul, m, &g));
            let residual = residual.as_ref().map(Value::device_matrix);
            parents.send(
                logits,
                needs(logits).then(|| {
                    scaled(
                        residual.expect("the forward pass keeps x − σ(l) when l needs a gradient"),
                    )
                }),
            );
            parents.send(x, needs(x).then(|| scaled(on_device(logits))));
        }
        Op::Columns { a, start } => {
            let shape = on_device(a).shape();
            parents.send(a, Some(device_result(k.embed(&g, shape, (0, start)))))
        }
        Op::Rows { a, start } => {
            let shape = on_device(a).shape();
            parents.send(a, Some(device_result(k.embed(&g, shape, (start, 0)))))
        }
        Op::ConcatColumns(ref parts) | Op::ConcatRows(ref parts) => {
            // Each part's gradient is the block of g where the part was placed.
            let side_by_side = matches!(nodes[i].op, Op::ConcatColumns(_));
            let mut at = 0;
            for &p in parts {
                let shape = on_device(p).shape();
                let corner = if side_by_side { (0, at) } else { (at, 0) };
                parents.send(
                    p,
                    needs(p).then(|| device_result(k.block(&g, corner, shape))),
                );
                at += if side_by_side { shape.1 } else { shape.0 };
            }
        }
        Op::LowerTriangle {
            a,
            include_diagonal,
        } => parents.send(
            a,
            Some(device_result(k.lower_triangle(&g, include_diagonal))),
        ),
        Op::Diagonal(a) => parents.send(a, Some(device_result(k.diagonal_matrix(&g)))),
        Op::DiagonalMatrix(a) => {
            let (rows, cols) = on_device(a).shape();
            parents.send(a, Some(device_result(k.diagonal(&g)).reshaped(rows, cols)))
        }
        Op::SolveLower { l, b } => {
            let values = [on_device(l), y, &g];
            let (gl, gb) = device_result(k.solve_lower_vjp(values, (needs(l), needs(b))));
            parents.send(l, gl);
            parents.send(b, gb);
        }
        Op::Conv2d {
            input,
            kernel,
            geometry,
            transposed,
        } => {
            let values = [on_device(input), on_device(kernel), &g];
            let need = (needs(input), needs(kernel));
            let (gi, gk) = device_result(k.conv_vjp(values, geometry, transposed, need));
            parents.send(input, gi);
            parents.send(kernel, gk);
        }
        Op::Cholesky(a) => parents.send(a, Some(device_result(k.cholesky_vjp(y, &g)))),
        Op::DiagNormalKl(params) => {
            let grads = k.diag_normal_kl_vjp(params.map(on_device), &g, params.map(needs));
            for (p, grad) in params.into_iter().zip(device_result(grads)) {
                parents.send(p, grad);
            }
        }
        Op::NormalDraw(parts) => {
            let grads = k.normal_draw_vjp(parts.map(on_device), &g, parts.map(needs));
            for (p, grad) in parts.into_iter().zip(device_result(grads)) {
                parents.send(p, grad);
            }
        }
        Op::Constant | Op::Input | Op::Param(_) => {}
    }
}

/// The product rule of `linalg::product_vjp` for `op(A) op(B)` (nodes `[a, b]`) with the
/// device's products, each sent to its operand's parent slot. An operand whose gradient holds
/// contributions already (a value read by several products, a weight shared across the steps
/// of a sequence) gets its product added there by the product itself (`matmul_add`): one
/// launch on a GPU where a product and an addition are two, and the sum the sweep's addition
/// would have made, `sum + product`, on the emulated device.
fn product_vjp_into<T: Real>(
    k: &Kernels,
    nodes: &[Node<T>],
    parents: &mut Parents<'_, DeviceMatrix<T>>,
    [a, b]: [usize; 2],
    (ta, tb): (bool, bool),
    g: &DeviceMatrix<T>,
) {
    let needs = |p: usize| nodes[p].requires_grad;
    let on_device = |p: usize| nodes[p].value.device_matrix();
    let operands = [a, b];
    let product = |operand: usize, x: &DeviceMatrix<T>, tx, y: &DeviceMatrix<T>, ty| {
        device_result(match parents.take(operands[operand]) {
            Some(mut sum) => k.matmul_add(&mut sum, x, tx, y, ty).map(|()| sum),
            None => k.matmul(x, tx, y, ty),
        })
    };
    let values = [on_device(a), on_device(b), g];
    let (ga, gb) = product_vjp(product, values, ta, tb, (needs(a), needs(b)));
    // Each slot taken is empty until these land, so the sends store the sums, adding nothing;
    // for `a` = `b`, the second adds to the first as the sweep adds any two contributions.
    parents.send(a, ga);
    parents.send(b, gb);
}
