//! Matrices that live on the host or on a device and read the same on the host either way:
//! what the parameter store, the gradients, the optimizers' moments and the minibatches hold,
//! so that a run on a device keeps them there from step to step while every host reader still
//! sees a `DMatrix`.

use super::{Device, DeviceMatrix, Kernels};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::{Arc, OnceLock};

/// A value on a device, with the host copy that host readers see (read back on first use, once,
/// and dropped when the device value changes). Made by the crate only.
pub struct OnDevice<T: Real> {
    matrix: DeviceMatrix<T>,
    host: OnceLock<DMatrix<T>>,
}

impl<T: Real> OnDevice<T> {
    pub(crate) fn new(matrix: DeviceMatrix<T>) -> Arc<Self> {
        Arc::new(OnDevice {
            matrix,
            host: OnceLock::new(),
        })
    }

    /// The matrix on the device.
    pub(crate) fn matrix(&self) -> &DeviceMatrix<T> {
        &self.matrix
    }

    /// The host copy, read back the first time it is asked for.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the copy.
    pub(crate) fn try_host(&self) -> Result<&DMatrix<T>> {
        if let Some(m) = self.matrix.as_host().or_else(|| self.host.get()) {
            return Ok(m);
        }
        let m = self.matrix.to_host()?;
        Ok(self.host.get_or_init(|| m))
    }

    /// The host copy, taken out (read back if it never was).
    fn into_host(self) -> Result<DMatrix<T>> {
        match self.host.into_inner() {
            Some(m) => Ok(m),
            None => self.matrix.to_host(),
        }
    }
}

/// A matrix on the host or on a device: a minibatch's rows as a trainer hands them to a
/// [`Loss`](crate::engine::Loss) (on the device its steps run on), and how parameters and
/// gradients are kept.
///
/// Load it onto a tape with [`Tape::constant_placed`](crate::autodiff::Tape::constant_placed)
/// (no copy where it already is); read it on the host with [`Placed::host`].
///
/// ```
/// use elbo::backend::Placed;
/// use nalgebra::DMatrix;
///
/// let rows = Placed::from(DMatrix::from_element(3, 2, 1.0_f64));
/// assert_eq!(rows.shape(), (3, 2));
/// assert_eq!(rows.host().sum(), 6.0);
/// ```
#[derive(Clone)]
pub enum Placed<T: Real> {
    /// In host memory, shared.
    Host(Arc<DMatrix<T>>),
    /// In a device's memory.
    Device(Arc<OnDevice<T>>),
}

impl<T: Real> From<DMatrix<T>> for Placed<T> {
    fn from(m: DMatrix<T>) -> Self {
        Placed::Host(Arc::new(m))
    }
}

impl<T: Real> From<Arc<DMatrix<T>>> for Placed<T> {
    fn from(m: Arc<DMatrix<T>>) -> Self {
        Placed::Host(m)
    }
}

impl<T: Real> std::fmt::Debug for Placed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, c) = self.shape();
        write!(f, "{r}x{c} on {}", self.device())
    }
}

impl<T: Real> Placed<T> {
    /// A matrix where a device made it: shared on the host for the CPU's.
    pub(crate) fn of(m: DeviceMatrix<T>) -> Self {
        match m {
            DeviceMatrix::Cpu(m) => Placed::Host(m.into_shared()),
            device => Placed::device_matrix(device),
        }
    }

    /// A device matrix.
    pub(crate) fn device_matrix(m: DeviceMatrix<T>) -> Self {
        Placed::Device(OnDevice::new(m))
    }

    /// The value on the host (for a device value, its host copy, read back on first use).
    ///
    /// # Panics
    /// With the device's error, if it fails at the copy (a training step and an evaluation read
    /// through a fallible path and return it).
    pub fn host(&self) -> &DMatrix<T> {
        self.try_host().unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Placed::host`], returning the device's failure at the copy.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the copy.
    pub(crate) fn try_host(&self) -> Result<&DMatrix<T>> {
        match self {
            Placed::Host(m) => Ok(m),
            Placed::Device(d) => d.try_host(),
        }
    }

    /// Number of rows, without reading a device value back.
    pub fn nrows(&self) -> usize {
        self.shape().0
    }

    /// Number of columns, without reading a device value back.
    pub fn ncols(&self) -> usize {
        self.shape().1
    }

    /// `(rows, columns)`, without reading a device value back.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Placed::Host(m) => m.shape(),
            Placed::Device(d) => d.matrix.shape(),
        }
    }

    /// Where the value lives.
    pub fn device(&self) -> Device {
        match self {
            Placed::Host(_) => Device::Cpu,
            Placed::Device(d) => d.matrix.device(),
        }
    }

    /// The device matrix, if the value is on `device`.
    pub(crate) fn on(&self, device: Device) -> Option<&DeviceMatrix<T>> {
        match self {
            Placed::Device(d) if d.matrix.device() == device => Some(&d.matrix),
            _ => None,
        }
    }

    /// The value on the host, taken out (read back from a device, or copied if shared).
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the copy.
    pub(crate) fn into_host(self) -> Result<DMatrix<T>> {
        match self {
            Placed::Host(m) => Ok(Arc::unwrap_or_clone(m)),
            Placed::Device(d) => match Arc::try_unwrap(d) {
                Ok(owned) => owned.into_host(),
                Err(shared) => Ok(shared.try_host()?.clone()),
            },
        }
    }

    /// The value, moved to the host if it was on a device, for writing (copied first only if
    /// another holder shares it).
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the copy; the value is then left where
    /// it was.
    pub(crate) fn try_host_mut(&mut self) -> Result<&mut DMatrix<T>> {
        if let Placed::Device(d) = self {
            d.try_host()?;
            // The copy just read back is taken out where no one else holds the value.
            let host = match Arc::get_mut(d).and_then(|unique| unique.host.take()) {
                Some(host) => host,
                None => d.try_host()?.clone(),
            };
            *self = Placed::from(host);
        }
        match self {
            Placed::Host(m) => Ok(Arc::make_mut(m)),
            Placed::Device(_) => unreachable!("moved to the host above"),
        }
    }

    /// As [`Placed::try_host_mut`], for a writer that cannot return an error.
    ///
    /// # Panics
    /// With the device's error, if it fails at the copy.
    pub(crate) fn host_mut(&mut self) -> &mut DMatrix<T> {
        self.try_host_mut().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The device matrix, for writing in place (copied on the device first if another holder
    /// shares it); `None` on the host. Its host copy, if any, is dropped.
    pub(crate) fn device_mut(&mut self) -> Result<Option<&mut DeviceMatrix<T>>> {
        let Placed::Device(d) = self else {
            return Ok(None);
        };
        if Arc::get_mut(d).is_none() {
            let kernels = Kernels::of(d.matrix.device())?;
            *d = OnDevice::new(kernels.copy(&d.matrix)?);
        }
        let unique = Arc::get_mut(d).expect("copied above if shared");
        unique.host.take();
        Ok(Some(&mut unique.matrix))
    }

    /// Moves the value to `device` (a copy over, or back to the host).
    ///
    /// # Errors
    /// [`crate::Error::DeviceUnavailable`] or [`crate::Error::Device`] if the device cannot
    /// take it.
    pub(crate) fn move_to(&mut self, device: Device) -> Result<()> {
        if self.device() == device {
            return Ok(());
        }
        if device == Device::Cpu {
            self.try_host_mut()?;
            return Ok(());
        }
        let on_device = Kernels::of(device)?.upload(self.try_host()?)?;
        *self = Placed::device_matrix(on_device);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::UnaryOp;
    use crate::backend::{Backend, Cpu};

    #[test]
    fn a_value_moves_to_a_device_and_back_unchanged() {
        let m = DMatrix::from_fn(3, 2, |i, j| i as f64 - 0.25 * j as f64);
        let mut placed = Placed::from(m.clone());
        placed.move_to(Device::Emulated(0)).unwrap();
        assert_eq!(placed.device(), Device::Emulated(0));
        assert_eq!(placed.shape(), (3, 2));
        assert_eq!(placed.host(), &m);
        placed.move_to(Device::Cpu).unwrap();
        assert_eq!(placed.device(), Device::Cpu);
        assert_eq!(placed.into_host().unwrap(), m);
    }

    #[test]
    fn writing_a_shared_device_value_leaves_the_other_holder_its_copy() {
        let m = DMatrix::from_element(2, 2, 1.5_f32);
        let mut mine = Placed::from(m.clone());
        mine.move_to(Device::Emulated(0)).unwrap();
        let theirs = mine.clone();
        assert_eq!(mine.host(), &m); // a host copy made, to be dropped by the write
        let target = mine.device_mut().unwrap().expect("on the device");
        let Ok(doubled) = Cpu.unary(UnaryOp::Scale(2.0), &target.to_host().unwrap());
        *target = DeviceMatrix::Emulated(0, doubled);
        assert_eq!(mine.host(), &(&m * 2.0));
        assert_eq!(theirs.host(), &m);
        // On the host, there is nothing to write on the device.
        assert!(Placed::from(m).device_mut().unwrap().is_none());
    }
}
