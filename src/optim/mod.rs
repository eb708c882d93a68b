//! Gradient-based optimizers and learning-rate schedules. They minimise: the fitting loop hands
//! them the gradient of the negative ELBO.

mod adam;
mod schedule;
mod sgd;

pub use adam::Adam;
pub(crate) use adam::Moments;
pub use schedule::LearningRate;
pub use sgd::Sgd;

use crate::autodiff::Gradients;
use crate::params::ParamStore;
use crate::real::Real;

/// One update rule. Parameters without a gradient in `grads` are left alone.
pub trait Optimizer<T: Real> {
    /// Moves `params` against `grads` with step size `lr`.
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T);
}
