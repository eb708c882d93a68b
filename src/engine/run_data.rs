//! A run's data, where its steps run: whole for full-batch steps, or as its transpose for
//! gathering minibatches (each data row contiguous). On a device it is copied there once per
//! run (a run is an epoch for `Vae::train_epoch`) and every minibatch is gathered there, so a
//! step sends only its row indices.

use crate::backend::{Device, DeviceMatrix, Kernels, Placed};
use crate::error::Result;
use crate::kernels::{buffers, gather_rows_of_transpose};
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::Arc;

pub(crate) enum RunData<T: Real> {
    /// Every row at every step.
    Whole(Placed<T>),
    /// One column per data row, for minibatches.
    Transposed(Placed<T>),
}

impl<T: Real> RunData<T> {
    /// `data` on `device`, transposed if the run takes minibatches.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device cannot hold it.
    pub(crate) fn new(data: &DMatrix<T>, minibatches: bool, device: Device) -> Result<Self> {
        let placed = match Kernels::of(device)? {
            // One transpose per run is cheaper than gathering across every column at every
            // step.
            None if minibatches => Placed::from(data.transpose()),
            None => Placed::from(data.clone()),
            // Copied as it is and transposed there, where a transpose costs next to nothing.
            Some(kernels) => {
                let on_device = kernels.upload(data)?;
                Placed::device_matrix(if minibatches {
                    kernels.transpose(&on_device)?
                } else {
                    on_device
                })
            }
        };
        Ok(if minibatches {
            RunData::Transposed(placed)
        } else {
            RunData::Whole(placed)
        })
    }

    /// The step's rows: all of them, or rows `indices` of a run in minibatches.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the gather.
    pub(crate) fn rows(&self, indices: Option<&[usize]>) -> Result<Placed<T>> {
        match (self, indices) {
            (RunData::Whole(all), _) => Ok(all.clone()),
            (RunData::Transposed(Placed::Host(data_t)), Some(indices)) => {
                Ok(Placed::from(gather_rows_of_transpose(data_t, indices)))
            }
            (RunData::Transposed(Placed::Device(data_t)), Some(indices)) => {
                let data_t: &DeviceMatrix<T> = data_t.matrix();
                let kernels = Kernels::on(data_t.device())?;
                let rows = kernels.gather_rows_of_transpose(data_t, indices)?;
                Ok(Placed::device_matrix(rows))
            }
            (RunData::Transposed(_), None) => {
                unreachable!("a run in minibatches draws its indices at every step")
            }
        }
    }
}

/// Hands a gathered minibatch's host storage back for the next one (the whole data, shared
/// with the run, stays).
pub(crate) fn recycle<T: Real>(rows: Placed<T>) {
    if let Placed::Host(m) = rows
        && let Ok(m) = Arc::try_unwrap(m)
    {
        buffers::recycle(m);
    }
}
