//! Learning-rate schedules.

use crate::error::{Result, require_positive};

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
    /// [`crate::Error::InvalidParameter`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LearningRate::Constant(lr) => require_positive("learning rate", lr).map(drop),
            LearningRate::Exponential { start, end, .. } => {
                require_positive("learning rate start", start)?;
                require_positive("learning rate end", end).map(drop)
            }
        }
    }
}
