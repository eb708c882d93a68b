//! The numeric kernels: matrix products, vectorised maths, recycled storage and the rules for
//! running hot loops wide and on every core. Nothing here knows about models; everything above
//! calls through these few functions, which is the boundary a GPU backend will have to provide.

pub(crate) mod buffers;
mod matmul;
mod vmath;
mod wide;

#[doc(hidden)]
pub use buffers::Recycled;
pub use matmul::matmul;
pub(crate) use matmul::matmul_add;
#[doc(hidden)]
pub use vmath::VectorMath;
pub(crate) use wide::{PIECE, for_each_piece, wide, with_product_threads, worth_spreading};
