//! Observers: callbacks on every step and every epoch, for progress bars, logging and early
//! stopping.

use crate::params::ParamStore;
use crate::real::Real;

/// What an observer tells the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// End the run after this step ([`StopReason::Observer`](super::StopReason::Observer)).
    Stop,
}

/// A step that was run (taken or skipped).
#[derive(Clone, Copy, Debug)]
pub struct StepEvent<'a> {
    /// Steps done over the trainer's life, this one included.
    pub steps_done: usize,
    /// Data rows seen in the current epoch so far, this step's included.
    pub rows_in_epoch: usize,
    /// Each group's loss at this step; `None` for a group not updated at this step (frozen,
    /// not due, or skipped for a non-finite value).
    pub losses: &'a [Option<f64>],
}

/// A completed pass over the data.
#[derive(Debug)]
pub struct EpochEvent<'a, T: Real> {
    /// Epochs completed over the trainer's life (1-based).
    pub epoch: usize,
    /// The first group's mean loss per data row over the epoch's taken steps.
    pub loss: f64,
    /// The parameters as they stand.
    pub params: &'a ParamStore<T>,
}

/// Called by [`Trainer::run`](super::Trainer::run) after every step and every epoch. Both
/// methods default to doing nothing.
pub trait Observer<T: Real> {
    /// After each step.
    fn on_step(&mut self, event: &StepEvent<'_>) -> Control {
        let _ = event;
        Control::Continue
    }

    /// After each pass over the data.
    fn on_epoch(&mut self, event: &EpochEvent<'_, T>) -> Control {
        let _ = event;
        Control::Continue
    }
}
