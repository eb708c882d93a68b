//! A [`Vae`]'s checkpoints: writing one, rebuilding the ready-made VAE from one, and resuming
//! a VAE built by the caller.

use super::{Vae, VaeArchitecture, VaeTraining};
use crate::data::Standardization;
use crate::engine::Checkpoint;
use crate::error::{Error, Result};
use crate::model::{Decoder, Prior};
use crate::real::Real;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a VAE's checkpoint holds besides the parameters and the trainer.
#[derive(Serialize, Deserialize)]
struct Saved {
    architecture: Option<VaeArchitecture>,
    training: VaeTraining,
    epochs_done: usize,
    #[serde(default)]
    standardization: Option<Standardization>,
}

impl<T: Real> Vae<T> {
    /// Reads a checkpoint of the ready-made VAE written by [`Vae::save`] and rebuilds the model
    /// with its training state; training continues exactly where it stopped. The saved
    /// architecture is checked against the number of values the file holds before anything is
    /// allocated.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Checkpoint`] if it is not a VAE
    /// checkpoint of this version and precision, or its parameters do not fit its settings.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let checkpoint = Checkpoint::read(path)?;
        let fail = |problem: String| Error::Checkpoint {
            path: checkpoint.path().to_path_buf(),
            problem,
        };
        let saved: Saved = checkpoint.model()?;
        let architecture = saved.architecture.ok_or_else(|| {
            fail("it holds a VAE built from custom parts: build it and call Vae::resume".into())
        })?;
        if architecture.parameter_count() != Some(checkpoint.values()) {
            return Err(fail(format!(
                "its settings describe {} parameter values, the file holds {}",
                architecture
                    .parameter_count()
                    .map_or("too many".to_string(), |c| c.to_string()),
                checkpoint.values()
            )));
        }
        let mut vae = Vae::new(architecture, saved.training, 0)
            .map_err(|e| fail(format!("its settings are invalid: {e}")))?;
        vae.restore(&checkpoint)?;
        Ok(vae)
    }
}

impl<T: Real, P: Prior<T>, D: Decoder<T>> Vae<T, P, D> {
    /// Writes the model and its training state to `path` (atomically; see
    /// [`Trainer::save`](crate::engine::Trainer::save)).
    ///
    /// # Errors
    /// [`Error::NonFiniteData`] if a parameter is NaN or infinite; [`Error::Write`] if the file
    /// cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let saved = Saved {
            architecture: self.architecture.clone(),
            training: self.training.clone(),
            epochs_done: self.epochs_done,
            standardization: self.standardization.clone(),
        };
        self.trainer.save(path, &self.params, &self.rng, &saved)
    }

    /// Continues from a checkpoint of a VAE built the same way: its parameters, optimizer
    /// state, generator, progress and training settings replace this one's.
    ///
    /// # Errors
    /// As [`Checkpoint::read`] and [`Checkpoint::restore`]; [`Error::Checkpoint`] if the saved
    /// architecture differs from this one's.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.restore(&Checkpoint::read(path)?)
    }

    fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let saved: Saved = checkpoint.model()?;
        if saved.architecture != self.architecture {
            return Err(Error::Checkpoint {
                path: checkpoint.path().to_path_buf(),
                problem: format!(
                    "it was saved from the architecture {:?}, this VAE is {:?}",
                    saved.architecture, self.architecture
                ),
            });
        }
        checkpoint.restore(&mut self.params, &mut self.trainer, &mut self.rng)?;
        self.set_training(saved.training)?;
        self.epochs_done = saved.epochs_done;
        self.standardization = saved.standardization;
        Ok(())
    }
}
