//! Polyak–Ruppert averaging of the parameters over the last steps of a run.

use crate::autodiff::{BinaryOp, UnaryOp};
use crate::backend::{Device, Kernels, Placed};
use crate::error::Result;
use crate::params::ParamStore;
use crate::real::{Real, c};

/// Running mean of every parameter, kept where the parameter lives (on a device, the average
/// costs no copy per step).
pub(crate) struct Average<T: Real> {
    means: Vec<Placed<T>>,
    count: usize,
}

impl<T: Real> Average<T> {
    /// Zero means, each where its parameter lives.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device the parameters live on fails.
    pub(crate) fn new(store: &ParamStore<T>) -> Result<Self> {
        let means = store
            .ids()
            .map(|id| {
                let placed = store.placed(id);
                let (rows, cols) = placed.shape();
                Ok(Placed::of(Kernels::of(placed.device())?.zeros(rows, cols)?))
            })
            .collect::<Result<_>>()?;
        Ok(Average { means, count: 0 })
    }

    /// Counts the store's current values in.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device the parameters live on fails.
    pub(crate) fn add(&mut self, store: &ParamStore<T>) -> Result<()> {
        self.count += 1;
        let w = T::one() / c::<T>(self.count as f64);
        for (mean, id) in self.means.iter_mut().zip(store.ids()) {
            move_toward(mean, store.placed(id), w)?;
        }
        Ok(())
    }

    /// The mean over every step the parts averaged, each part weighted by its steps.
    ///
    /// # Errors
    /// As [`Average::add`].
    pub(crate) fn combine(parts: impl IntoIterator<Item = Average<T>>) -> Result<Self> {
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("at least one part");
        for part in parts {
            let count = total.count + part.count;
            if count == 0 {
                continue;
            }
            let w = c::<T>(part.count as f64 / count as f64);
            for (mean, other) in total.means.iter_mut().zip(&part.means) {
                move_toward(mean, other, w)?;
            }
            total.count = count;
        }
        Ok(total)
    }

    /// Every entry of the means, parameter by parameter (read back from a device).
    pub(crate) fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.means.iter().flat_map(|m| m.host().iter().copied())
    }

    /// Writes the means into the store, where they are (nothing if no step was averaged).
    ///
    /// # Errors
    /// As [`ParamStore::set`] for a mean on the host.
    pub(crate) fn write(self, store: &mut ParamStore<T>) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let ids: Vec<_> = store.ids().collect();
        for (mean, id) in self.means.into_iter().zip(ids) {
            match mean {
                Placed::Host(mean) => store.set(id, std::sync::Arc::unwrap_or_clone(mean))?,
                on_device => *store.placed_mut(id) = on_device,
            }
        }
        Ok(())
    }
}

/// mean ← mean + (target − mean) · w, entry by entry, where `target` lives (the mean moves
/// there first, if the parameters moved since it was made). The device's three kernels round as the host's one loop does.
fn move_toward<T: Real>(mean: &mut Placed<T>, target: &Placed<T>, w: T) -> Result<()> {
    let device = target.device();
    if device == Device::Cpu {
        // In place, in one pass.
        let target = target.host().as_slice();
        for (m, &p) in mean.host_mut().as_mut_slice().iter_mut().zip(target) {
            *m += (p - *m) * w;
        }
        return Ok(());
    }
    let kernels = Kernels::of(device)?;
    mean.move_to(device)?;
    let (Some(m), Some(p)) = (mean.on(device), target.on(device)) else {
        unreachable!("both on the device")
    };
    let step = kernels.unary(UnaryOp::Scale(w), &kernels.binary(BinaryOp::Sub, p, m)?)?;
    *mean = Placed::device_matrix(kernels.binary(BinaryOp::Add, m, &step)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use nalgebra::DMatrix;

    /// Averages of three steps, then three more combined in, of a store on `device`.
    fn averaged(device: Device) -> (ParamStore<f32>, Vec<f32>) {
        let mut store = ParamStore::new();
        let w = store.add("w", DMatrix::from_element(2, 3, 0.1)).unwrap();
        store.move_to(device).unwrap();
        let mut parts = Vec::new();
        for part in 0..2 {
            let mut average = Average::new(&store).unwrap();
            // Made where the parameters are: nothing to copy over at the first step.
            assert_eq!(average.means[0].device(), device);
            for step in 0..3 {
                let value = DMatrix::from_fn(2, 3, |i, j| {
                    (i as f32 - 0.3 * j as f32) / (1.0 + (step + 3 * part) as f32)
                });
                store.set(w, value).unwrap();
                store.move_to(device).unwrap();
                average.add(&store).unwrap();
            }
            parts.push(average);
        }
        let average = Average::combine(parts).unwrap();
        let values = average.values().collect();
        average.write(&mut store).unwrap();
        (store, values)
    }

    #[test]
    fn an_average_on_a_device_stays_there_and_rounds_as_on_the_host() {
        let (host, host_values) = averaged(Device::Cpu);
        let (device, device_values) = averaged(Device::Emulated(0));
        assert_eq!(host_values, device_values);
        let w = |s: &ParamStore<f32>| s.ids().next().unwrap();
        assert_eq!(host.get(w(&host)), device.get(w(&device)));
        assert_eq!(device.device_of(w(&device)), Device::Emulated(0));
        // The mean of the six values.
        let mean: f32 = (0..6).map(|k| 1.0 / (1.0 + k as f32)).sum::<f32>() / 6.0;
        assert!((host.get(w(&host))[(1, 0)] - mean).abs() < 1e-6);
    }
}
