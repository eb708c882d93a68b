//! Seeded minibatches: shuffle once per epoch, then walk the permutation.

use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;
use rand::seq::SliceRandom;

/// Draws minibatches of row indices without replacement within an epoch; a new permutation
/// starts each epoch. The last batch of an epoch may be shorter.
#[derive(Clone, Debug)]
pub struct Minibatches {
    order: Vec<usize>,
    batch: usize,
    next: usize,
}

impl Minibatches {
    /// Batches of `batch` (≥ 1) out of `n` rows; `batch ≥ n` gives the full data every time.
    pub fn new(n: usize, batch: usize) -> Self {
        Minibatches {
            order: (0..n).collect(),
            batch: batch.max(1),
            next: n,
        }
    }

    /// The row indices of the next batch (reshuffling at the start of each epoch).
    pub fn next_batch<R: Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        if self.next >= self.order.len() {
            self.order.shuffle(rng);
            self.next = 0;
        }
        let start = self.next;
        self.next = (start + self.batch).min(self.order.len());
        &self.order[start..self.next]
    }
}

/// The rows `indices` of `data`, in that order.
///
/// # Panics
/// If an index is not a row of `data`.
pub fn select_rows<T: Real>(data: &DMatrix<T>, indices: &[usize]) -> DMatrix<T> {
    let rows = data.nrows();
    assert!(
        indices.iter().all(|&i| i < rows),
        "select_rows: an index is past the {rows} rows"
    );
    let mut out = Vec::with_capacity(indices.len() * data.ncols());
    // Column by column over the column-major storage: a gather from one contiguous column.
    for column in data.as_slice().chunks_exact(rows.max(1)) {
        out.extend(indices.iter().map(|&i| column[i]));
    }
    DMatrix::from_vec(indices.len(), data.ncols(), out)
}

/// The rows `indices` of a data set given by its transpose `data_t` (one column per data row).
///
/// Each row is then one contiguous read; a gather from column-major data jumps between all its
/// columns for every row, which on a data set larger than the cache cost a fifth of a VAE step.
///
/// # Panics
/// If an index is not a column of `data_t`.
pub fn select_rows_of_transpose<T: Real>(data_t: &DMatrix<T>, indices: &[usize]) -> DMatrix<T> {
    let (dim, rows) = (data_t.nrows(), indices.len());
    let mut out = DMatrix::zeros(rows, dim);
    let out_slice = out.as_mut_slice();
    for (r, &i) in indices.iter().enumerate() {
        let row = data_t.column(i);
        for (j, &v) in row.as_slice().iter().enumerate() {
            out_slice[r + j * rows] = v;
        }
    }
    out
}

/// Rows `start .. start + len` of `data`: one contiguous copy per column.
///
/// # Panics
/// If the rows run past the end of `data`.
pub fn row_block<T: Real>(data: &DMatrix<T>, start: usize, len: usize) -> DMatrix<T> {
    let rows = data.nrows();
    assert!(start + len <= rows, "row_block: rows past the end");
    let mut out = Vec::with_capacity(len * data.ncols());
    for column in data.as_slice().chunks_exact(rows.max(1)) {
        out.extend_from_slice(&column[start..start + len]);
    }
    DMatrix::from_vec(len, data.ncols(), out)
}
