//! A data set prepared for training, and the layout a run uses: whole for full-batch steps, or
//! as its transpose for gathering minibatches (each data row contiguous). On a device the data
//! is copied there and every minibatch is gathered there, so a step sends only its row indices.
//! A [`TrainingData`] kept across runs (a VAE's epochs) is checked, copied and transposed once.

use super::sharding::{shard_count, shard_rows};
use crate::backend::{Device, DeviceMatrix, Kernels, Placed};
use crate::error::{Error, Result};
use crate::kernels::{buffers, gather_rows_of_transpose};
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::DMatrix;
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

/// A data set (one row per data point) checked once for training, that keeps the layouts runs
/// made of it: hand the same `TrainingData` to [`crate::engine::Trainer::run_on`] for several
/// runs, and the data is transposed for minibatches once (on the host) or copied to the device
/// and transposed there once, not once per run.
///
/// The data cannot change while it is held, so what is kept cannot go stale. What is kept
/// lives as long as this does: a transposed copy on the host, or the copy on each device a run
/// used. [`crate::engine::Trainer::run`] makes one for its run alone.
pub struct TrainingData<'a, T: Real> {
    data: Cow<'a, DMatrix<T>>,
    /// The layouts made so far: (device, in minibatches, the layout).
    layouts: Mutex<Vec<(Device, bool, RunData<T>)>>,
}

impl<T: Real> std::fmt::Debug for TrainingData<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.data.shape();
        write!(f, "TrainingData({rows}x{cols})")
    }
}

impl<'a, T: Real> TrainingData<'a, T> {
    /// `data`, borrowed, after checking that it has rows and only finite entries.
    ///
    /// # Errors
    /// [`Error::EmptyData`] for no rows; [`Error::NonFiniteData`] naming the first NaN or
    /// infinite entry.
    pub fn new(data: &'a DMatrix<T>) -> Result<Self> {
        Self::checked(Cow::Borrowed(data))
    }

    /// As [`TrainingData::new`], holding `data`.
    ///
    /// # Errors
    /// As [`TrainingData::new`].
    pub fn owned(data: DMatrix<T>) -> Result<TrainingData<'static, T>> {
        TrainingData::checked(Cow::Owned(data))
    }

    fn checked(data: Cow<'a, DMatrix<T>>) -> Result<Self> {
        if data.nrows() == 0 {
            return Err(Error::EmptyData { what: "data" });
        }
        check_finite("data", &data)?;
        Ok(TrainingData {
            data,
            layouts: Mutex::new(Vec::new()),
        })
    }

    /// The data, as given.
    pub fn matrix(&self) -> &DMatrix<T> {
        &self.data
    }

    /// The layout of a run on `device`, in minibatches or whole: made on first use, then kept.
    ///
    /// # Errors
    /// [`Error::Device`] if the device cannot hold it.
    pub(crate) fn layout(&self, minibatches: bool, device: Device) -> Result<RunData<T>> {
        let mut layouts = self.layouts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, made)) = layouts
            .iter()
            .find(|(on, whole_or_not, _)| *on == device && *whole_or_not == minibatches)
        {
            return Ok(made.clone());
        }
        let made = RunData::new(&self.data, minibatches, device)?;
        layouts.push((device, minibatches, made.clone()));
        Ok(made)
    }
}

/// The data of a run where its steps run.
#[derive(Clone)]
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
    fn new(data: &DMatrix<T>, minibatches: bool, device: Device) -> Result<Self> {
        let placed = match device {
            // One transpose is cheaper than gathering across every column at every step.
            Device::Cpu if minibatches => Placed::from(data.transpose()),
            Device::Cpu => Placed::from(data.clone()),
            // Copied as it is and transposed there, where a transpose costs next to nothing.
            device => {
                let kernels = Kernels::of(device)?;
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
                let kernels = Kernels::of(data_t.device())?;
                let rows = kernels.gather_rows_of_transpose(data_t, indices)?;
                Ok(Placed::device_matrix(rows))
            }
            (RunData::Transposed(_), None) => {
                unreachable!("a run in minibatches draws its indices at every step")
            }
        }
    }
}

/// A data-parallel step's rows: `indices` cut into shards of consecutive positions, one per
/// layout but at least [`MIN_SHARD_ROWS`](super::sharding::MIN_SHARD_ROWS) rows each (as the CPU
/// cuts a batch over its threads), each gathered on its layout's device.
///
/// # Errors
/// [`crate::Error::Device`] if a device fails at its gather.
pub(crate) fn shards<T: Real>(layouts: &[RunData<T>], indices: &[usize]) -> Result<Vec<Placed<T>>> {
    let rows = indices.len();
    let count = shard_count(rows, layouts.len());
    layouts[..count]
        .iter()
        .enumerate()
        .map(|(s, layout)| layout.rows(Some(&indices[shard_rows(s, count, rows)])))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn storage<T: Real>(layout: &RunData<T>) -> *const DMatrix<T> {
        match layout {
            RunData::Whole(p) | RunData::Transposed(p) => p.host(),
        }
    }

    #[test]
    fn a_layout_is_made_once_per_device_and_kind_and_then_shared() {
        let data = TrainingData::owned(DMatrix::from_fn(5, 3, |i, j| (i * 3 + j) as f64)).unwrap();
        let first = data.layout(true, Device::Cpu).unwrap();
        let again = data.layout(true, Device::Cpu).unwrap();
        assert!(std::ptr::eq(storage(&first), storage(&again)));
        let whole = data.layout(false, Device::Cpu).unwrap();
        assert!(!std::ptr::eq(storage(&first), storage(&whole)));
        let emulated = data.layout(true, Device::Emulated(0)).unwrap();
        let emulated_again = data.layout(true, Device::Emulated(0)).unwrap();
        assert!(std::ptr::eq(storage(&emulated), storage(&emulated_again)));
        assert_eq!(first.rows(Some(&[4, 1])).unwrap().host()[(0, 2)], 14.0);
        assert_eq!(emulated.rows(Some(&[4, 1])).unwrap().host()[(1, 0)], 3.0);
    }

    #[test]
    fn empty_or_non_finite_data_is_refused_when_prepared() {
        let empty = DMatrix::<f64>::zeros(0, 4);
        assert!(matches!(
            TrainingData::new(&empty),
            Err(Error::EmptyData { what: "data" })
        ));
        let mut bad = DMatrix::<f64>::zeros(3, 2);
        bad[(2, 1)] = f64::NAN;
        assert!(matches!(
            TrainingData::new(&bad),
            Err(Error::NonFiniteData { row: 2, col: 1, .. })
        ));
    }
}
