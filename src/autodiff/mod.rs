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

mod backward;
mod checks;
mod conv;
mod custom;
mod custom_op;
mod elementwise;
mod fused;
mod gradcheck;
mod gradients;
mod linalg;
mod noise;
mod normal_draw;
mod normal_kl;
mod reduce;
mod shape;
mod tape;
mod vjp;

pub use crate::ops::Conv2d;
pub(crate) use crate::ops::{BinaryOp, SELU_ALPHA, SELU_LAMBDA, UnaryOp};
pub use crate::ops::{sigmoid, softplus};
pub use custom_op::CustomOp;
pub use gradcheck::{GradCheck, GradCheckReport, check_gradients, check_param_gradients};
pub use gradients::Gradients;
pub use tape::{Tape, Var};
