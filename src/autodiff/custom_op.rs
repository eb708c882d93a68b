//! Operations of the user's own: the trait a user implements (a value and its vector-Jacobian
//! product on host matrices) and the form the tape holds one in. `Var::custom` (`custom.rs`)
//! records one; the sweep (`vjp.rs`) differentiates it like any other op.

#[cfg(doc)]
use super::Var;
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::Arc;

/// An operation the crate lacks, written by its user: its value from its operands' values, and
/// the gradients of its operands from the gradient of its value. Both run on host matrices; on
/// a tape on a device the operands are read back (once each, as any host reader) and the
/// results copied over.
///
/// Check it with [`check_gradients`](super::check_gradients) before fitting with it: the
/// derivative is the user's, and a wrong one trains silently to the wrong answer.
///
/// # Example: the error function, which the crate lacks
///
/// ```
/// use elbo::autodiff::{CustomOp, GradCheck, Tape, Var, check_gradients};
/// use nalgebra::DMatrix;
///
/// /// erf(x) entry by entry; d erf(x)/dx = 2/√π e^(−x²).
/// struct Erf;
///
/// impl CustomOp<f64> for Erf {
///     fn name(&self) -> &str {
///         "erf"
///     }
///     fn forward(&self, inputs: &[&DMatrix<f64>]) -> DMatrix<f64> {
///         inputs[0].map(statrs::function::erf::erf)
///     }
///     fn vjp(
///         &self,
///         inputs: &[&DMatrix<f64>],
///         _output: &DMatrix<f64>,
///         g: &DMatrix<f64>,
///         _need: &[bool],
///     ) -> Vec<Option<DMatrix<f64>>> {
///         let slope = inputs[0].map(|x| 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp());
///         vec![Some(g.component_mul(&slope))]
///     }
/// }
///
/// // Checked against central differences, as any op of one's own should be.
/// let x = DMatrix::from_row_slice(2, 2, &[-1.5, -0.2, 0.3, 2.0]);
/// let report = check_gradients(&[x.clone()], GradCheck::default(), |inputs| {
///     Var::custom(Erf, inputs).square().sum()
/// });
/// assert!(report.passed(1e-6), "{report:?}");
///
/// // Then used like any op: here erf(x)·w, differentiated by the tape.
/// let tape = Tape::new();
/// let (xv, w) = (tape.input(x), tape.scalar(3.0));
/// let y = Var::custom(Erf, &[xv]) * w;
/// let grads = tape.backward(y.sum());
/// let slope = 2.0 / std::f64::consts::PI.sqrt() * (-(1.5f64).powi(2)).exp();
/// assert!((grads.wrt(xv).unwrap()[(0, 0)] - 3.0 * slope).abs() < 1e-12);
/// ```
pub trait CustomOp<T: Real>: Send + Sync {
    /// A short name, for messages.
    fn name(&self) -> &str;

    /// The value, from the operands' values (in the order they were given to [`Var::custom`]).
    fn forward(&self, inputs: &[&DMatrix<T>]) -> DMatrix<T>;

    /// The gradient of each operand: `g` (the gradient of the value, of the value's shape)
    /// taken back through the op at these operands and this `output`. One entry per operand,
    /// of that operand's shape; `None` where `need` is false (the operand needs no gradient) or
    /// where the value does not depend on it.
    fn vjp(
        &self,
        inputs: &[&DMatrix<T>],
        output: &DMatrix<T>,
        g: &DMatrix<T>,
        need: &[bool],
    ) -> Vec<Option<DMatrix<T>>>;
}

/// A custom op as the tape holds it.
#[derive(Clone)]
pub(crate) struct Custom<T: Real> {
    pub(crate) op: Arc<dyn CustomOp<T>>,
    pub(crate) operands: Vec<usize>,
}

impl<T: Real> std::fmt::Debug for Custom<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Custom({}, {:?})", self.op.name(), self.operands)
    }
}

impl<T: Real> Custom<T> {
    /// The operands' gradients from `vjp`, checked: one per operand, each of its operand's
    /// shape where there is one.
    ///
    /// # Panics
    /// If the op gives another number of gradients or one of another shape: a mistake in the
    /// op, named in the message.
    pub(crate) fn gradients(
        &self,
        inputs: &[&DMatrix<T>],
        output: &DMatrix<T>,
        g: &DMatrix<T>,
        need: &[bool],
    ) -> Vec<Option<DMatrix<T>>> {
        let grads = self.op.vjp(inputs, output, g, need);
        let name = self.op.name();
        assert_eq!(
            grads.len(),
            inputs.len(),
            "custom op `{name}`: vjp gave {} gradients for {} operands",
            grads.len(),
            inputs.len()
        );
        grads
            .into_iter()
            .zip(inputs.iter().zip(need))
            .enumerate()
            .map(|(k, (grad, (input, &needed)))| {
                let grad = grad.filter(|_| needed)?;
                assert_eq!(
                    grad.shape(),
                    input.shape(),
                    "custom op `{name}`: the gradient of operand {k} is {}x{}, the operand {}x{}",
                    grad.nrows(),
                    grad.ncols(),
                    input.nrows(),
                    input.ncols()
                );
                Some(grad)
            })
            .collect()
    }
}
