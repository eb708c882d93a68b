//! The numeric kernels: matrix products, vectorised maths and sums, row gathers, recycled
//! storage and the rules for running hot loops wide and on every core. Nothing here knows about
//! models; everything above calls through these few functions, which is the boundary a GPU
//! backend will have to provide.

mod add;
pub(crate) mod buffers;
mod gather;
mod matmul;
mod sum;
mod wide;

pub(crate) use add::{add_into, add_to};
pub(crate) use gather::{gather_rows_of_transpose, row_block};
pub use matmul::matmul;
pub(crate) use matmul::matmul_add;
pub(crate) use sum::sum;
pub(crate) use wide::{PIECE, for_each_piece, wide, with_product_threads, worth_spreading};
