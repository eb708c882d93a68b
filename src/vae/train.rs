//! Training a [`Vae`]: its prepared data, the epoch loop through the engine, the β-weighted
//! objective it minimises, and what each epoch reports.

use super::{Vae, VaeEncoder, VaeLikelihood};
use crate::autodiff::{Tape, Var};
use crate::data::Standardization;
use crate::engine::{Batch, Control, EpochEvent, Loss, Observer, StepEvent, TrainingData};
use crate::error::{Error, Result};
use crate::infer::{Estimator, GradientEstimator, Objective, Svi};
use crate::model::{Decoder, Prior};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;
use std::borrow::Cow;

/// What one training epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean objective per training row over the epoch's steps (with the epoch's β).
    pub objective: f64,
    /// The KL weight at the epoch's last step.
    pub beta: f64,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped: usize,
}

/// A training set a [`Vae`] prepared ([`Vae::training_data`]) for its epochs
/// ([`Vae::train_epoch_on`]): in the networks' units, checked once, and kept where the epochs
/// run (on a device, copied there once).
#[derive(Debug)]
pub struct VaeTrainingData<'a, T: Real> {
    data: TrainingData<'a, T>,
    /// The standardisation it went through: an epoch checks it is still the VAE's.
    standardization: Option<Standardization>,
}

impl<T: Real, P: Prior<T>, D: Decoder<T>> Vae<T, P, D> {
    /// `train` prepared for [`Vae::train_epoch_on`]: in the networks' units (a Gaussian VAE
    /// that standardises fixes its standardisation on the first data it is given), checked, and
    /// kept for every epoch run on it. On a device the data goes there with the first epoch
    /// and stays for the others, where [`Vae::train_epoch`] copies it over for each.
    ///
    /// # Errors
    /// [`Error::EmptyData`] or [`Error::NonFiniteData`] for bad data.
    pub fn training_data<'a>(&mut self, train: &'a DMatrix<T>) -> Result<VaeTrainingData<'a, T>> {
        let standardizes = self
            .architecture
            .as_ref()
            .is_some_and(|a| a.standardize && matches!(a.likelihood, VaeLikelihood::Gaussian(_)));
        if standardizes && self.standardization.is_none() {
            // Scanned here too: the moments of data with a NaN would be NaN.
            self.svi.validate_data(train)?;
            self.standardization = Some(Standardization::of(train));
        }
        let data = match self.standardize(train) {
            Cow::Borrowed(x) => TrainingData::new(x)?,
            Cow::Owned(x) => TrainingData::owned(x)?,
        };
        Ok(VaeTrainingData {
            data,
            standardization: self.standardization.clone(),
        })
    }

    /// One pass over `train` in shuffled minibatches (the analytic-KL ELBO for a Gaussian
    /// prior, one draw per row, Adam). `on_batch(rows_done)` is called after every step, for
    /// progress displays. For many epochs on the same data, [`Vae::training_data`] and
    /// [`Vae::train_epoch_on`] prepare it once.
    ///
    /// # Errors
    /// Data that the model cannot fit ([`Svi::validate_data`]); [`Error::Diverged`] after too
    /// many non-finite steps in a row (the parameters stay at the last finite values).
    pub fn train_epoch(
        &mut self,
        train: &DMatrix<T>,
        on_batch: impl FnMut(usize),
    ) -> Result<EpochReport> {
        let train = self.training_data(train)?;
        self.train_epoch_on(&train, on_batch)
    }

    /// [`Vae::train_epoch`] on data this VAE prepared ([`Vae::training_data`]).
    ///
    /// # Errors
    /// As [`Vae::train_epoch`], and [`Error::InvalidParameter`] for data prepared under
    /// another standardisation (by another VAE, or before a checkpoint loaded another).
    pub fn train_epoch_on(
        &mut self,
        train: &VaeTrainingData<'_, T>,
        on_batch: impl FnMut(usize),
    ) -> Result<EpochReport> {
        if train.standardization != self.standardization {
            return Err(Error::invalid(
                "training data",
                "data prepared under another standardisation",
                "data from this VAE's `training_data`, made since its last checkpoint load",
            ));
        }
        let rows = train.data.matrix().nrows();
        let steps_per_epoch = self.trainer.steps_per_epoch(rows);
        let loss = VaeLoss {
            svi: &self.svi,
            elbo_form: self.elbo_form,
            beta: self.training.beta,
            warmup_epochs: self.training.warmup_epochs,
        };
        let mut watch = EpochWatch {
            on_batch,
            loss: None,
        };
        let run = self.trainer.run_on(
            &loss,
            &mut self.params,
            &train.data,
            &mut self.rng,
            steps_per_epoch,
            &mut [&mut watch],
        )?;
        self.epochs_done += 1;
        let last_step = self.trainer.steps_done() - 1;
        Ok(EpochReport {
            epoch: self.epochs_done,
            objective: -watch.loss.unwrap_or(f64::NAN)
                - self.log_jacobian(train.data.matrix().ncols()),
            beta: loss.beta_at(last_step, steps_per_epoch),
            skipped: run.skipped,
        })
    }
}

/// The VAE's training loss: the negative β-weighted ELBO, β rising over the warm-up epochs.
struct VaeLoss<'a, P, D, E> {
    svi: &'a Svi<P, D, E>,
    elbo_form: Estimator,
    beta: f64,
    warmup_epochs: usize,
}

impl<P, D, E> VaeLoss<'_, P, D, E> {
    /// The KL weight at `step` of `steps_per_epoch`: linear from 0 to β over the warm-up.
    fn beta_at(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let warmup = self.warmup_epochs * steps_per_epoch;
        if warmup == 0 {
            self.beta
        } else {
            self.beta * (step as f64 / warmup as f64).min(1.0)
        }
    }

    /// The objective at `step` of `steps_per_epoch`: one draw per row, β from the warm-up.
    fn objective_at(&self, step: usize, steps_per_epoch: usize) -> Objective {
        Objective {
            estimator: self.elbo_form,
            particles: 1,
            gradient: GradientEstimator::Reparameterization,
            kl_weight: self.beta_at(step, steps_per_epoch),
        }
    }
}

impl<T, P, D> Loss<T> for VaeLoss<'_, P, D, VaeEncoder<T>>
where
    T: Real,
    P: Prior<T>,
    D: Decoder<T>,
{
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        self.svi
            .loss(self.objective_at(batch.step, batch.steps_per_epoch))
            .loss(tape, batch, rng)
    }

    fn row_separable(&self) -> bool {
        self.svi.loss(self.objective_at(0, 1)).row_separable()
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.svi.loss(self.objective_at(0, 1)).validate(data)
    }
}

/// Reports each step's rows to the caller's progress callback and keeps the epoch's loss.
struct EpochWatch<F> {
    on_batch: F,
    loss: Option<f64>,
}

impl<T: Real, F: FnMut(usize)> Observer<T> for EpochWatch<F> {
    fn on_step(&mut self, event: &StepEvent<'_>) -> Control {
        (self.on_batch)(event.rows_in_epoch);
        Control::Continue
    }

    fn on_epoch(&mut self, event: &EpochEvent<'_, T>) -> Control {
        self.loss = Some(event.loss);
        Control::Continue
    }
}
