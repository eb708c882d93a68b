//! The vocabulary of operations, as plain data: what each operation is, the shapes it takes and
//! its derivative's formula, with no knowledge of where it runs. The backends below
//! ([`crate::backend`]) implement these as kernels on their own memory; the tape above
//! ([`crate::autodiff`]) records them and sweeps them in reverse.
//!
//! A unary elementwise map is one entry of [`UnaryOp`]: its value and its derivative
//! (`unary.rs`); the CPU applies them entry by entry and the CUDA source implements the same
//! formulas, checked against them by the backend contract (docs/architecture.md, "How to add
//! an operation").

mod adam;
mod binary;
mod conv;
mod fused;
mod grid;
mod reduce;
mod unary;

pub(crate) use adam::AdamUpdate;
pub(crate) use binary::{BinaryOp, broadcast_shape};
pub use conv::Conv2d;
pub(crate) use fused::{DrawParts, NormalPair, draw_shape, term_shape};
pub(crate) use grid::{Concat, Grid};
pub(crate) use reduce::Reduce;
#[cfg(feature = "cuda")]
pub(crate) use unary::CUDA_SOURCE as UNARY_CUDA_SOURCE;
#[cfg(test)]
pub(crate) use unary::UnaryCase;
pub(crate) use unary::{Exponent, SELU_ALPHA, SELU_LAMBDA, UnaryOp};
pub use unary::{sigmoid, softplus};
