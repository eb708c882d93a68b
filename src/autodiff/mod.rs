//! Reverse-mode automatic differentiation over nalgebra matrices.
//!
//! A [`Tape`] records each operation on [`Var`]s as it runs; [`Tape::backward`] sweeps it in
//! reverse and returns the [`Gradients`]. Values are `DMatrix`es with one row per data point, and
//! the operations are coarse (matrix products, elementwise maps with broadcasting, row/column
//! reductions, triangular solves) so that the time goes into the matrix kernels rather than into
//! bookkeeping. Every operation's vector-Jacobian product is checked against central finite
//! differences by the crate's tests, with the same [`check_gradients`] that users can run on
//! their own models.
//!
//! Broadcasting: the elementwise binary operations accept operands whose shapes agree along each
//! axis or are 1 there (a `1 x C` row is added to every row, an `R x 1` column to every column,
//! a `1 x 1` to everything).

mod checks;
mod conv;
mod device_failure;
mod device_vjp;
pub(crate) mod elementwise;
pub(crate) mod fused;
mod gradcheck;
mod gradients;
pub(crate) mod linalg;
mod noise;
pub(crate) mod normal_draw;
pub(crate) mod normal_kl;
pub(crate) mod reduce;
pub(crate) mod shape;
mod tape;
mod vjp;

pub use conv::Conv2d;
pub(crate) use device_failure::{catching_device_failures, device_result};
pub(crate) use elementwise::{BinaryOp, SELU_ALPHA, SELU_LAMBDA, UnaryOp};
pub use elementwise::{sigmoid, softplus};
pub use gradcheck::{GradCheck, GradCheckReport, check_gradients, check_param_gradients};
pub use gradients::Gradients;
pub(crate) use reduce::Reduce;
pub use tape::{Tape, Var};
