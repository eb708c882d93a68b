//! The variational autoencoder: amortized SGVB with a neural encoder and decoder.

use crate::autodiff::{Tape, Var};
use crate::backend::{Device, Placed};
use crate::data::Standardization;
use crate::engine::{
    Batch, Checkpoint, Control, EpochEvent, Loss, Observer, ParamGroup, StepEvent, Trainer,
    TrainerSettings, TrainingData,
};
use crate::error::{Error, Result, require_positive};
use crate::guide::GaussianEncoder;
use crate::infer::{Estimator, GradientEstimator, Objective, Svi};
use crate::likelihood::{BernoulliDecoder, GaussianDecoder, ObservationVariance};
use crate::memory::{EVALUATION_BUDGET, ensure_available, entries, total};
use crate::model::{Decoder, Prior};
use crate::nn::{Activation, Init, Mlp, Network};
use crate::optim::{Adam, LearningRate};
use crate::params::ParamStore;
use crate::prior::StandardNormal;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;

/// The observation model p(x | z) of the ready-made VAE ([`VaeArchitecture`]). Any other
/// [`Decoder`] plugs in through [`Vae::from_parts`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum VaeLikelihood {
    /// N(f(z), σ² I) with the variance fixed or learned.
    Gaussian(ObservationVariance),
    /// Bernoulli(sigmoid(f(z))), for data in [0, 1].
    Bernoulli,
}

/// The networks of the ready-made VAE: an MLP encoder trunk with two linear heads, and an MLP
/// decoder mirroring the trunk. What a checkpoint must match to be resumed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeArchitecture {
    /// Columns of the data.
    pub input_dim: usize,
    /// Dimension of z.
    pub latent: usize,
    /// Hidden widths of the encoder trunk (at least one layer); the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer.
    pub activation: Activation,
    /// How the weights start.
    pub init: Init,
    /// p(x | z).
    pub likelihood: VaeLikelihood,
    /// With a Gaussian likelihood: train on the data centred by their column means and divided
    /// by one overall scale s (a [`Standardization`] measured on the first training data), so
    /// that the fit is the same in any units and offsets; every density, sample and
    /// reconstruction is reported in the data's own units. A fixed observation variance c then
    /// means c s², a fraction of the data's mean variance per column. Bernoulli observations
    /// are probabilities of data in [0, 1] and are never rescaled: this is ignored for them.
    /// Checkpoints written before this setting existed resume with it off.
    #[serde(default)]
    pub standardize: bool,
}

impl VaeArchitecture {
    /// A VAE for `input_dim`-column data with `latent` dimensions: one hidden layer of 128
    /// ReLU units, U(±1/√fan_in) weights, Gaussian observations on standardised data with
    /// variance 0.7 s² (0.051 on pixels in [0, 1] with the shipped digits' s = 0.27). Change
    /// the fields for anything else.
    pub fn new(input_dim: usize, latent: usize) -> Self {
        VaeArchitecture {
            input_dim,
            latent,
            hidden: vec![128],
            activation: Activation::Relu,
            init: Init::Uniform,
            likelihood: VaeLikelihood::Gaussian(ObservationVariance::Fixed(0.7)),
            standardize: true,
        }
    }

    /// Checks every setting, and that the networks fit in memory.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one; [`Error::TooLarge`] for sizes the
    /// machine cannot hold.
    pub fn validate<T: Real>(&self) -> Result<()> {
        for (name, v) in [
            ("input dimension", self.input_dim),
            ("latent dimension", self.latent),
        ] {
            if v == 0 {
                return Err(Error::invalid(name, 0, "at least 1"));
            }
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::invalid(
                "hidden sizes",
                format!("{:?}", self.hidden),
                "sizes of at least 1",
            ));
        }
        if let VaeLikelihood::Gaussian(ObservationVariance::Fixed(c)) = self.likelihood {
            require_positive("observation variance", c)?;
        }
        // Parameters, their gradients and Adam's two moments.
        let count = self.parameter_count();
        ensure_available::<T>(
            "a VAE",
            format!(
                "{} -> {:?} -> {} ({} parameters)",
                self.input_dim,
                self.hidden,
                self.latent,
                count.map_or("too many".to_string(), |c| c.to_string())
            ),
            count.and_then(|c| c.checked_mul(4)),
        )
    }

    /// The number of learnable values the networks hold (`None` if it overflows).
    pub fn parameter_count(&self) -> Option<usize> {
        let layer = |i: usize, o: usize| entries(&[i, o]).and_then(|w| w.checked_add(o));
        let mut widths = vec![self.input_dim];
        widths.extend(&self.hidden);
        let trunk: Vec<_> = widths.windows(2).map(|w| layer(w[0], w[1])).collect();
        let last = *widths.last().expect("input width");
        let heads = layer(last, self.latent).and_then(|h| h.checked_mul(2));
        let mut back = vec![self.latent];
        back.extend(self.hidden.iter().rev());
        back.push(self.input_dim);
        let decoder: Vec<_> = back.windows(2).map(|w| layer(w[0], w[1])).collect();
        let variance = match self.likelihood {
            VaeLikelihood::Gaussian(ObservationVariance::LearnedScalar) => 1,
            VaeLikelihood::Gaussian(ObservationVariance::LearnedPerDimension) => self.input_dim,
            _ => 0,
        };
        let mut terms = trunk;
        terms.extend(decoder);
        terms.push(heads);
        terms.push(Some(variance));
        total(&terms)
    }
}

/// How a [`Vae`] trains: what a resumed run may change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeTraining {
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Final KL weight β (1 is the ELBO).
    pub beta: f64,
    /// Epochs over which β rises linearly from 0 to `beta` (0: no warm-up).
    pub warmup_epochs: usize,
    /// Where training and evaluation run (the CPU by default; checkpoints written before this
    /// setting existed read back as the CPU).
    #[serde(default)]
    pub device: Device,
    /// Further devices that each take a shard of every training minibatch
    /// ([`TrainerSettings::data_parallel`]); evaluation runs on `device` alone. Empty by
    /// default (and in checkpoints written before this setting existed).
    #[serde(default)]
    pub data_parallel: Vec<Device>,
}

impl Default for VaeTraining {
    /// Batches of 64, Adam at 1e-3, β = 1 without warm-up.
    fn default() -> Self {
        VaeTraining {
            batch_size: 64,
            learning_rate: 1e-3,
            beta: 1.0,
            warmup_epochs: 0,
            device: Device::Cpu,
            data_parallel: Vec::new(),
        }
    }
}

impl VaeTraining {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::invalid("batch size", 0, "at least 1"));
        }
        require_positive("learning rate", self.learning_rate)?;
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(Error::invalid("beta", self.beta, "a finite number >= 0"));
        }
        // The devices: none listed twice.
        self.settings(TrainerSettings::default()).validate()
    }

    /// `base` with this training's batch size and devices.
    fn settings(&self, base: TrainerSettings) -> TrainerSettings {
        TrainerSettings {
            batch_size: Some(self.batch_size),
            device: self.device,
            data_parallel: self.data_parallel.clone(),
            ..base
        }
    }

    fn trainer<'o, T: Real>(&self, store: &ParamStore<T>) -> Result<Trainer<'o, T>> {
        let settings = self.settings(TrainerSettings::default());
        let group = ParamGroup::all("vae", store, Adam::default())
            .with_learning_rate(LearningRate::Constant(self.learning_rate));
        Trainer::new(settings, vec![group])
    }
}

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

/// The shape of one evaluation tape's chunk of `columns`-wide data with `particles` draws per
/// row, as (rows, particles): as many rows as the budget allows with all their particles, or,
/// where one row's particles alone pass it (an IWAE with K = 1000 on 784 pixels), one row with
/// as many of its particles as fit.
fn chunk_shape(particles: usize, columns: usize) -> (usize, usize) {
    let per_row = particles.max(1).saturating_mul(columns.max(1));
    if per_row <= EVALUATION_BUDGET {
        (EVALUATION_BUDGET / per_row, particles)
    } else {
        (1, (EVALUATION_BUDGET / columns.max(1)).max(1))
    }
}

/// One tape's share of an evaluation: rows `start .. start + rows`, `particles` of each row's
/// draws, and the seed of its generator.
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    rows: usize,
    particles: usize,
    seed: u64,
}

/// A row's bound from the bounds of its particle chunks (`(K_c, bound_c)`, K particles in all):
/// the ELBO's estimates are means over particles, so the chunks' are averaged with weights
/// K_c / K; the IWAE's are log-mean-exps, so log Σ_c exp(bound_c + ln K_c) − ln K.
fn combine_particle_chunks(estimator: Estimator, parts: &[(usize, f64)]) -> f64 {
    let k: usize = parts.iter().map(|&(kc, _)| kc).sum();
    let k = k as f64;
    if estimator == Estimator::Iwae {
        let logs: Vec<f64> = parts.iter().map(|&(kc, b)| b + (kc as f64).ln()).collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return top;
        }
        top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln() - k.ln()
    } else {
        parts.iter().map(|&(kc, b)| kc as f64 * b).sum::<f64>() / k
    }
}

/// The encoder of every [`Vae`]: a Gaussian q(z | x) on any network.
pub type VaeEncoder<T> = GaussianEncoder<Box<dyn Network<T>>>;

/// A variational autoencoder: a prior p(z) (N(0, I) unless given), p(x | z) from a decoder
/// network (any [`Decoder`]), q(z | x) from an encoder network, trained by minibatch SGVB with
/// Adam through the engine.
pub struct Vae<T: Real, P: Prior<T> = StandardNormal, D: Decoder<T> = Box<dyn Decoder<T>>> {
    params: ParamStore<T>,
    svi: Svi<P, D, VaeEncoder<T>>,
    /// The ELBO's form: analytic KL when the prior is Gaussian, Monte Carlo otherwise.
    elbo_form: Estimator,
    /// Present for the ready-made networks, so that a checkpoint can rebuild them.
    architecture: Option<VaeArchitecture>,
    training: VaeTraining,
    trainer: Trainer<'static, T>,
    rng: Pcg64,
    epochs_done: usize,
    /// Set by the first epoch when the architecture asks for it.
    standardization: Option<Standardization>,
}

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
    /// The ready-made VAE under a N(0, I) prior, weights drawn from `seed` (which then drives
    /// the shuffling and every draw).
    ///
    /// # Errors
    /// As [`VaeArchitecture::validate`] and [`VaeTraining::validate`].
    pub fn new(architecture: VaeArchitecture, training: VaeTraining, seed: u64) -> Result<Self> {
        let prior = StandardNormal::new(architecture.latent)?;
        Self::with_prior(architecture, training, seed, prior)
    }

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

impl<T: Real, P: Prior<T>> Vae<T, P> {
    /// The ready-made VAE under any prior of the latent dimension. A Gaussian prior gets the
    /// analytic-KL ELBO; any other the Monte Carlo ELBO.
    ///
    /// # Errors
    /// As [`Vae::new`]; [`Error::ShapeMismatch`] if the prior's dimension is not
    /// `architecture.latent`.
    pub fn with_prior(
        architecture: VaeArchitecture,
        training: VaeTraining,
        seed: u64,
        prior: P,
    ) -> Result<Self> {
        architecture.validate::<T>()?;
        training.validate()?;
        let a = &architecture;
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut params = ParamStore::new();
        let encoder_sizes: Vec<usize> = std::iter::once(a.input_dim)
            .chain(a.hidden.iter().copied())
            .collect();
        let trunk = Mlp::new(
            &mut params,
            "encoder.trunk",
            &encoder_sizes,
            a.activation,
            a.activation,
            a.init,
            &mut rng,
        )?;
        let trunk: Box<dyn Network<T>> = Box::new(trunk);
        let encoder =
            GaussianEncoder::new(&mut params, "encoder", trunk, a.latent, a.init, &mut rng)?;
        let sizes: Vec<usize> = std::iter::once(a.latent)
            .chain(a.hidden.iter().rev().copied())
            .chain([a.input_dim])
            .collect();
        let net = Mlp::new(
            &mut params,
            "decoder",
            &sizes,
            a.activation,
            Activation::Identity,
            a.init,
            &mut rng,
        )?;
        let decoder: Box<dyn Decoder<T>> = match a.likelihood {
            VaeLikelihood::Gaussian(variance) => {
                Box::new(GaussianDecoder::new(&mut params, "decoder", net, variance)?)
            }
            VaeLikelihood::Bernoulli => Box::new(BernoulliDecoder::new(net)),
        };
        let mut vae = Vae::from_parts(params, prior, encoder, decoder, training, rng)?;
        vae.architecture = Some(architecture);
        Ok(vae)
    }
}

impl<T: Real, P: Prior<T>, D: Decoder<T>> Vae<T, P, D> {
    /// A VAE from parts built by the caller: the parameters they registered, a prior, an
    /// encoder on any network, any decoder, and the generator that continues from their
    /// initialisation.
    ///
    /// # Errors
    /// As [`VaeTraining::validate`]; [`Error::ShapeMismatch`] if the prior's and the encoder's
    /// latent dimensions differ.
    pub fn from_parts(
        params: ParamStore<T>,
        prior: P,
        encoder: VaeEncoder<T>,
        decoder: D,
        training: VaeTraining,
        rng: Pcg64,
    ) -> Result<Self> {
        training.validate()?;
        let latent = crate::model::Guide::<T>::dim(&encoder);
        if prior.dim() != latent {
            return Err(Error::shape(
                "prior (latent dimension)",
                (1, latent),
                (1, prior.dim()),
            ));
        }
        let elbo_form = if prior.gaussian(&Tape::new()).is_some() {
            Estimator::ElboAnalyticKl
        } else {
            Estimator::Elbo
        };
        let trainer = training.trainer(&params)?;
        Ok(Vae {
            params,
            svi: Svi::new(prior, decoder, encoder),
            elbo_form,
            architecture: None,
            training,
            trainer,
            rng,
            epochs_done: 0,
            standardization: None,
        })
    }

    /// The networks, for the ready-made VAE (`None` for one built from parts).
    pub fn architecture(&self) -> Option<&VaeArchitecture> {
        self.architecture.as_ref()
    }

    /// The training settings.
    pub fn training(&self) -> &VaeTraining {
        &self.training
    }

    /// Changes the training settings (batch size, learning rate, β, warm-up) from the next
    /// epoch on; the networks, the optimizer state and the progress stay.
    ///
    /// # Errors
    /// As [`VaeTraining::validate`].
    pub fn set_training(&mut self, training: VaeTraining) -> Result<()> {
        training.validate()?;
        let settings = training.settings(self.trainer.settings().clone());
        self.trainer.set_settings(settings)?;
        for group in self.trainer.groups_mut() {
            group.set_learning_rate(LearningRate::Constant(training.learning_rate));
        }
        self.training = training;
        Ok(())
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore<T> {
        &self.params
    }

    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Writes the model and its training state to `path` (atomically; see
    /// [`Trainer::save`]).
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

    /// The standardisation the networks work in (`None` before the first epoch, or when the
    /// architecture does not ask for one).
    pub fn standardization(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
    }

    /// `x` in the networks' units.
    fn standardize<'a>(&self, x: &'a DMatrix<T>) -> Cow<'a, DMatrix<T>> {
        match &self.standardization {
            Some(s) => Cow::Owned(s.apply(x)),
            None => Cow::Borrowed(x),
        }
    }

    /// Network outputs in the data's units.
    fn unstandardize(&self, x: DMatrix<T>) -> DMatrix<T> {
        match &self.standardization {
            Some(s) => s.invert(x),
            None => x,
        }
    }

    /// D ln s for `dim` columns: how much a row's log density in the networks' units exceeds
    /// its log density in the data's (0 without a standardisation).
    fn log_jacobian(&self, dim: usize) -> f64 {
        self.standardization
            .as_ref()
            .map_or(0.0, |s| s.log_jacobian(dim))
    }

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

    /// The mean per row of `data` of any bound (`objective`), evaluated in chunks of rows (or,
    /// where one row's particles pass the budget, of one row's particles) that keep each tape
    /// within [`EVALUATION_BUDGET`] entries, so memory stays bounded.
    ///
    /// The chunks run in parallel on rayon's threads, each on an evaluation tape with its own
    /// generator seeded from `rng`. The chunks, their seeds and the order in which their sums
    /// are added depend only on the data's size, never on the thread count: the result is the
    /// same to the bit on any number of threads.
    ///
    /// # Errors
    /// As [`Svi::validate_data`] and [`Objective::validate`]; [`Error::TooLarge`] if even one
    /// row's particles do not fit in memory.
    pub fn bound<R: Rng + ?Sized>(
        &self,
        data: &DMatrix<T>,
        objective: Objective,
        rng: &mut R,
    ) -> Result<f64> {
        objective.validate()?;
        self.svi.validate_data(data)?;
        self.check_evaluation_size(objective.particles, data.ncols())?;
        let log_jacobian = self.log_jacobian(data.ncols());
        let data = &*self.standardize(data);
        let (rows_per_chunk, particles_per_chunk) = chunk_shape(objective.particles, data.ncols());
        let mut chunks = Vec::new();
        for start in (0..data.nrows()).step_by(rows_per_chunk) {
            let rows = rows_per_chunk.min(data.nrows() - start);
            for done in (0..objective.particles).step_by(particles_per_chunk) {
                let particles = particles_per_chunk.min(objective.particles - done);
                let seed = rng.next_u64();
                chunks.push(Chunk {
                    start,
                    rows,
                    particles,
                    seed,
                });
            }
        }
        // The networks and their parameters, not the trainer (whose optimizer is not Sync).
        let (svi, params, device) = (&self.svi, &self.params, self.training.device);
        let sums = chunks
            .par_iter()
            .map(|chunk| {
                // Validated above as a whole; the result is the sum over the chunk's rows.
                let rows = Placed::from(data.rows(chunk.start, chunk.rows).into_owned());
                let mut rng = Pcg64::seed_from_u64(chunk.seed);
                let objective = Objective {
                    particles: chunk.particles,
                    ..objective
                };
                svi.evaluate_batch(params, &rows, &objective, &mut rng, device)
            })
            .collect::<Result<Vec<f64>>>()?;
        let total: f64 = if particles_per_chunk >= objective.particles {
            sums.iter().sum()
        } else {
            // One row per chunk: each row's particle chunks are consecutive.
            let per_row = objective.particles.div_ceil(particles_per_chunk);
            chunks
                .chunks(per_row)
                .zip(sums.chunks(per_row))
                .map(|(parts, bounds)| {
                    let parts: Vec<(usize, f64)> = parts
                        .iter()
                        .map(|c| c.particles)
                        .zip(bounds.iter().copied())
                        .collect();
                    combine_particle_chunks(objective.estimator, &parts)
                })
                .sum()
        };
        Ok(total / data.nrows() as f64 - log_jacobian)
    }

    /// Checks that a bound with `particles` draws per row of `columns`-wide data fits in memory
    /// (what [`Vae::bound`] checks first), so that a program can refuse an evaluation it could
    /// not finish before it spends time training.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the tapes of rayon's threads, each for at least one row with all
    /// its particles, would not fit.
    pub fn check_evaluation_size(&self, particles: usize, columns: usize) -> Result<()> {
        // A tape holds a few matrices of particles x (data + latent) entries per row, and every
        // thread holds one. All of a row's particles are counted, though a row whose particles
        // pass the budget is evaluated in chunks of them: a K whose single row would not fit in
        // memory at once is refused, not left to run for days in chunks.
        let latent = Prior::<T>::dim(&self.svi.prior);
        ensure_available::<T>(
            "an evaluation",
            format!("{particles} particles per row"),
            entries(&[
                chunk_shape(particles, columns).0,
                particles,
                columns.max(1) + latent,
                8,
                rayon::current_num_threads(),
            ]),
        )
    }

    /// Mean ELBO per row of `data` in nats (one draw per row; the KL analytic for a Gaussian
    /// prior).
    ///
    /// # Errors
    /// As [`Svi::validate_data`].
    pub fn elbo<R: Rng + ?Sized>(&self, data: &DMatrix<T>, rng: &mut R) -> Result<f64> {
        self.bound(data, Objective::new(self.elbo_form, 1), rng)
    }

    /// Mean importance-weighted bound per row with `k` samples (Burda et al. 2016): an estimate
    /// of the log-likelihood from below that tightens as `k` grows. Computed in chunks of rows,
    /// so memory stays bounded for any `k` that fits one row.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `k` is 0; as [`Vae::bound`].
    pub fn iwae<R: Rng + ?Sized>(&self, data: &DMatrix<T>, k: usize, rng: &mut R) -> Result<f64> {
        if k == 0 {
            return Err(Error::invalid("IWAE samples", 0, "at least 1"));
        }
        self.bound(data, Objective::new(Estimator::Iwae, k), rng)
    }

    /// Means and standard deviations of q(z | x) for each row.
    pub fn encode(&self, x: &DMatrix<T>) -> (DMatrix<T>, DMatrix<T>) {
        self.svi.guide.encode(&self.params, &self.standardize(x))
    }

    /// E[x | z] for each row of `z`.
    pub fn decode(&self, z: &DMatrix<T>) -> DMatrix<T> {
        let tape = Tape::for_evaluation(&self.params);
        let x = self.svi.likelihood.mean(tape.constant(z.clone()));
        self.unstandardize((*x.value()).clone())
    }

    /// Decodes the encoder means: the model's reconstruction of each row.
    pub fn reconstruct(&self, x: &DMatrix<T>) -> DMatrix<T> {
        self.decode(&self.encode(x).0)
    }

    /// Mean over rows of the squared reconstruction error ‖x − reconstruct(x)‖².
    pub fn reconstruction_error(&self, x: &DMatrix<T>) -> f64 {
        let diff = self.reconstruct(x) - x;
        diff.iter().map(|v| v.to_f64().powi(2)).sum::<f64>() / x.nrows().max(1) as f64
    }

    /// `n` new data points: z drawn from the prior, decoded to E[x | z].
    ///
    /// # Errors
    /// What the prior's [`Prior::sample`] reports (a prior without a sampler).
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<DMatrix<T>> {
        let tape = Tape::for_evaluation(&self.params);
        let z = self.svi.prior.sample(&tape, n, rng)?;
        Ok(self.unstandardize((*self.svi.likelihood.mean(z).value()).clone()))
    }

    /// Decodes `steps` evenly spaced points on the line between the encoder means of `a` and
    /// `b` (single rows), ends included.
    pub fn interpolate(&self, a: &DMatrix<T>, b: &DMatrix<T>, steps: usize) -> DMatrix<T> {
        let (za, zb) = (self.encode(a).0, self.encode(b).0);
        let z = DMatrix::from_fn(steps, za.ncols(), |i, j| {
            let t = T::of_f64(if steps > 1 {
                i as f64 / (steps - 1) as f64
            } else {
                0.0
            });
            za[(0, j)] * (T::one() - t) + zb[(0, j)] * t
        });
        self.decode(&z)
    }

    /// Active latent units (Burda et al. 2016): dimensions j whose encoder mean varies across
    /// the data, Cov_x(E_q(z_j)) > 0.01.
    pub fn active_units(&self, x: &DMatrix<T>) -> usize {
        let means = self.encode(x).0;
        let n = means.nrows() as f64;
        (0..means.ncols())
            .filter(|&j| {
                let col: Vec<f64> = means.column(j).iter().map(|v| v.to_f64()).collect();
                let mean = col.iter().sum::<f64>() / n;
                col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n > 0.01
            })
            .count()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounds of a row's particle chunks, each from its own log weights, combine to the
    /// bound over all of them.
    #[test]
    fn particle_chunks_combine_to_the_bound_over_all_particles() {
        let log_w = [-3.0, -1.5, -2.2, -0.4, -5.0];
        let log_mean_exp = |w: &[f64]| {
            let top = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            top + (w.iter().map(|v| (v - top).exp()).sum::<f64>() / w.len() as f64).ln()
        };
        let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
        let (first, rest) = log_w.split_at(2);
        let iwae = [(2, log_mean_exp(first)), (3, log_mean_exp(rest))];
        let combined = combine_particle_chunks(Estimator::Iwae, &iwae);
        assert!((combined - log_mean_exp(&log_w)).abs() < 1e-12);
        let elbo = [(2, mean(first)), (3, mean(rest))];
        let combined = combine_particle_chunks(Estimator::Elbo, &elbo);
        assert!((combined - mean(&log_w)).abs() < 1e-12);
    }
}
