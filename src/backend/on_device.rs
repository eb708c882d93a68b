//! Matrices on a device and the kernels a tape runs there: the one place that matches on the
//! device, so that the tape's ops and their derivatives are written once for every device.

use super::composed;
use super::shapes::{Shape, Shapes};
use super::{AdamSlot, Backend, Concat, Cpu, Device, OperandGradients};
use super::{kernel_calls, transfers};
use crate::error::Result;
use crate::kernels::buffers;
use crate::ops::{AdamUpdate, BinaryOp, Conv2d, DrawParts, NormalPair, Reduce, UnaryOp};
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::Arc;

/// A matrix on the host that a tape computed (owned, its storage recycled when dropped) or was
/// handed without a copy (shared: parameters, data).
pub(crate) enum HostMatrix<T: Real> {
    Owned(DMatrix<T>),
    Shared(Arc<DMatrix<T>>),
}

impl<T: Real> std::ops::Deref for HostMatrix<T> {
    type Target = DMatrix<T>;
    fn deref(&self) -> &DMatrix<T> {
        match self {
            HostMatrix::Owned(m) => m,
            HostMatrix::Shared(m) => m,
        }
    }
}

impl<T: Real> HostMatrix<T> {
    /// The matrix, owned: moved out if it is, copied if it is shared.
    pub(crate) fn into_owned(self) -> DMatrix<T> {
        match self {
            HostMatrix::Owned(m) => m,
            HostMatrix::Shared(m) => Arc::try_unwrap(m).unwrap_or_else(|m| buffers::copy(&m)),
        }
    }

    /// The matrix, shared.
    pub(crate) fn into_shared(self) -> Arc<DMatrix<T>> {
        match self {
            HostMatrix::Owned(m) => Arc::new(m),
            HostMatrix::Shared(m) => m,
        }
    }

    /// The matrix, to change in place (a shared one is copied first if anyone else holds it).
    fn make_mut(&mut self) -> &mut DMatrix<T> {
        match self {
            HostMatrix::Owned(m) => m,
            HostMatrix::Shared(m) => Arc::make_mut(m),
        }
    }
}

/// A matrix in a device's memory, the host's included: the one kind of value the tape, its
/// reverse sweep and the kernels work on.
pub(crate) enum DeviceMatrix<T: Real> {
    /// On [`Device::Cpu`].
    Cpu(HostMatrix<T>),
    /// On [`Device::Emulated`] of this ordinal: host memory behind the device code path.
    Emulated(usize, DMatrix<T>),
    /// On an NVIDIA GPU.
    #[cfg(feature = "cuda")]
    Cuda(super::cuda::CudaMatrix<T>),
    /// A value of a pass whose device failed: its shape only (`shapes.rs`).
    Lost(Device, (usize, usize)),
}

impl<T: Real> DeviceMatrix<T> {
    /// This matrix's shape, as the shapes-only backend takes it.
    fn shape_only(&self) -> Shape<T> {
        Shape::of(self.shape())
    }

    /// A value lost to a failure of `device`, of the shapes-only backend's `shape`.
    fn lost(device: Device, shape: Shape<T>) -> Self {
        DeviceMatrix::Lost(device, shape.0)
    }

    /// A host matrix the caller hands over.
    #[inline]
    pub(crate) fn host(m: DMatrix<T>) -> Self {
        DeviceMatrix::Cpu(HostMatrix::Owned(m))
    }

    /// `(rows, columns)`.
    #[inline]
    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            DeviceMatrix::Cpu(m) => m.shape(),
            DeviceMatrix::Emulated(_, m) => m.shape(),
            #[cfg(feature = "cuda")]
            DeviceMatrix::Cuda(m) => m.shape(),
            DeviceMatrix::Lost(_, shape) => *shape,
        }
    }

    /// The device it is on.
    #[inline]
    pub(crate) fn device(&self) -> Device {
        match self {
            DeviceMatrix::Cpu(_) => Device::Cpu,
            DeviceMatrix::Emulated(ordinal, _) => Device::Emulated(*ordinal),
            #[cfg(feature = "cuda")]
            DeviceMatrix::Cuda(m) => Device::Cuda(m.ordinal()),
            DeviceMatrix::Lost(device, _) => *device,
        }
    }

    /// The same entries, in column-major order, as a `rows x cols` matrix (no copy, but of a
    /// host matrix shared with others).
    ///
    /// # Panics
    /// If the number of entries differs.
    pub(crate) fn reshaped(self, rows: usize, cols: usize) -> Self {
        match self {
            DeviceMatrix::Cpu(m) => DeviceMatrix::host(Cpu.reshape(m.into_owned(), rows, cols)),
            DeviceMatrix::Emulated(ordinal, m) => {
                DeviceMatrix::Emulated(ordinal, Cpu.reshape(m, rows, cols))
            }
            #[cfg(feature = "cuda")]
            DeviceMatrix::Cuda(m) => DeviceMatrix::Cuda(m.reshaped(rows, cols)),
            DeviceMatrix::Lost(device, _) => DeviceMatrix::Lost(device, (rows, cols)),
        }
    }

    /// Hands the storage of an owned host matrix back for the next tape's matrices.
    #[inline]
    pub(crate) fn recycle(self) {
        if let DeviceMatrix::Cpu(HostMatrix::Owned(m)) = self {
            buffers::recycle(m);
        }
    }

    /// As [`DeviceMatrix::recycle`], leaving an empty matrix in its place.
    pub(crate) fn recycle_storage(&mut self) {
        if let DeviceMatrix::Cpu(HostMatrix::Owned(m)) = self {
            buffers::recycle(std::mem::replace(m, DMatrix::zeros(0, 0)));
        }
    }

    /// The host matrix of a value on the CPU, read where it is; `None` on another device.
    #[inline]
    pub(crate) fn as_host(&self) -> Option<&DMatrix<T>> {
        match self {
            DeviceMatrix::Cpu(m) => Some(m),
            _ => None,
        }
    }

    /// A host copy (the matrix itself, moved, for one on the CPU).
    ///
    /// # Errors
    /// [`Error::Device`] if the device fails at the copy or at a kernel queued before it.
    #[inline]
    pub(crate) fn into_host(self) -> Result<DMatrix<T>> {
        match self {
            DeviceMatrix::Cpu(m) => Ok(m.into_owned()),
            other => other.to_host(),
        }
    }

    /// A host copy (all NaN for a value lost to a failure of its pass, whose error the pass
    /// returns).
    ///
    /// # Errors
    /// [`Error::Device`] if the device fails at the copy or at a kernel queued before it.
    pub(crate) fn to_host(&self) -> Result<DMatrix<T>> {
        match self {
            DeviceMatrix::Cpu(m) => Ok(buffers::copy(m)),
            DeviceMatrix::Emulated(_, m) => {
                transfers::count_download::<T>(m.shape());
                Ok(m.clone())
            }
            #[cfg(feature = "cuda")]
            DeviceMatrix::Cuda(m) => {
                transfers::count_download::<T>(m.shape());
                m.to_host()
            }
            DeviceMatrix::Lost(_, shape) => {
                let Ok(nan) = Shapes.download(&Shape::of(*shape));
                Ok(nan)
            }
        }
    }

    /// The host storage of a matrix on the CPU.
    ///
    /// # Panics
    /// If it is on another device: an operation never mixes devices (the tape and the engine
    /// move values first).
    #[inline]
    fn cpu(&self) -> &DMatrix<T> {
        match self {
            DeviceMatrix::Cpu(m) => m,
            other => panic!("{}", foreign(other.device(), Device::Cpu)),
        }
    }

    /// As [`DeviceMatrix::cpu`], to change in place.
    #[inline]
    fn cpu_mut(&mut self) -> &mut DMatrix<T> {
        let found = self.device();
        match self {
            DeviceMatrix::Cpu(m) => m.make_mut(),
            _ => panic!("{}", foreign(found, Device::Cpu)),
        }
    }

    /// The host storage of a matrix on emulated device `on`.
    ///
    /// # Panics
    /// If it is on another device: an operation never mixes devices (the tape and the engine
    /// move values first), and the emulated devices hold to that as a GPU must.
    fn emulated_mut(&mut self, on: usize) -> &mut DMatrix<T> {
        let found = self.device();
        match self {
            DeviceMatrix::Emulated(ordinal, m) if *ordinal == on => m,
            _ => panic!("{}", foreign(found, Device::Emulated(on))),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda_mut(&mut self) -> &mut super::cuda::CudaMatrix<T> {
        let found = self.device();
        match self {
            DeviceMatrix::Cuda(m) => m,
            _ => panic!("{found}'s matrix in an operation on a GPU"),
        }
    }

    /// As [`DeviceMatrix::emulated_mut`], to read.
    fn emulated(&self, on: usize) -> &DMatrix<T> {
        match self {
            DeviceMatrix::Emulated(ordinal, m) if *ordinal == on => m,
            other => panic!("{}", foreign(other.device(), Device::Emulated(on))),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda(&self) -> &super::cuda::CudaMatrix<T> {
        match self {
            DeviceMatrix::Cuda(m) => m,
            other => panic!("{}'s matrix in an operation on a GPU", other.device()),
        }
    }
}

/// The kernels of the device a tape runs on: the one place that matches on the device.
#[derive(Clone)]
pub(crate) enum Kernels {
    /// The host's own kernels ([`Cpu`]) on [`DeviceMatrix::Cpu`].
    Cpu,
    /// [`Device::Emulated`] of this ordinal: the CPU backend's kernels on
    /// [`DeviceMatrix::Emulated`], counted as calls on a device.
    Emulated(usize),
    /// A GPU, shared by every tape on it.
    #[cfg(feature = "cuda")]
    Cuda(Arc<super::cuda::Gpu>),
    /// What a pass runs after this device failed: the results' shapes only ([`Shapes`]), as
    /// [`DeviceMatrix::Lost`].
    Lost(Device),
}

/// One kernel call on whichever device `$kernels` is: `$b` is the backend and each listed
/// matrix its own kind of device matrix inside `$body`, which gives a `Result` of `$out`;
/// `$wrap` places each matrix of the result (`|m| ...`, given the arm's constructor).
macro_rules! dispatch_with {
    ($kernels:expr, |$b:ident| [$($m:ident),*] [$($a:ident),*] $body:expr, $wrap:ident) => {{
        match $kernels {
            // The CPU's path inline, for the ops of small steps whose time is their overhead;
            // the devices' out of line.
            Kernels::Cpu => {
                let $b = &Cpu;
                $(let $m = $m.cpu();)*
                $(let $a = $a.map(DeviceMatrix::cpu);)*
                let Ok(out) = $body;
                Ok($wrap!(out, DeviceMatrix::host))
            }
            kernels => out_of_line(|| match kernels {
                Kernels::Cpu => unreachable!("the CPU's arm is above"),
                Kernels::Emulated(on) => {
                    emulated_call(*on)?;
                    let $b = &Cpu;
                    $(let $m = $m.emulated(*on);)*
                    $(let $a = $a.map(|m| m.emulated(*on));)*
                    let Ok(out) = $body;
                    Ok($wrap!(out, |m| DeviceMatrix::Emulated(*on, m)))
                }
                #[cfg(feature = "cuda")]
                Kernels::Cuda(gpu) => {
                    kernel_calls::count();
                    let $b: &super::cuda::Gpu = gpu;
                    $(let $m = $m.cuda();)*
                    $(let $a = $a.map(DeviceMatrix::cuda);)*
                    let out = $body?;
                    Ok($wrap!(out, DeviceMatrix::Cuda))
                }
                Kernels::Lost(device) => {
                    let $b = &Shapes;
                    $(let $m = DeviceMatrix::shape_only($m); let $m = &$m;)*
                    $(let $a = $a.map(DeviceMatrix::shape_only); let $a = $a.each_ref();)*
                    let Ok(out) = $body;
                    Ok($wrap!(out, |shape| DeviceMatrix::lost(*device, shape)))
                }
            }),
        }
    }};
}

/// Runs `f` as a call of its own, never inlined: the device arms of the dispatch, kept out of
/// the CPU's inlined path.
#[cold]
#[inline(never)]
fn out_of_line<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The result is one matrix.
macro_rules! one {
    ($out:expr, $place:expr) => {
        ($place)($out)
    };
}

/// The result is the gradients of an op's two operands, each where it was asked for.
macro_rules! pair {
    ($out:expr, $place:expr) => {{
        let (p, q) = $out;
        (p.map($place), q.map($place))
    }};
}

/// The result is a value and a matrix kept beside it where asked for.
macro_rules! with_kept {
    ($out:expr, $place:expr) => {{
        let (value, kept) = $out;
        (($place)(value), kept.map($place))
    }};
}

/// The result is an array of gradients of a fused op's operands, each where asked for.
macro_rules! each {
    ($out:expr, $place:expr) => {
        $out.map(|m| m.map($place))
    };
}

/// One kernel call giving one matrix.
macro_rules! dispatch {
    ($kernels:expr, |$b:ident| [$($m:ident),*] $body:expr) => {
        dispatch_with!($kernels, |$b| [$($m),*] [] $body, one)
    };
}

/// One kernel call giving the gradients of an op's two operands.
macro_rules! dispatch_pair {
    ($kernels:expr, |$b:ident| [$($m:ident),*] $body:expr) => {
        dispatch_with!($kernels, |$b| [$($m),*] [] $body, pair)
    };
}

/// One kernel call giving the gradients of a fused op's operands; `$a` are arrays of matrices.
macro_rules! dispatch_each {
    ($kernels:expr, |$b:ident| [$($a:ident),*] ($($m:ident),*) $body:expr) => {
        dispatch_with!($kernels, |$b| [$($m),*] [$($a),*] $body, each)
    };
}

/// Counts a kernel called on emulated device `on`; in the crate's own tests, fails where a
/// test asked it to (`faults::fail_at`), as a GPU fails at a launch.
fn emulated_call(on: usize) -> Result<()> {
    kernel_calls::count();
    #[cfg(test)]
    faults::check(on)?;
    #[cfg(not(test))]
    let _ = on;
    Ok(())
}

/// Failures of the emulated device on demand, for the crate's tests of what a failing GPU
/// does to a pass, a step and a run.
#[cfg(test)]
pub(crate) mod faults {
    use crate::error::{Error, Result};
    use std::cell::Cell;

    thread_local! {
        /// Kernel calls on this thread until the emulated device fails, if it is to.
        static LEFT: Cell<Option<u64>> = const { Cell::new(None) };
        /// Kernel calls made on the emulated devices by this thread.
        static CALLS: Cell<u64> = const { Cell::new(0) };
    }

    /// Kernel calls made on the emulated devices by this thread so far.
    pub(crate) fn calls() -> u64 {
        CALLS.get()
    }

    /// The emulated device fails at the `n`-th kernel call from now on this thread (1: the next
    /// one), and at every call after it while the guard lives.
    #[must_use = "the device works again when the guard is dropped"]
    pub(crate) fn fail_at(n: u64) -> Failing {
        LEFT.set(Some(n));
        Failing
    }

    /// While it lives, the emulated device fails as [`fail_at`] set it to; dropped (at the end
    /// of a test, or as a panic unwinds), the device works again.
    pub(crate) struct Failing;

    impl Drop for Failing {
        fn drop(&mut self) {
            LEFT.set(None);
        }
    }

    pub(super) fn check(on: usize) -> Result<()> {
        CALLS.set(CALLS.get() + 1);
        match LEFT.get() {
            Some(n) if n <= 1 => {
                LEFT.set(Some(0));
                Err(Error::Device {
                    device: format!("emulated:{on}"),
                    operation: "a kernel",
                    problem: "a failure injected by a test".into(),
                })
            }
            Some(n) => {
                LEFT.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The message of a panic at an operation handed a matrix of another device.
fn foreign(found: Device, on: Device) -> String {
    format!("a matrix on {found} in an operation on {on}: move it there first")
}

impl Kernels {
    /// The kernels of `device`.
    ///
    /// # Errors
    /// [`Error::DeviceUnavailable`] if the device cannot be used (see [`Device::check`]).
    pub(crate) fn of(device: Device) -> Result<Kernels> {
        match device {
            Device::Cpu => Ok(Kernels::Cpu),
            Device::Emulated(ordinal) => Ok(Kernels::Emulated(ordinal)),
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) => Ok(Kernels::Cuda(super::cuda::shared(ordinal)?)),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => device.check().map(|()| Kernels::Cpu),
        }
    }

    /// The device these kernels run on.
    #[inline]
    pub(crate) fn device(&self) -> Device {
        match self {
            Kernels::Cpu => Device::Cpu,
            Kernels::Emulated(ordinal) => Device::Emulated(*ordinal),
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => Backend::<f32>::device(&**gpu),
            Kernels::Lost(device) => *device,
        }
    }

    /// A copy of a host matrix on this device (on the CPU, the matrix itself, shared).
    #[inline]
    pub(crate) fn upload_shared<T: Real>(&self, m: &Arc<DMatrix<T>>) -> Result<DeviceMatrix<T>> {
        match self {
            Kernels::Cpu => Ok(DeviceMatrix::Cpu(HostMatrix::Shared(Arc::clone(m)))),
            _ => self.upload(m),
        }
    }

    /// A host matrix handed over to this device (on the CPU, kept as it is).
    #[inline]
    pub(crate) fn upload_owned<T: Real>(&self, m: DMatrix<T>) -> Result<DeviceMatrix<T>> {
        match self {
            Kernels::Cpu => Ok(DeviceMatrix::host(m)),
            _ => {
                let uploaded = self.upload(&m);
                buffers::recycle(m);
                uploaded
            }
        }
    }

    /// A copy of a host matrix on this device.
    pub(crate) fn upload<T: Real>(&self, m: &DMatrix<T>) -> Result<DeviceMatrix<T>> {
        // A copy, counted by `transfers` where it crosses to a device, not a kernel.
        match self {
            Kernels::Cpu => Ok(DeviceMatrix::host(buffers::copy(m))),
            Kernels::Emulated(on) => {
                transfers::count_upload::<T>(m.shape());
                let Ok(m) = Cpu.upload(m);
                Ok(DeviceMatrix::Emulated(*on, m))
            }
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => {
                transfers::count_upload::<T>(m.shape());
                gpu.upload(m).map(DeviceMatrix::Cuda)
            }
            Kernels::Lost(device) => Ok(DeviceMatrix::Lost(*device, m.shape())),
        }
    }

    #[inline]
    pub(crate) fn copy<T: Real>(&self, m: &DeviceMatrix<T>) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [m] b.copy(m))
    }

    /// `acc + op(a) op(c)`, into `acc` ([`Backend::matmul_add`]).
    #[inline]
    pub(crate) fn matmul_add<T: Real>(
        &self,
        acc: &mut DeviceMatrix<T>,
        a: &DeviceMatrix<T>,
        ta: bool,
        c: &DeviceMatrix<T>,
        tc: bool,
    ) -> Result<()> {
        match self {
            Kernels::Cpu => {
                let Ok(()) = Cpu.matmul_add(acc.cpu_mut(), a.cpu(), ta, c.cpu(), tc);
                Ok(())
            }
            Kernels::Emulated(on) => {
                emulated_call(*on)?;
                let Ok(()) = Cpu.matmul_add(
                    acc.emulated_mut(*on),
                    a.emulated(*on),
                    ta,
                    c.emulated(*on),
                    tc,
                );
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => {
                kernel_calls::count();
                gpu.matmul_add(acc.cuda_mut(), a.cuda(), ta, c.cuda(), tc)
            }
            Kernels::Lost(device) => {
                *acc = DeviceMatrix::Lost(*device, acc.shape());
                Ok(())
            }
        }
    }

    /// One Adam update of each slot's parameter and moments, in place.
    pub(crate) fn adam_all<T: Real>(
        &self,
        update: AdamUpdate<T>,
        slots: &mut [AdamSlot<'_, DeviceMatrix<T>>],
    ) -> Result<()> {
        match self {
            Kernels::Cpu => {
                let mut slots: Vec<_> = slots
                    .iter_mut()
                    .map(|s| AdamSlot {
                        param: s.param.cpu_mut(),
                        first: s.first.cpu_mut(),
                        second: s.second.cpu_mut(),
                        grad: s.grad.cpu(),
                    })
                    .collect();
                let Ok(()) = Cpu.adam_all(update, &mut slots);
                Ok(())
            }
            Kernels::Emulated(on) => {
                emulated_call(*on)?;
                let mut slots: Vec<_> = slots
                    .iter_mut()
                    .map(|s| AdamSlot {
                        param: s.param.emulated_mut(*on),
                        first: s.first.emulated_mut(*on),
                        second: s.second.emulated_mut(*on),
                        grad: s.grad.emulated(*on),
                    })
                    .collect();
                let Ok(()) = Cpu.adam_all(update, &mut slots);
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => {
                kernel_calls::count();
                let mut slots: Vec<_> = slots
                    .iter_mut()
                    .map(|s| AdamSlot {
                        param: s.param.cuda_mut(),
                        first: s.first.cuda_mut(),
                        second: s.second.cuda_mut(),
                        grad: s.grad.cuda(),
                    })
                    .collect();
                gpu.adam_all(update, &mut slots)
            }
            Kernels::Lost(_) => Ok(()),
        }
    }

    /// [`Backend::non_finite_total`] of matrices on this device.
    pub(crate) fn non_finite_total<T: Real>(
        &self,
        xs: &[&DeviceMatrix<T>],
    ) -> Result<DeviceMatrix<T>> {
        match self {
            Kernels::Cpu => {
                let xs: Vec<_> = xs.iter().map(|x| x.cpu()).collect();
                let Ok(total) = Cpu.non_finite_total(&xs);
                Ok(DeviceMatrix::host(total))
            }
            Kernels::Emulated(on) => {
                emulated_call(*on)?;
                let xs: Vec<_> = xs.iter().map(|x| x.emulated(*on)).collect();
                let Ok(total) = Cpu.non_finite_total(&xs);
                Ok(DeviceMatrix::Emulated(*on, total))
            }
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => {
                kernel_calls::count();
                let xs: Vec<_> = xs.iter().map(|x| x.cuda()).collect();
                gpu.non_finite_total(&xs).map(DeviceMatrix::Cuda)
            }
            Kernels::Lost(device) => Ok(DeviceMatrix::Lost(*device, (1, 1))),
        }
    }

    /// Rows `indices` of a data set held on the device as its transpose.
    pub(crate) fn gather_rows_of_transpose<T: Real>(
        &self,
        data_t: &DeviceMatrix<T>,
        indices: &[usize],
    ) -> Result<DeviceMatrix<T>> {
        // The indices go over with the call.
        transfers::count_upload::<u64>((indices.len(), 1));
        dispatch!(self, |b| [data_t] b.gather_rows_of_transpose(data_t, indices))
    }

    #[inline]
    pub(crate) fn zeros<T: Real>(&self, rows: usize, cols: usize) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [] b.zeros(rows, cols))
    }

    /// A `rows x cols` matrix with every entry `value` (its sign of zero too).
    #[inline]
    pub(crate) fn filled<T: Real>(
        &self,
        rows: usize,
        cols: usize,
        value: T,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [] b.filled(rows, cols, value))
    }

    /// Whether this device draws a tape's noise itself ([`crate::autodiff::Tape::standard_normal`]):
    /// a GPU does; the CPU draws from the run's generator, and the emulated device draws as the
    /// CPU does, to be checked against it.
    pub(crate) fn draws_on_device(&self) -> bool {
        !matches!(self, Kernels::Cpu | Kernels::Emulated(_))
    }

    /// Standard-normal draws from the device's generator, seeded.
    pub(crate) fn standard_normal<T: Real>(
        &self,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [] b.standard_normal(rows, cols, seed))
    }

    /// Uniform draws on [low, high) from the device's generator, seeded.
    pub(crate) fn uniform<T: Real>(
        &self,
        rows: usize,
        cols: usize,
        range: (f64, f64),
        seed: u64,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [] b.uniform(rows, cols, range, seed))
    }

    /// `x` with `count` entries of each row replaced ([`super::Backend::replace_in_rows`]),
    /// drawn from the device's generator, seeded.
    pub(crate) fn replace_in_rows<T: Real>(
        &self,
        x: &DeviceMatrix<T>,
        count: usize,
        range: (T, T),
        seed: u64,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x] b.replace_in_rows(x, count, range, seed))
    }

    #[inline]
    pub(crate) fn matmul<T: Real>(
        &self,
        a: &DeviceMatrix<T>,
        ta: bool,
        c: &DeviceMatrix<T>,
        tc: bool,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [a, c] b.matmul(a, ta, c, tc))
    }

    #[inline]
    pub(crate) fn affine<T: Real>(
        &self,
        x: &DeviceMatrix<T>,
        w: &DeviceMatrix<T>,
        c: &DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x, w, c] b.affine(x, w, c))
    }

    pub(crate) fn tile_rows<T: Real>(
        &self,
        x: &DeviceMatrix<T>,
        times: usize,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x] b.tile_rows(x, times))
    }

    pub(crate) fn untile_rows<T: Real>(
        &self,
        g: &DeviceMatrix<T>,
        times: usize,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [g] b.untile_rows(g, times))
    }

    #[inline]
    pub(crate) fn transpose<T: Real>(&self, a: &DeviceMatrix<T>) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [a] b.transpose(a))
    }

    #[inline]
    pub(crate) fn unary<T: Real>(
        &self,
        op: UnaryOp<T>,
        x: &DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x] b.unary(op, x))
    }

    #[inline]
    pub(crate) fn unary_vjp<T: Real>(
        &self,
        op: UnaryOp<T>,
        x: &DeviceMatrix<T>,
        y: &DeviceMatrix<T>,
        g: DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        // By value: the CPU multiplies in `g`'s own storage.
        match (self, g) {
            (Kernels::Cpu, DeviceMatrix::Cpu(g)) => {
                let Ok(out) = Cpu.unary_vjp(op, x.cpu(), y.cpu(), g.into_owned());
                Ok(DeviceMatrix::host(out))
            }
            (Kernels::Emulated(on), DeviceMatrix::Emulated(ordinal, g)) if *on == ordinal => {
                emulated_call(*on)?;
                let Ok(out) = Cpu.unary_vjp(op, x.emulated(*on), y.emulated(*on), g);
                Ok(DeviceMatrix::Emulated(*on, out))
            }
            #[cfg(feature = "cuda")]
            (Kernels::Cuda(gpu), DeviceMatrix::Cuda(g)) => {
                kernel_calls::count();
                gpu.unary_vjp(op, x.cuda(), y.cuda(), g)
                    .map(DeviceMatrix::Cuda)
            }
            (Kernels::Lost(device), _) => Ok(DeviceMatrix::Lost(*device, x.shape())),
            (kernels, g) => panic!("{}", foreign(g.device(), kernels.device())),
        }
    }

    #[inline]
    pub(crate) fn binary<T: Real>(
        &self,
        op: BinaryOp,
        x: &DeviceMatrix<T>,
        y: &DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x, y] b.binary(op, x, y))
    }

    #[inline]
    pub(crate) fn sum<T: Real>(&self, x: &DeviceMatrix<T>, how: Reduce) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x] b.sum(x, how))
    }

    #[inline]
    pub(crate) fn sum_vjp<T: Real>(
        &self,
        g: &DeviceMatrix<T>,
        shape: (usize, usize),
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [g] b.sum_vjp(g, shape))
    }

    #[inline]
    pub(crate) fn logsumexp<T: Real>(
        &self,
        x: &DeviceMatrix<T>,
        how: Reduce,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x] b.logsumexp(x, how))
    }

    #[inline]
    pub(crate) fn logsumexp_vjp<T: Real>(
        &self,
        how: Reduce,
        x: &DeviceMatrix<T>,
        y: &DeviceMatrix<T>,
        g: &DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x, y, g] b.logsumexp_vjp(how, x, y, g))
    }

    #[inline]
    pub(crate) fn block<T: Real>(
        &self,
        m: &DeviceMatrix<T>,
        at: (usize, usize),
        shape: (usize, usize),
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [m] b.block(m, at, shape))
    }

    #[inline]
    pub(crate) fn embed<T: Real>(
        &self,
        g: &DeviceMatrix<T>,
        shape: (usize, usize),
        at: (usize, usize),
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [g] b.embed(g, shape, at))
    }

    pub(crate) fn concat<T: Real>(
        &self,
        parts: &[&DeviceMatrix<T>],
        how: Concat,
    ) -> Result<DeviceMatrix<T>> {
        match self {
            Kernels::Cpu => {
                let parts: Vec<_> = parts.iter().map(|p| p.cpu()).collect();
                let Ok(out) = Cpu.concat(&parts, how);
                Ok(DeviceMatrix::host(out))
            }
            Kernels::Emulated(on) => {
                emulated_call(*on)?;
                let parts: Vec<_> = parts.iter().map(|p| p.emulated(*on)).collect();
                let Ok(out) = Cpu.concat(&parts, how);
                Ok(DeviceMatrix::Emulated(*on, out))
            }
            #[cfg(feature = "cuda")]
            Kernels::Cuda(gpu) => {
                kernel_calls::count();
                let parts: Vec<_> = parts.iter().map(|p| p.cuda()).collect();
                gpu.concat(&parts, how).map(DeviceMatrix::Cuda)
            }
            Kernels::Lost(device) => {
                let shapes: Vec<Shape<T>> = parts.iter().map(|p| Shape::of(p.shape())).collect();
                let shapes: Vec<_> = shapes.iter().collect();
                let Ok(shape) = Shapes.concat(&shapes, how);
                Ok(DeviceMatrix::Lost(*device, shape.0))
            }
        }
    }

    pub(crate) fn diagonal<T: Real>(&self, m: &DeviceMatrix<T>) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [m] b.diagonal(m))
    }

    pub(crate) fn diagonal_matrix<T: Real>(&self, v: &DeviceMatrix<T>) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [v] b.diagonal_matrix(v))
    }

    pub(crate) fn lower_triangle<T: Real>(
        &self,
        m: &DeviceMatrix<T>,
        include_diagonal: bool,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [m] b.lower_triangle(m, include_diagonal))
    }

    pub(crate) fn solve_lower<T: Real>(
        &self,
        l: &DeviceMatrix<T>,
        c: &DeviceMatrix<T>,
        transposed: bool,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [l, c] b.solve_lower(l, c, transposed))
    }

    /// The lower Cholesky factor of the symmetric part of `a` (all NaN where that is not
    /// positive definite).
    pub(crate) fn cholesky<T: Real>(&self, a: &DeviceMatrix<T>) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [a] composed::cholesky(b, a))
    }

    /// The vector-Jacobian product of [`Kernels::cholesky`] with factor `l` and output
    /// gradient `g`.
    pub(crate) fn cholesky_vjp<T: Real>(
        &self,
        l: &DeviceMatrix<T>,
        g: &DeviceMatrix<T>,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [l, g] composed::cholesky_vjp(b, l, g))
    }

    /// The vector-Jacobian products of a solve with `l` (solution `x`, output gradient `g`),
    /// for whichever of `l` and the right-hand sides `need` them.
    pub(crate) fn solve_lower_vjp<T: Real>(
        &self,
        [l, x, g]: [&DeviceMatrix<T>; 3],
        need: (bool, bool),
    ) -> Result<OperandGradients<DeviceMatrix<T>>> {
        dispatch_pair!(self, |b| [l, x, g] composed::solve_lower_vjp(b, [l, x, g], need))
    }

    /// The convolution `geometry` of `x` with the kernel `w`, or its transpose.
    pub(crate) fn conv<T: Real>(
        &self,
        x: &DeviceMatrix<T>,
        w: &DeviceMatrix<T>,
        geometry: Conv2d,
        transposed: bool,
    ) -> Result<DeviceMatrix<T>> {
        dispatch!(self, |b| [x, w] geometry.apply(b, x, w, transposed))
    }

    /// The vector-Jacobian products of [`Kernels::conv`] with input `x`, kernel `w` and output
    /// gradient `g`, for whichever of the two `need` them.
    pub(crate) fn conv_vjp<T: Real>(
        &self,
        [x, w, g]: [&DeviceMatrix<T>; 3],
        geometry: Conv2d,
        transposed: bool,
        need: (bool, bool),
    ) -> Result<OperandGradients<DeviceMatrix<T>>> {
        dispatch_pair!(self, |b| [x, w, g] geometry.apply_vjp(b, [x, w, g], transposed, need))
    }

    /// The vector-Jacobian products of `a op b` (output `y`) for the operands that `need` them.
    #[inline]
    pub(crate) fn binary_vjp<T: Real>(
        &self,
        op: BinaryOp,
        [a, c, y, g]: [&DeviceMatrix<T>; 4],
        need: (bool, bool),
    ) -> Result<OperandGradients<DeviceMatrix<T>>> {
        dispatch_pair!(self, |b| [a, c, y, g] b.binary_vjp(op, [a, c, y, g], need))
    }

    /// [`Backend::normal_draw`] on this device.
    #[inline]
    pub(crate) fn normal_draw<T: Real>(
        &self,
        parts: DrawParts<&DeviceMatrix<T>>,
    ) -> Result<DeviceMatrix<T>> {
        let [mean, log_sd, eps] = parts;
        dispatch!(self, |b| [mean, log_sd, eps] b.normal_draw([mean, log_sd, eps]))
    }

    /// [`Backend::normal_draw_vjp`] on this device.
    #[inline]
    pub(crate) fn normal_draw_vjp<T: Real>(
        &self,
        parts: DrawParts<&DeviceMatrix<T>>,
        g: &DeviceMatrix<T>,
        need: [bool; 3],
    ) -> Result<DrawParts<Option<DeviceMatrix<T>>>> {
        dispatch_each!(self, |b| [parts] (g) b.normal_draw_vjp(parts, g, need))
    }

    /// [`Backend::diag_normal_kl`] on this device.
    #[inline]
    pub(crate) fn diag_normal_kl<T: Real>(
        &self,
        params: NormalPair<&DeviceMatrix<T>>,
    ) -> Result<DeviceMatrix<T>> {
        let [mq, lq, mp, lp] = params;
        dispatch!(self, |b| [mq, lq, mp, lp] b.diag_normal_kl([mq, lq, mp, lp]))
    }

    /// [`Backend::diag_normal_kl_vjp`] on this device.
    #[inline]
    pub(crate) fn diag_normal_kl_vjp<T: Real>(
        &self,
        params: NormalPair<&DeviceMatrix<T>>,
        g: &DeviceMatrix<T>,
        need: [bool; 4],
    ) -> Result<NormalPair<Option<DeviceMatrix<T>>>> {
        dispatch_each!(self, |b| [params] (g) b.diag_normal_kl_vjp(params, g, need))
    }

    /// The Bernoulli op's rows (R x 1) and, when asked, its residual x − σ(l).
    #[inline]
    pub(crate) fn bernoulli_logits<T: Real>(
        &self,
        logits: &DeviceMatrix<T>,
        x: &DeviceMatrix<T>,
        residual: bool,
    ) -> Result<(DeviceMatrix<T>, Option<DeviceMatrix<T>>)> {
        dispatch_with!(self, |b| [logits, x] [] b.bernoulli_logits(logits, x, residual), with_kept)
    }

    /// `acc + g`, into `acc`: two contributions to one gradient summed (on the CPU in `acc`'s
    /// storage, with `g`'s recycled).
    #[inline]
    pub(crate) fn add_into<T: Real>(
        &self,
        acc: &mut DeviceMatrix<T>,
        g: DeviceMatrix<T>,
    ) -> Result<()> {
        assert_eq!(
            acc.shape(),
            g.shape(),
            "gradient contributions differ in shape"
        );
        match self {
            Kernels::Cpu => {
                let Ok(()) = Cpu.add_into(acc.cpu_mut(), g.into_host()?);
                Ok(())
            }
            Kernels::Lost(device) => {
                *acc = DeviceMatrix::Lost(*device, acc.shape());
                Ok(())
            }
            _ => {
                *acc = self.binary(BinaryOp::Add, acc, &g)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "a matrix on emulated:1 in an operation on emulated:0")]
    fn an_operation_refuses_a_matrix_of_another_emulated_device() {
        // As a GPU cannot read another's memory: the tape and the engine move values first.
        let elsewhere = DeviceMatrix::Emulated(1, DMatrix::from_element(2, 2, 1.0_f64));
        let _ = Kernels::Emulated(0).copy(&elsewhere);
    }
}
