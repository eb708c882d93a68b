//! Stochastic gradient descent with (heavy-ball) momentum.

use super::{Optimizer, OptimizerState};
use crate::autodiff::Gradients;
use crate::error::{Error, Result};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use std::collections::BTreeMap;

/// v ← μ v + g;  θ ← θ − lr · v. With μ = 0 this is plain SGD.
#[derive(Clone, Debug)]
pub struct Sgd<T: Real> {
    momentum: T,
    velocity: BTreeMap<ParamId, DMatrix<T>>,
}

const VELOCITY: &str = "velocity";

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
            velocity: BTreeMap::new(),
        })
    }
}

impl<T: Real> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T) -> Result<()> {
        grads.check_store(params)?;
        for (id, g) in grads.iter() {
            let v = self
                .velocity
                .entry(id)
                .or_insert_with(|| DMatrix::zeros(g.nrows(), g.ncols()));
            *v *= self.momentum;
            *v += g;
            for (p, &v) in params.get_mut(id).iter_mut().zip(v.iter()) {
                *p -= lr * v;
            }
        }
        Ok(())
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            counters: Vec::new(),
            slots: self
                .velocity
                .iter()
                .map(|(&id, v)| (id, VELOCITY.to_string(), v.clone()))
                .collect(),
        }
    }

    fn restore(&mut self, state: OptimizerState<T>) -> Result<()> {
        self.velocity.clear();
        for (id, slot, value) in state.slots {
            if slot != VELOCITY {
                return Err(Error::invalid("SGD state slot", slot, "`velocity`"));
            }
            self.velocity.insert(id, value);
        }
        Ok(())
    }
}
