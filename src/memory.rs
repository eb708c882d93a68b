//! Sizes chosen by users, checked against the machine's memory before anything is allocated.
//!
//! A latent dimension, a layer width, a number of importance samples or of data rows can ask
//! for more memory than exists. Allocating it would abort the process (or let the kernel kill
//! it after minutes of swapping), so every constructor that allocates from a user's size asks
//! [`ensure_available`] first and returns [`Error::TooLarge`] instead.
//!
//! The crate also keeps the storage of large matrices between training steps for reuse:
//! [`cached_bytes`] says how much, [`release_cached`] frees it.

use crate::error::{Error, Result};
use crate::kernels::buffers;
use crate::real::Real;

/// Entries (draws or particles × data rows × columns) that one evaluation tape holds at a time:
/// evaluations of a bound or of a fit's draws over large data are cut into chunks of this many,
/// so that each of rayon's threads holds a few matrices of this size, whatever the data's.
/// 2¹⁷ (512 KiB of f32 per matrix): with 2²⁰, a VAE's IWAE with K = 1000 on 784 pixels held
/// 16 tapes of 784k-entry matrices on 16 threads, and its peak memory was 2.1 times that on 2
/// threads; with 2¹⁷ it is 1.7 times, and the IWAE is as fast on 2 threads.
pub const EVALUATION_BUDGET: usize = 1 << 17;

/// The product of `factors`, or `None` if it overflows.
pub fn entries(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// The sum of `terms`, or `None` if one is `None` or the sum overflows.
pub fn total(terms: &[Option<usize>]) -> Option<usize> {
    terms
        .iter()
        .try_fold(0usize, |acc, &t| t.and_then(|t| acc.checked_add(t)))
}

/// Checks that `entries` values of type `T` (`None`: a count that overflowed) fit in the memory
/// this machine has available now.
///
/// # Errors
/// [`Error::TooLarge`] naming `what`, `size` and the bytes needed and available.
pub fn ensure_available<T>(
    what: &'static str,
    size: impl std::fmt::Display,
    entries: Option<usize>,
) -> Result<()> {
    let bytes = entries
        .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
        .map_or(u64::MAX, |b| b as u64);
    let available = available_bytes();
    if bytes > available {
        return Err(Error::TooLarge {
            what,
            size: size.to_string(),
            bytes,
            available,
        });
    }
    Ok(())
}

/// Bytes of matrix storage the crate keeps for reuse, for `T`.
///
/// Tapes hand the storage of their large matrices back when they are dropped, and the next
/// step's matrices of the same sizes are made in it: the system's allocator would otherwise
/// unmap and fault that memory in again at every step. At most 1 GiB is kept per element type.
pub fn cached_bytes<T: Real>() -> usize {
    buffers::kept_bytes::<T>()
}

/// Frees the matrix storage kept for reuse (see [`cached_bytes`]): for a program that is done
/// training and wants the memory back. Later steps allocate afresh and fill the cache again.
pub fn release_cached<T: Real>() {
    buffers::release::<T>();
}

/// Memory the system can give a process now: MemAvailable plus free swap on Linux; on other
/// systems only the address space bounds it (counts that overflow are still caught).
pub fn available_bytes() -> u64 {
    read_meminfo().unwrap_or(u64::MAX)
}

fn read_meminfo() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    };
    let available = field("MemAvailable:")?;
    Some(available.saturating_add(field("SwapFree:").unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_overflow_or_exceed_memory_are_errors_and_small_ones_pass() {
        assert_eq!(entries(&[3, 4, 5]), Some(60));
        assert_eq!(entries(&[usize::MAX, 2]), None);
        assert_eq!(total(&[Some(1), Some(2)]), Some(3));
        assert_eq!(total(&[Some(1), None]), None);
        ensure_available::<f64>("a small matrix", "10x10", entries(&[10, 10])).unwrap();
        let err = ensure_available::<f64>("a huge matrix", "1e18", Some(1 << 60)).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("a huge matrix of 1e18") && text.contains("smaller"),
            "{text}"
        );
        let overflow = ensure_available::<f32>("x", "overflow", None).unwrap_err();
        assert!(matches!(
            overflow,
            Error::TooLarge {
                bytes: u64::MAX,
                ..
            }
        ));
    }
}
