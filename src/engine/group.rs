//! Parameter groups: which parameters move, with which optimizer, how fast and how often.

use crate::error::{Error, Result, require_positive};
use crate::optim::{LearningRate, Optimizer};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;

/// A set of parameters updated together by one optimizer, with its own learning-rate schedule,
/// update frequency and gradient clipping. A GAN has two (discriminator, generator) updated in
/// turn; a model fine-tuning part of itself freezes a group. At a step where a group is
/// updated, the loss is differentiated with respect to that group's parameters only: the
/// others load as constants and keep their values to the bit.
pub struct ParamGroup<'o, T: Real> {
    pub(crate) name: String,
    pub(crate) params: Vec<ParamId>,
    pub(crate) optimizer: Box<dyn Optimizer<T> + 'o>,
    pub(crate) learning_rate: LearningRate,
    pub(crate) every: usize,
    pub(crate) clip_norm: Option<f64>,
    pub(crate) frozen: bool,
    /// Steps in a row skipped for a non-finite loss or gradient.
    pub(crate) skipped_in_row: usize,
}

impl<'o, T: Real> ParamGroup<'o, T> {
    /// A group of `params` moved by `optimizer` (owned, or `&mut` to one the caller keeps) at
    /// every step, with a constant learning rate of 1e-3 and no clipping.
    pub fn new(
        name: impl Into<String>,
        params: impl IntoIterator<Item = ParamId>,
        optimizer: impl Optimizer<T> + 'o,
    ) -> Self {
        ParamGroup {
            name: name.into(),
            params: params.into_iter().collect(),
            optimizer: Box::new(optimizer),
            learning_rate: LearningRate::Constant(1e-3),
            every: 1,
            clip_norm: None,
            frozen: false,
            skipped_in_row: 0,
        }
    }

    /// Every parameter of `store`, in one group.
    pub fn all(
        name: impl Into<String>,
        store: &ParamStore<T>,
        optimizer: impl Optimizer<T> + 'o,
    ) -> Self {
        Self::new(name, store.ids(), optimizer)
    }

    /// The step-size schedule (evaluated at the trainer's step count).
    pub fn with_learning_rate(mut self, learning_rate: LearningRate) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Update at steps 0, k, 2k, ... only (k ≥ 1): with a discriminator group updated every
    /// step and a generator group every k-th, the discriminator takes k steps per generator
    /// step.
    pub fn every(mut self, k: usize) -> Self {
        self.every = k;
        self
    }

    /// Rescale this group's gradient when its norm exceeds `max_norm`.
    pub fn with_clip_norm(mut self, max_norm: Option<f64>) -> Self {
        self.clip_norm = max_norm;
        self
    }

    /// A frozen group never moves (its parameters still enter the loss, as constants).
    pub fn frozen(mut self, frozen: bool) -> Self {
        self.frozen = frozen;
        self
    }

    /// Its name (checkpoints match groups by name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its parameters.
    pub fn params(&self) -> &[ParamId] {
        &self.params
    }

    /// Its optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<T> {
        &*self.optimizer
    }

    /// Replaces the schedule (a resumed run may change its learning rate).
    pub fn set_learning_rate(&mut self, learning_rate: LearningRate) {
        self.learning_rate = learning_rate;
    }

    /// True if this group moves at `step`.
    pub(crate) fn due(&self, step: usize) -> bool {
        !self.frozen && step.is_multiple_of(self.every)
    }

    /// Checks the settings and that every parameter belongs to `store`.
    pub(crate) fn validate(&self, store: &ParamStore<T>) -> Result<()> {
        if self.every == 0 {
            return Err(Error::invalid("group update frequency", 0, "at least 1"));
        }
        self.learning_rate.validate()?;
        if let Some(m) = self.clip_norm {
            require_positive("clip norm", m)?;
        }
        if let Some(id) = self.params.iter().find(|&&id| !store.owns(id)) {
            return Err(Error::Parameter {
                name: format!("{id:?} of group `{}`", self.name),
                problem: "not a parameter of the store being trained",
            });
        }
        Ok(())
    }

    /// A mask over the store's parameters (by position): true for this group's.
    pub(crate) fn mask(&self, store: &ParamStore<T>) -> Vec<bool> {
        let mut mask = vec![false; store.len()];
        for &id in &self.params {
            mask[id.index()] = true;
        }
        mask
    }
}

impl<T: Real> std::fmt::Debug for ParamGroup<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamGroup")
            .field("name", &self.name)
            .field("params", &self.params.len())
            .field("learning_rate", &self.learning_rate)
            .field("every", &self.every)
            .field("clip_norm", &self.clip_norm)
            .field("frozen", &self.frozen)
            .finish()
    }
}
