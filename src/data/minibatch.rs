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
pub fn select_rows<T: Real>(data: &DMatrix<T>, indices: &[usize]) -> DMatrix<T> {
    DMatrix::from_fn(indices.len(), data.ncols(), |i, j| data[(indices[i], j)])
}
