//! A count of the kernels called on the devices: on a GPU a step is bound by its launches
//! (docs/benchmarks.md, "On an H100"), so what fuses ops or drops a launch can be counted, and
//! held to, on a machine without one.

use std::sync::atomic::{AtomicU64, Ordering};

/// Kernels of the backend contract (the kernels every device provides) called on any device by
/// this process, counted from its start by every thread. On the emulated device each is one call
/// of the CPU backend's kernel; on a GPU each is a launch, or a few where the GPU composes the
/// kernel from others (a product then a bias addition, say). Copies between the host and a
/// device are [`Transfers`](super::Transfers), not counted here.
///
/// ```
/// use elbo::autodiff::Tape;
/// use elbo::backend::{Device, KernelCalls};
/// use nalgebra::DMatrix;
///
/// let before = KernelCalls::so_far();
/// let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
/// let x = tape.input(DMatrix::from_element(4, 2, 1.0));
/// let y = (x * x).sum();
/// assert_eq!(y.scalar(), 8.0);
/// // The product and the sum; more if other threads of this process use a device meanwhile.
/// assert!(KernelCalls::so_far().since(before).calls >= 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelCalls {
    /// Kernels called.
    pub calls: u64,
}

impl KernelCalls {
    /// The kernels called so far.
    pub fn so_far() -> KernelCalls {
        KernelCalls {
            calls: CALLS.load(Ordering::Relaxed),
        }
    }

    /// The kernels called between `earlier` (an earlier [`KernelCalls::so_far`]) and these.
    pub fn since(self, earlier: KernelCalls) -> KernelCalls {
        KernelCalls {
            calls: self.calls - earlier.calls,
        }
    }
}

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Counts one kernel called on a device.
pub(crate) fn count() {
    CALLS.fetch_add(1, Ordering::Relaxed);
}
