//! Data: minibatches, readers and validation.

mod csv;
mod dataset;
mod idx;
mod minibatch;
mod validate;

pub use csv::{Table, parse_csv, read_csv};
pub use dataset::Dataset;
pub use idx::{
    IdxImages, encode_idx_images, encode_idx_labels, parse_idx_images, parse_idx_labels,
    read_idx_images, read_idx_labels,
};
pub use minibatch::{Minibatches, row_block, select_rows, select_rows_of_transpose};
pub use validate::check_finite;
pub(crate) use validate::first_failing;
