//! Data: minibatches, readers and validation.

mod csv;
mod minibatch;
mod validate;

pub use csv::{Table, parse_csv, read_csv};
pub use minibatch::{Minibatches, select_rows};
pub use validate::check_finite;
