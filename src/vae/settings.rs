//! The settings of a [`Vae`](super::Vae): the ready-made networks ([`VaeArchitecture`], with
//! the observation model [`VaeLikelihood`]), how it trains ([`VaeTraining`]), and their checks.

use crate::backend::Device;
use crate::engine::{ParamGroup, Trainer, TrainerSettings};
use crate::error::{Error, Result, require_positive};
use crate::likelihood::ObservationVariance;
use crate::memory::{ensure_available, entries, total};
use crate::nn::{Activation, Init};
use crate::optim::{Adam, LearningRate};
use crate::params::ParamStore;
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// The observation model p(x | z) of the ready-made VAE ([`VaeArchitecture`]). Any other
/// [`Decoder`] plugs in through [`Vae::from_parts`].
///
/// [`Decoder`]: crate::model::Decoder
/// [`Vae::from_parts`]: super::Vae::from_parts
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
    ///
    /// [`Standardization`]: crate::data::Standardization
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

/// How a [`Vae`](super::Vae) trains: what a resumed run may change.
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
    pub(super) fn settings(&self, base: TrainerSettings) -> TrainerSettings {
        TrainerSettings {
            batch_size: Some(self.batch_size),
            device: self.device,
            data_parallel: self.data_parallel.clone(),
            ..base
        }
    }

    /// The trainer of a VAE whose parameters are `store`: Adam at this learning rate on all
    /// of them.
    pub(super) fn trainer<'o, T: Real>(&self, store: &ParamStore<T>) -> Result<Trainer<'o, T>> {
        let settings = self.settings(TrainerSettings::default());
        let group = ParamGroup::all("vae", store, Adam::default())
            .with_learning_rate(LearningRate::Constant(self.learning_rate));
        Trainer::new(settings, vec![group])
    }
}
