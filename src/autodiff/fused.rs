//! Fused operations: chains of elementwise work done in one pass with a hand-written
//! vector-Jacobian product, where the chain sits on a hot path and its intermediates would
//! each cost a full-size allocation.
use super::tape::{Op, Value, Var};
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    /// Bernoulli log-likelihood from logits, per row: Σ_j x_ij l_ij − softplus(l_ij), for these
    /// logits `l` (R x D) and targets `x` (R x D, values in [0, 1]); returns R x 1. The same as
    /// `(x * l - l.softplus()).row_sums()`, in one pass.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn bernoulli_log_prob(self, x: Var<'t, T>) -> Self {
        // The logits' gradient, x − σ(l), shares e^−|l| with the value: computed here, it
        // spares the backward pass a second exponential per entry.
        let wants_gradient = self.tape.nodes.borrow()[self.id].requires_grad;
        let op = |residual| Op::BernoulliLogits {
            logits: self.id,
            x: x.id,
            residual,
        };
        let tape = self.tape;
        let (value, residual) = tape.run(|k| {
            Var::with_matrices([self, x], |[l, xv]| {
                k.bernoulli_logits(l, xv, wants_gradient)
            })
        });
        let residual = residual.map(|r| Box::new(Value::of(r)));
        tape.push(Value::of(value), op(residual))
    }
}
