//! Data sets and the file formats they come in (IDX, CSV), the digits shipped with the crate,
//! noisy sine waves, one-hot labels, seeded minibatches, and standardisation.

mod csv;
mod dataset;
mod idx;
mod minibatch;
mod one_hot;
mod sines;
mod standardization;

pub use crate::validate::check_finite;
pub use csv::{Table, parse_csv, read_csv};
pub use dataset::Dataset;
pub use idx::{
    IdxImages, encode_idx_images, encode_idx_labels, parse_idx_images, parse_idx_labels,
    read_idx_images, read_idx_labels,
};
pub use minibatch::Minibatches;
pub use one_hot::{one_hot, with_one_hot};
pub use sines::NoisySines;
pub use standardization::Standardization;
