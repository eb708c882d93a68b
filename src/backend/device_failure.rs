//! What happens when a device fails in the middle of a pass (out of memory, a failed launch).
//!
//! A tape's ops return `Var`, not `Result`, so a failed kernel cannot hand its error back
//! through the model's code. Where the crate runs a tape itself (a training step, an
//! evaluation), it runs it inside [`catching_device_failures`]: the failure then unwinds to
//! there, silently, and comes out as the step's [`Error::Device`]. Anywhere else (a user's own
//! tape) it is a panic whose message names the device and the operation.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

thread_local! {
    /// True inside [`catching_device_failures`] on this thread.
    static CAUGHT: Cell<bool> = const { Cell::new(false) };
}

/// A device's error on its way out of a pass.
struct DeviceFailure(Error);

/// The value of a device operation, or the end of the pass if the device failed.
pub(crate) fn device_result<R>(result: Result<R>) -> R {
    match result {
        Ok(value) => value,
        // Unwinding without the panic hook: nothing is printed, the error is returned.
        Err(e) if CAUGHT.get() => resume_unwind(Box::new(DeviceFailure(e))),
        Err(e) => panic!("{e}"),
    }
}

/// Runs `f`; a device failure inside it is returned as its error.
pub(crate) fn catching_device_failures<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let outer = CAUGHT.replace(true);
    // The tape and its values are dropped on the way out; nothing half-updated survives `f`.
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CAUGHT.set(outer);
    match outcome {
        Ok(result) => result,
        Err(payload) => match payload.downcast::<DeviceFailure>() {
            Ok(failure) => Err(failure.0),
            Err(other) => resume_unwind(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out_of_memory() -> Error {
        Error::Device {
            device: "cuda:0".into(),
            operation: "allocating",
            problem: "CUDA_ERROR_OUT_OF_MEMORY".into(),
        }
    }

    #[test]
    fn a_failure_inside_a_step_is_its_error() {
        let outcome: Result<u32> = catching_device_failures(|| {
            let value: u32 = device_result(Err(out_of_memory()));
            Ok(value + 1)
        });
        let message = outcome.unwrap_err().to_string();
        assert_eq!(
            message,
            "cuda:0 failed at allocating: CUDA_ERROR_OUT_OF_MEMORY"
        );
        // Successes and ordinary errors pass through; the flag is restored.
        assert_eq!(
            catching_device_failures(|| Ok(device_result(Ok(3)))).unwrap(),
            3
        );
        assert!(!CAUGHT.get());
    }

    #[test]
    #[should_panic(expected = "cuda:0 failed at allocating")]
    fn a_failure_outside_a_step_panics_with_its_message() {
        let _: () = device_result(Err(out_of_memory()));
    }

    #[test]
    #[should_panic(expected = "a bug")]
    fn other_panics_are_not_swallowed() {
        let _ = catching_device_failures::<()>(|| panic!("a bug"));
    }
}
