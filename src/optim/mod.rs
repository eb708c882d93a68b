//! Gradient-based optimizers and learning-rate schedules. They minimise: the engine hands them
//! the gradient of the loss (the negative ELBO, for the variational models).
//!
//! An optimizer is written against the public API alone: check the gradients against the store
//! ([`Gradients::check_store`]), walk them by [`ParamId`] ([`Gradients::iter`]), keep any
//! per-parameter state in a map keyed by the same ids, and write through
//! [`ParamStore::get_mut`]. `tests/custom_optimizer.rs` does exactly that. On a device such an
//! optimizer is correct as it is: what it reads is copied back and what it writes comes back to
//! the host (the next step copies it over again). [`Adam`] updates on the device itself.

mod adam;
mod schedule;
mod sgd;

pub use adam::Adam;
pub use schedule::LearningRate;
pub use sgd::Sgd;

use crate::autodiff::Gradients;
use crate::error::{Error, Result};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;

/// One update rule. Parameters without a gradient in `grads` are left alone.
pub trait Optimizer<T: Real> {
    /// Moves `params` against `grads` with step size `lr`.
    ///
    /// # Errors
    /// [`Error::ForeignGradients`] if `grads` were taken in another store.
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T) -> Result<()>;

    /// Everything the optimizer carries from step to step, for a checkpoint. The default, no
    /// state, is right for stateless rules (plain SGD, sign-SGD).
    fn state(&self) -> OptimizerState<T> {
        OptimizerState::default()
    }

    /// Continues from a state that [`Optimizer::state`] returned (its ids already mapped onto
    /// the store being trained).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the state does not belong to this kind of optimizer; the
    /// default accepts only the empty state.
    fn restore(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.counters.is_empty() && state.slots.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(
                "optimizer state",
                "counters or slots",
                "none: this optimizer keeps no state (implement Optimizer::restore)",
            ))
        }
    }
}

impl<T: Real, O: Optimizer<T> + ?Sized> Optimizer<T> for &mut O {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T) -> Result<()> {
        (**self).step(params, grads, lr)
    }
    fn state(&self) -> OptimizerState<T> {
        (**self).state()
    }
    fn restore(&mut self, state: OptimizerState<T>) -> Result<()> {
        (**self).restore(state)
    }
}

/// The state of an optimizer: named counters and named matrices per parameter (Adam's step
/// count and its two moment estimates, say).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState<T: Real> {
    /// Named whole numbers.
    pub counters: Vec<(String, u64)>,
    /// `(parameter, slot name, value)`: one matrix of a parameter's shape per slot.
    pub slots: Vec<(ParamId, String, DMatrix<T>)>,
}

impl<T: Real> OptimizerState<T> {
    /// The counter called `name`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if there is none.
    pub fn counter(&self, name: &str) -> Result<u64> {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| Error::invalid("optimizer state", name, "a saved counter of this name"))
    }
}
