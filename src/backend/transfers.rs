//! Counts of the copies between the host and the devices: what a step on a device moves, for a
//! user profiling a run and for the tests that hold a run on a device to sending its data once
//! and then row indices and noise.

use std::sync::atomic::{AtomicU64, Ordering};

/// Copies between the host and any device made by this process, counted from its start (by
/// every thread: the evaluations spread over rayon's pool).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Copies from the host to a device.
    pub uploads: u64,
    /// Bytes of those copies.
    pub uploaded_bytes: u64,
    /// Copies from a device to the host.
    pub downloads: u64,
    /// Bytes of those copies.
    pub downloaded_bytes: u64,
}

impl Transfers {
    /// The copies made so far.
    ///
    /// ```
    /// use elbo::autodiff::Tape;
    /// use elbo::backend::{Device, Transfers};
    /// use nalgebra::DMatrix;
    ///
    /// let before = Transfers::so_far();
    /// let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
    /// let x = tape.input(DMatrix::from_element(4, 2, 1.0));
    /// let y = x.sum();
    /// assert_eq!(y.scalar(), 8.0);
    /// let moved = Transfers::so_far().since(before);
    /// // At least x over (4 x 2 x 8 bytes) and the sum back (8 bytes); more if other threads
    /// // of this process use a device meanwhile.
    /// assert!(moved.uploads >= 1 && moved.uploaded_bytes >= 64);
    /// assert!(moved.downloads >= 1 && moved.downloaded_bytes >= 8);
    /// ```
    pub fn so_far() -> Transfers {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Transfers {
            uploads: read(&COUNTS[0]),
            uploaded_bytes: read(&COUNTS[1]),
            downloads: read(&COUNTS[2]),
            downloaded_bytes: read(&COUNTS[3]),
        }
    }

    /// The copies made between `earlier` (an earlier [`Transfers::so_far`]) and these.
    pub fn since(self, earlier: Transfers) -> Transfers {
        Transfers {
            uploads: self.uploads - earlier.uploads,
            uploaded_bytes: self.uploaded_bytes - earlier.uploaded_bytes,
            downloads: self.downloads - earlier.downloads,
            downloaded_bytes: self.downloaded_bytes - earlier.downloaded_bytes,
        }
    }
}

/// Uploads, their bytes, downloads, their bytes.
static COUNTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn bytes<T>((rows, cols): (usize, usize)) -> u64 {
    (rows * cols * std::mem::size_of::<T>()) as u64
}

/// Counts a copy of a `shape` matrix of `T` to a device.
pub(crate) fn count_upload<T>(shape: (usize, usize)) {
    COUNTS[0].fetch_add(1, Ordering::Relaxed);
    COUNTS[1].fetch_add(bytes::<T>(shape), Ordering::Relaxed);
}

/// Counts a copy of a `shape` matrix of `T` back to the host.
pub(crate) fn count_download<T>(shape: (usize, usize)) {
    COUNTS[2].fetch_add(1, Ordering::Relaxed);
    COUNTS[3].fetch_add(bytes::<T>(shape), Ordering::Relaxed);
}
