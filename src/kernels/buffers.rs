//! Storage for large matrices, kept when a tape is done with it and handed out again on the next
//! step instead of going back to the system allocator.
//!
//! A training step or an evaluation chunk allocates the same few dozen large matrices every
//! time (products, activations, their gradients), and frees them all when its tape is dropped.
//! glibc's allocator returns memory that large to the kernel on free (by `munmap`, or by
//! trimming the heap) and faults it back in, zeroed page by page, on the next allocation: with
//! 1000 x 784 matrices (the IWAE bound with 1000 samples) that cost more system time than the
//! products' own time, and even a 400 x 784 product ran at a seventh of its speed (see
//! docs/benchmarks.md). Buffers recycled here stay mapped and warm.
//!
//! The free lists are shared by all threads behind one lock per element type: gradients made on
//! a worker thread are freed on the thread that merges them, and must be found again by the
//! workers on the next step. Only buffers of [`MIN_BYTES`] or more are kept (the allocator
//! serves smaller ones from its own caches), and of each length only as many as were handed out
//! and not yet given back: a tape also holds matrices made elsewhere (by a model's own code, or
//! an op that does not ask here), and keeping those too would grow the lists by a few every step.
//! At most [`MAX_BYTES`] are kept in all: past that the lists are emptied, so a change of shapes
//! (a new batch size, an evaluation after training) cannot pin memory the new shapes never ask
//! for again.

use crate::real::Real;
use nalgebra::DMatrix;
use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// Buffers smaller than this go straight back to the allocator.
const MIN_BYTES: usize = 16 << 10;
/// The most the free lists hold, in bytes, per element type.
const MAX_BYTES: usize = 1 << 30;

/// Free buffers of one element type, by length.
pub(crate) struct FreeLists<T> {
    by_len: BTreeMap<usize, Slot<T>>,
    bytes: usize,
}

/// The buffers of one length.
struct Slot<T> {
    free: Vec<Vec<T>>,
    /// Buffers of this length handed out and not given back yet.
    out: usize,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            free: Vec::new(),
            out: 0,
        }
    }
}

impl<T> FreeLists<T> {
    const fn new() -> Self {
        FreeLists {
            by_len: BTreeMap::new(),
            bytes: 0,
        }
    }
}

static F32: Mutex<FreeLists<f32>> = Mutex::new(FreeLists::new());
static F64: Mutex<FreeLists<f64>> = Mutex::new(FreeLists::new());

/// The free lists of `T`, found by its type: a [`Real`] is `f32` or `f64`.
fn lock<T: Real>() -> MutexGuard<'static, FreeLists<T>> {
    let lists: &'static dyn Any = if TypeId::of::<T>() == TypeId::of::<f32>() {
        &F32
    } else {
        &F64
    };
    lists
        .downcast_ref::<Mutex<FreeLists<T>>>()
        .expect("a Real is f32 or f64")
        .lock()
        // A panic while the lock was held left at worst a list without one buffer: still valid.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn worth_keeping<T>(len: usize) -> bool {
    len * std::mem::size_of::<T>() >= MIN_BYTES
}

/// A `rows x cols` matrix whose entries are unspecified (a recycled buffer's old values, or
/// zeros): for a caller that writes every entry before reading any.
pub(crate) fn uninitialized<T: Real>(rows: usize, cols: usize) -> DMatrix<T> {
    let len = rows * cols;
    if worth_keeping::<T>(len) {
        let mut lists = lock::<T>();
        let slot = lists.by_len.entry(len).or_default();
        slot.out += 1;
        if let Some(buffer) = slot.free.pop() {
            lists.bytes -= buffer.capacity() * std::mem::size_of::<T>();
            drop(lists);
            return DMatrix::from_vec(rows, cols, buffer);
        }
    }
    DMatrix::zeros(rows, cols)
}

/// A `rows x cols` matrix of zeros, in a recycled buffer when one fits.
pub(crate) fn zeros<T: Real>(rows: usize, cols: usize) -> DMatrix<T> {
    let mut m = uninitialized(rows, cols);
    m.as_mut_slice().fill(T::zero());
    m
}

/// A copy of `m`, in a recycled buffer when one fits.
pub(crate) fn copy<T: Real>(m: &DMatrix<T>) -> DMatrix<T> {
    let mut out = uninitialized(m.nrows(), m.ncols());
    out.as_mut_slice().copy_from_slice(m.as_slice());
    out
}

/// Gives `m`'s storage back for later matrices of the same size.
pub(crate) fn recycle<T: Real>(m: DMatrix<T>) {
    let len = m.len();
    if !worth_keeping::<T>(len) {
        return;
    }
    let mut lists = lock::<T>();
    match lists.by_len.get_mut(&len) {
        Some(slot) if slot.out > 0 => slot.out -= 1,
        // More of this length given back than handed out: made elsewhere, not kept.
        _ => return,
    }
    let buffer: Vec<T> = m.data.into();
    let bytes = buffer.capacity() * std::mem::size_of::<T>();
    if lists.bytes + bytes > MAX_BYTES {
        // Emptied outside the lock: freeing a gigabyte takes a while.
        let old = std::mem::take(&mut lists.by_len);
        lists.bytes = 0;
        drop(lists);
        drop(old);
        lists = lock::<T>();
    }
    lists.bytes += bytes;
    lists.by_len.entry(len).or_default().free.push(buffer);
}

/// Frees every buffer kept for `T`.
pub(crate) fn release<T: Real>() {
    let old = {
        let mut lists = lock::<T>();
        lists.bytes = 0;
        std::mem::take(&mut lists.by_len)
    };
    drop(old);
}

/// Bytes kept for `T` now.
pub(crate) fn kept_bytes<T: Real>() -> usize {
    lock::<T>().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_handed_out_again_for_the_same_size_only() {
        // f64 is used by other tests in parallel; an odd size no other test makes keeps this one
        // to itself.
        let (rows, cols) = (1031, 7);
        let mut m = uninitialized::<f64>(rows, cols);
        m.fill(3.5);
        let address = m.as_ptr();
        recycle(m);
        let other = uninitialized::<f64>(cols, rows + 1);
        assert_ne!(other.as_ptr(), address);
        let again = uninitialized::<f64>(cols, rows);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(again.shape(), (cols, rows));
        assert!(again.iter().all(|&v| v == 3.5));
        recycle(again);
        let z = zeros::<f64>(rows, cols);
        assert_eq!(z.as_ptr(), address);
        assert!(z.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_dropped_tape_hands_its_values_back() {
        use crate::autodiff::Tape;
        let (rows, cols) = (517, 9);
        let addresses = {
            let tape = Tape::<f64>::new();
            let x = tape.constant(DMatrix::from_element(rows, cols, 2.0));
            let y = x.exp(); // its value is made here
            [x, y].map(|v| v.with_value(|v| v.as_ptr()))
        };
        // One buffer was handed out, so one of the two is kept.
        assert!(addresses.contains(&uninitialized::<f64>(rows, cols).as_ptr()));
    }

    #[test]
    fn only_as_many_buffers_are_kept_as_were_handed_out() {
        let (rows, cols) = (2039, 3);
        let handed = uninitialized::<f64>(rows, cols);
        let made_elsewhere = DMatrix::<f64>::zeros(rows, cols);
        let foreign = made_elsewhere.as_ptr();
        recycle(made_elsewhere);
        recycle(handed);
        // One was handed out, so one is kept: the first given back. The second is freed.
        let again = uninitialized::<f64>(rows, cols);
        assert_eq!(again.as_ptr(), foreign);
        // Given back, it is kept again; another foreign one, beyond what was handed out, is not.
        recycle(again);
        let ones = DMatrix::<f64>::from_element(rows, cols, 1.0);
        let ones_address = ones.as_ptr();
        recycle(ones);
        assert_eq!(uninitialized::<f64>(rows, cols).as_ptr(), foreign);
        assert_ne!(foreign, ones_address);
    }

    #[test]
    fn small_buffers_are_not_kept() {
        assert!(!worth_keeping::<f32>(MIN_BYTES / 4 - 1));
        assert!(worth_keeping::<f32>(MIN_BYTES / 4));
        let c = copy(&DMatrix::<f32>::from_element(2, 2, 5.0));
        assert_eq!(c, DMatrix::from_element(2, 2, 5.0));
    }
}
