//! Seeded minibatches: shuffle once per epoch, then walk the permutation.

use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;
use rand::seq::SliceRandom;

/// Draws minibatches of row indices without replacement within an epoch; each epoch starts
/// from a fresh shuffle of `0..n`, so an epoch's order depends only on the generator's state at
/// its start. The last batch of an epoch may be shorter.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// True if these are batches of `batch` rows out of `n`.
    pub fn fits(&self, n: usize, batch: usize) -> bool {
        self.order.len() == n && self.batch == batch.max(1)
    }

    /// Checks a state read from a file: the order must be a permutation of `0..n` and the
    /// position within it.
    pub(crate) fn is_consistent(&self) -> bool {
        let mut seen = vec![false; self.order.len()];
        self.batch >= 1
            && self.next <= self.order.len()
            && self
                .order
                .iter()
                .all(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true))
    }

    /// The row indices of the next batch (reshuffling at the start of each epoch).
    pub fn next_batch<R: Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        if self.next >= self.order.len() {
            for (i, o) in self.order.iter_mut().enumerate() {
                *o = i;
            }
            self.order.shuffle(rng);
            self.next = 0;
        }
        let start = self.next;
        self.next = (start + self.batch).min(self.order.len());
        &self.order[start..self.next]
    }
}

/// The rows `indices` of a data set given by its transpose `data_t` (one column per data row).
///
/// Each row is then one contiguous read; a gather from column-major data jumps between all its
/// columns for every row, which on a data set larger than the cache cost a fifth of a VAE step.
///
/// # Panics
/// If an index is not a column of `data_t`.
pub(crate) fn select_rows_of_transpose<T: Real>(
    data_t: &DMatrix<T>,
    indices: &[usize],
) -> DMatrix<T> {
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
pub(crate) fn row_block<T: Real>(data: &DMatrix<T>, start: usize, len: usize) -> DMatrix<T> {
    let rows = data.nrows();
    assert!(start + len <= rows, "row_block: rows past the end");
    let mut out = Vec::with_capacity(len * data.ncols());
    for column in data.as_slice().chunks_exact(rows.max(1)) {
        out.extend_from_slice(&column[start..start + len]);
    }
    DMatrix::from_vec(len, data.ncols(), out)
}
