//! Polyak–Ruppert averaging of the parameters over the last steps of a run.

use crate::error::Result;
use crate::params::ParamStore;
use crate::real::{Real, c};
use nalgebra::DMatrix;

/// Running mean of every parameter.
pub(crate) struct Average<T: Real> {
    means: Vec<DMatrix<T>>,
    count: usize,
}

impl<T: Real> Average<T> {
    pub(crate) fn new(store: &ParamStore<T>) -> Self {
        Average {
            means: store
                .ids()
                .map(|id| store.get(id).map(|_| T::zero()))
                .collect(),
            count: 0,
        }
    }

    pub(crate) fn add(&mut self, store: &ParamStore<T>) {
        self.count += 1;
        let w = T::one() / c::<T>(self.count as f64);
        for (mean, id) in self.means.iter_mut().zip(store.ids()) {
            // mean ← mean + (θ − mean) / count
            for (m, &p) in mean.as_mut_slice().iter_mut().zip(store.get(id).as_slice()) {
                *m += (p - *m) * w;
            }
        }
    }

    /// The mean over every step the parts averaged, each part weighted by its steps.
    pub(crate) fn combine(parts: impl IntoIterator<Item = Average<T>>) -> Self {
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("at least one part");
        for part in parts {
            let count = total.count + part.count;
            if count == 0 {
                continue;
            }
            let w = c::<T>(part.count as f64 / count as f64);
            for (mean, other) in total.means.iter_mut().zip(&part.means) {
                for (m, &o) in mean.as_mut_slice().iter_mut().zip(other.as_slice()) {
                    *m += (o - *m) * w;
                }
            }
            total.count = count;
        }
        total
    }

    /// Every entry of the means, parameter by parameter.
    pub(crate) fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.means.iter().flat_map(|m| m.iter().copied())
    }

    /// Writes the means into the store (nothing if no step was averaged).
    pub(crate) fn write(self, store: &mut ParamStore<T>) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let ids: Vec<_> = store.ids().collect();
        for (mean, id) in self.means.into_iter().zip(ids) {
            store.set(id, mean)?;
        }
        Ok(())
    }
}
