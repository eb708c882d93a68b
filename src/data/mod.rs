//! Data: minibatches and readers.

mod csv;
mod minibatch;

pub use csv::{Table, parse_csv, read_csv};
pub use minibatch::{Minibatches, select_rows};
