//! Stochastic gradient descent with (heavy-ball) momentum.

use super::Optimizer;
use crate::autodiff::Gradients;
use crate::error::{Error, Result};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;

/// v ← μ v + g;  θ ← θ − lr · v. With μ = 0 this is plain SGD.
#[derive(Clone, Debug)]
pub struct Sgd<T: Real> {
    momentum: T,
    velocity: Vec<Option<DMatrix<T>>>,
}

impl<T: Real> Sgd<T> {
    /// SGD with momentum `μ` in [0, 1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `momentum` is outside [0, 1).
    pub fn new(momentum: T) -> Result<Self> {
        if !(momentum >= T::zero() && momentum < T::one()) {
            return Err(Error::invalid("momentum", momentum, "a number in [0, 1)"));
        }
        Ok(Sgd {
            momentum,
            velocity: Vec::new(),
        })
    }
}

impl<T: Real> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T) {
        self.velocity.resize(params.len(), None);
        for (i, g) in grads.params_indexed() {
            let v = self.velocity[i].get_or_insert_with(|| DMatrix::zeros(g.nrows(), g.ncols()));
            *v *= self.momentum;
            *v += g;
            for (p, &v) in params.get_mut_at(i).iter_mut().zip(v.iter()) {
                *p -= lr * v;
            }
        }
    }
}
