//! Seeded minibatches: shuffle once per epoch, then walk the permutation.

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
