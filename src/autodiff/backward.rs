//! The reverse sweep: from a scalar loss back through the tape, each node's gradient handed to
//! its parents by the one VJP step of every device (`vjp.rs`), the contributions to a node or
//! a parameter summed where the tape runs.

use super::gradients::Gradients;
use super::tape::{Node, Op, Tape, Var};
use super::vjp::{Parents, propagate};
use crate::backend::Placed;
use crate::error::Result;
use crate::ops::{Reduce, UnaryOp};
use crate::real::Real;

impl<T: Real> Tape<'_, T> {
    /// Reverse sweep from a 1x1 `loss`: the gradient of `loss` with respect to every input and
    /// parameter it depends on.
    ///
    /// # Panics
    /// If `loss` is not 1x1 or belongs to another tape; with the error's message, where
    /// [`Tape::try_backward`] returns one (a distribution's check failed, or the tape's device
    /// failed in this pass).
    pub fn backward(&self, loss: Var<'_, T>) -> Gradients<T> {
        self.try_backward(loss).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Tape::backward`], returning what can go wrong in a pass as an error.
    ///
    /// # Errors
    /// That of the first deferred check of a value on a device to fail (as the check would
    /// have given it on the CPU, when the distribution was made), or [`crate::Error::Device`]
    /// if the tape's device failed in this pass, forward or back: its ops after the failure
    /// computed shapes only.
    ///
    /// # Panics
    /// If `loss` is not 1x1 or belongs to another tape.
    pub fn try_backward(&self, loss: Var<'_, T>) -> Result<Gradients<T>> {
        assert!(std::ptr::eq(
            loss.tape as *const _ as *const u8,
            self as *const _ as *const u8
        ));
        assert_eq!(loss.shape(), (1, 1), "backward needs a 1x1 loss");
        self.settle_checks()?;
        self.check()?;
        let nodes = self.nodes.borrow();
        let (start, seed) = start_of_walk(&nodes, loss.id);
        let (rows, cols) = nodes[start].value.shape();
        let (grads, param_grads) = sweep(
            &nodes,
            start,
            self.params().map_or(0, |p| p.len()),
            self.run(|k| k.filled(rows, cols, seed)),
            |slot, g| match slot {
                Some(acc) => {
                    let shape = acc.shape();
                    if let Err(e) = self.kernels().add_into(acc, g) {
                        *acc = self.lose(e, shape);
                    }
                }
                None => *slot = Some(g),
            },
            |i, g, parents| propagate(self, &nodes, i, g, parents),
        );
        self.check()?;
        // The inputs' gradients come to the host; the parameters' stay where the tape ran, for
        // the optimizer.
        let mut inputs = Vec::with_capacity(grads.len());
        for g in grads {
            inputs.push(match g {
                Some(g) => Some(g.into_host()?),
                None => None,
            });
        }
        let params = param_grads.into_iter().map(|g| g.map(Placed::of)).collect();
        Ok(Gradients::new(
            self.params().map(|p| p.uid()),
            inputs,
            params,
        ))
    }
}

/// Where the reverse walk starts, and the gradient there (every entry the same): at the loss
/// with gradient 1, or, for a loss that is a scaled sum (a bound summed over rows, negated and
/// scaled to the data set), at the summed value with the scale as every entry's gradient. That
/// is what the walk would have found there, to the bit (1·s is s; a sum's VJP copies), without
/// the scaling's VJP and the sum's: two passes on the host, two launches on a GPU.
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

/// The reverse walk of [`Tape::backward`], on the host or a device (`G` is where gradients
/// live): from the loss's gradient `seed`, each node's gradient goes to its parents through
/// `propagate(node, gradient, emit)`, and contributions to one node or parameter are summed by
/// `add`. Returns the gradients left by node (those of inputs) and by parameter position.
fn sweep<T: Real, G>(
    nodes: &[Node<T>],
    loss: usize,
    n_params: usize,
    seed: G,
    add: impl Fn(&mut Option<G>, G),
    propagate: impl Fn(usize, G, &mut Parents<'_, G>),
) -> (Vec<Option<G>>, Vec<Option<G>>) {
    let mut grads: Vec<Option<G>> = (0..=loss).map(|_| None).collect();
    grads[loss] = Some(seed);
    let mut params: Vec<Option<G>> = (0..n_params).map(|_| None).collect();
    for i in (0..=loss).rev() {
        let node = &nodes[i];
        if !node.requires_grad {
            continue;
        }
        match &node.op {
            Op::Input => continue,
            Op::Param(id) => {
                if let Some(g) = grads[i].take() {
                    add(&mut params[id.index()], g);
                }
                continue;
            }
            _ => {}
        }
        let Some(g) = grads[i].take() else { continue };
        let mut parents = Parents {
            grads: &mut grads,
            add: &add,
        };
        propagate(i, g, &mut parents);
    }
    (grads, params)
}
