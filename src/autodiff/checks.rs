//! Checks of values on a device, settled with one read for the whole pass.
//!
//! A distribution checks its parameters when it is made (a scale must be positive). On the
//! CPU that reads the values where they are. On a device each check would be a copy back and
//! a wait for the device, a dozen per step for a small program; instead each check adds, on
//! the device, the count of entries that fail it, and the engine reads the sum of every check
//! of the pass once, before its gradient (`Tape::settle_checks`). Only a failure reads the
//! values themselves, to name the first bad one as the CPU would.

use super::tape::{DeferredCheck, Tape, Var};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;

impl<'p, T: Real> Tape<'p, T> {
    /// Defers the check of `value` to [`Tape::settle_checks`]: `violations` (1x1, on this tape)
    /// is 0 where it passes, and `on_host` gives its error from the value read back where it
    /// does not.
    pub(crate) fn defer_check(
        &self,
        violations: Var<'_, T>,
        value: Var<'_, T>,
        on_host: impl Fn(&DMatrix<T>) -> Result<()> + 'static,
    ) {
        assert_eq!(
            violations.shape(),
            (1, 1),
            "a check's violations are a count"
        );
        self.checks.borrow_mut().push(DeferredCheck {
            violations: violations.id,
            value: value.id,
            on_host: Box::new(on_host),
        });
    }

    /// Settles the checks deferred so far: their violations, summed on the device, read back
    /// as one number. Where it is not 0 the checks run on the host in the order they were made
    /// and the first to fail gives its error.
    ///
    /// # Errors
    /// That of the first check that fails.
    pub(crate) fn settle_checks<'t>(&'t self) -> Result<()>
    where
        'p: 't,
    {
        let checks = std::mem::take(&mut *self.checks.borrow_mut());
        let var = |id| Var { tape: self, id };
        let Some(total) = checks
            .iter()
            .map(|c| var(c.violations))
            .reduce(|a, b| a + b)
        else {
            return Ok(());
        };
        if total.try_scalar()? == T::zero() {
            return Ok(());
        }
        for check in &checks {
            var(check.value).try_with_value(|value| (check.on_host)(value))??;
        }
        Ok(())
    }
}
