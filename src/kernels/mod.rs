//! The numeric kernels: matrix products, vectorised maths and the rules for running hot loops
//! wide and on every core. Nothing here knows about models; everything above calls through these
//! few functions, which is the boundary a GPU backend will have to provide.

mod matmul;
mod vmath;
mod wide;

pub use matmul::matmul;
#[doc(hidden)]
pub use vmath::VectorMath;
pub(crate) use wide::{PIECE, wide, worth_spreading};
