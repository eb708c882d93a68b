//! Learning-rate schedules.

use crate::error::{Error, Result};

/// The step size as a function of the step number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LearningRate {
    /// The same step size throughout.
    Constant(f64),
    /// Geometric decay from `start` to `end` over `steps` steps, then `end`: the step size falls
    /// by the same factor every step.
    Exponential {
        /// Step size at step 0.
        start: f64,
        /// Step size from step `steps` on.
        end: f64,
        /// Length of the decay.
        steps: usize,
    },
}

impl LearningRate {
    /// The step size at `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        match *self {
            LearningRate::Constant(lr) => lr,
            LearningRate::Exponential { start, end, steps } => {
                let t = if steps == 0 {
                    1.0
                } else {
                    (step as f64 / steps as f64).min(1.0)
                };
                start * (end / start).powf(t)
            }
        }
    }

    /// Checks that every step size is a positive finite number.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        let check = |name, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "a finite number > 0"))
            }
        };
        match *self {
            LearningRate::Constant(lr) => check("learning rate", lr),
            LearningRate::Exponential { start, end, .. } => {
                check("learning rate start", start)?;
                check("learning rate end", end)
            }
        }
    }
}
