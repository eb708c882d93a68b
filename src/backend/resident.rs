//! Constants a model holds across tapes, kept on each device that uses them.

use super::{Device, Kernels, Placed};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::{Arc, Mutex, PoisonError};

/// A constant a model holds for every tape it is used on (a prior's mean and scale): on the
/// host, and copied to a device the first time a tape there loads it
/// ([`Tape::constant_resident`](crate::autodiff::Tape::constant_resident)), then kept there for
/// every later tape, so that a run on a device copies it over once, not at every step.
///
/// ```
/// use elbo::autodiff::Tape;
/// use elbo::backend::{Device, Resident, Transfers};
/// use nalgebra::DMatrix;
///
/// let mean = Resident::new(DMatrix::from_element(1, 3, 0.5_f64));
/// for _ in 0..3 {
///     let tape = Tape::new().on_device(Device::Emulated(0)).unwrap();
///     assert_eq!(tape.constant_resident(&mean).sum().scalar(), 1.5);
/// }
/// assert_eq!(mean.host()[(0, 2)], 0.5);
/// ```
pub struct Resident<T: Real> {
    host: Arc<DMatrix<T>>,
    /// At most one copy per device, made on first use.
    copies: Mutex<Vec<Placed<T>>>,
}

impl<T: Real> Resident<T> {
    /// `value`, on the host until a device tape loads it.
    pub fn new(value: DMatrix<T>) -> Self {
        Resident {
            host: Arc::new(value),
            copies: Mutex::new(Vec::new()),
        }
    }

    /// The value.
    pub fn host(&self) -> &DMatrix<T> {
        &self.host
    }

    /// The value on `device`: shared on the host, or the device's copy (made now if it is the
    /// first use there).
    ///
    /// # Errors
    /// [`crate::Error::DeviceUnavailable`] or [`crate::Error::Device`] if the device cannot
    /// take it.
    pub(crate) fn on(&self, device: Device) -> Result<Placed<T>> {
        if device == Device::Cpu {
            return Ok(Placed::Host(Arc::clone(&self.host)));
        }
        let mut copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(copy) = copies.iter().find(|c| c.device() == device) {
            return Ok(copy.clone());
        }
        let copy = Placed::device_matrix(Kernels::of(device)?.upload(&self.host)?);
        copies.push(copy.clone());
        Ok(copy)
    }
}

impl<T: Real> Clone for Resident<T> {
    /// The same value, sharing the copies made so far.
    fn clone(&self) -> Self {
        let copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        Resident {
            host: Arc::clone(&self.host),
            copies: Mutex::new(copies.clone()),
        }
    }
}

impl<T: Real> PartialEq for Resident<T> {
    /// Equal values, wherever they have been copied.
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host
    }
}

impl<T: Real> std::fmt::Debug for Resident<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.host.fmt(f)
    }
}
