//! Fused operations: chains of elementwise work done in one pass with a hand-written
//! vector-Jacobian product, where the chain sits on a hot path and its intermediates would
//! each cost a full-size allocation.

use super::elementwise::{sigmoid, softplus};
use super::tape::{Op, Value, Var, device_result};
use crate::backend::OnDevice;
use crate::backend::{Backend, Cpu, OperandGradients};
use crate::kernels::{buffers, wide};
use crate::real::Real;
use nalgebra::DMatrix;

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
        if let Some(kernels) = &self.tape.kernels {
            let (value, residual) = device_result(Var::with_device_values([self, x], |[l, xv]| {
                kernels.bernoulli_logits(l, xv, wants_gradient)
            }));
            let residual = residual.map(|r| Value::Device(OnDevice::new(r)));
            return self
                .tape
                .push(Value::Device(OnDevice::new(value)), op(residual));
        }
        let Ok((value, residual)) = Var::with_values([self, x], |[l, xv]| {
            Cpu.bernoulli_logits(l, xv, wants_gradient)
        });
        self.record(value, op(residual.map(Value::Owned)))
    }
}

/// The rows' Bernoulli log-likelihoods Σ_j x_ij l_ij − softplus(l_ij) (R x 1) of logits `l` and
/// targets `xv`, with the residual x − σ(l) when `wants_gradient`.
///
/// # Panics
/// If the shapes differ.
pub(crate) fn bernoulli_logits<T: Real>(
    l: &DMatrix<T>,
    xv: &DMatrix<T>,
    wants_gradient: bool,
) -> (DMatrix<T>, Option<DMatrix<T>>) {
    assert_eq!(
        l.shape(),
        xv.shape(),
        "bernoulli_log_prob: logits and targets differ in shape"
    );
    let rows = l.nrows().max(1);
    let mut out = buffers::zeros(l.nrows(), 1);
    let columns = l
        .as_slice()
        .chunks_exact(rows)
        .zip(xv.as_slice().chunks_exact(rows));
    let residual = if wants_gradient {
        // Every entry is written below.
        let mut residual = buffers::uninitialized(l.nrows(), l.ncols());
        let slots = residual.as_mut_slice().chunks_exact_mut(rows);
        wide(
            l.len(),
            #[inline(always)]
            || {
                for ((lc, xc), rc) in columns.zip(slots) {
                    let entries = out.as_mut_slice().iter_mut().zip(lc).zip(xc).zip(rc);
                    for (((o, &lv), &xv), r) in entries {
                        *o += xv * lv - softplus(lv);
                        *r = xv - sigmoid(lv);
                    }
                }
            },
        );
        Some(residual)
    } else {
        wide(
            l.len(),
            #[inline(always)]
            || {
                for (lc, xc) in columns {
                    for ((o, &lv), &xv) in out.as_mut_slice().iter_mut().zip(lc).zip(xc) {
                        *o += xv * lv - softplus(lv);
                    }
                }
            },
        );
        None
    };
    (out, residual)
}

/// Vector-Jacobian products of [`Var::bernoulli_log_prob`]: g_i (x_ij − σ(l_ij)) for the
/// logits (from the `residual` x − σ(l) kept by the forward pass) and g_i l_ij for the targets.
pub(crate) fn bernoulli_vjp<T: Real>(
    logits: &DMatrix<T>,
    residual: Option<&DMatrix<T>>,
    g: &DMatrix<T>,
    need: (bool, bool),
) -> OperandGradients<DMatrix<T>> {
    (
        need.0.then(|| {
            let residual =
                residual.expect("the forward pass keeps x − σ(l) when l needs a gradient");
            scale_rows(residual, g)
        }),
        need.1.then(|| scale_rows(logits, g)),
    )
}

/// Row i of `m` times g_i.
fn scale_rows<T: Real>(m: &DMatrix<T>, g: &DMatrix<T>) -> DMatrix<T> {
    let rows = m.nrows().max(1);
    let mut out = buffers::copy(m);
    wide(
        m.len(),
        #[inline(always)]
        || {
            for column in out.as_mut_slice().chunks_exact_mut(rows) {
                for (o, &gi) in column.iter_mut().zip(g.as_slice()) {
                    *o *= gi;
                }
            }
        },
    );
    out
}
