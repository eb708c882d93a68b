//! The variational autoencoder: amortized SGVB with a neural encoder and decoder. This file
//! holds the model itself, how it is built, and what it computes from its networks (codes,
//! reconstructions, samples); training, evaluation and checkpoints are in the files beside it.

use super::{VaeArchitecture, VaeLikelihood, VaeTraining};
use crate::autodiff::Tape;
use crate::data::Standardization;
use crate::engine::Trainer;
use crate::error::{Error, Result};
use crate::guide::GaussianEncoder;
use crate::infer::{Estimator, Svi};
use crate::likelihood::{BernoulliDecoder, GaussianDecoder};
use crate::model::{Decoder, Prior};
use crate::nn::{Activation, Mlp, Network};
use crate::optim::LearningRate;
use crate::params::ParamStore;
use crate::prior::StandardNormal;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::borrow::Cow;

/// The encoder of every [`Vae`]: a Gaussian q(z | x) on any network.
pub type VaeEncoder<T> = GaussianEncoder<Box<dyn Network<T>>>;

/// A variational autoencoder: a prior p(z) (N(0, I) unless given), p(x | z) from a decoder
/// network (any [`Decoder`]), q(z | x) from an encoder network, trained by minibatch SGVB with
/// Adam through the engine.
pub struct Vae<T: Real, P: Prior<T> = StandardNormal, D: Decoder<T> = Box<dyn Decoder<T>>> {
    pub(super) params: ParamStore<T>,
    pub(super) svi: Svi<P, D, VaeEncoder<T>>,
    /// The ELBO's form: analytic KL when the prior is Gaussian, Monte Carlo otherwise.
    pub(super) elbo_form: Estimator,
    /// Present for the ready-made networks, so that a checkpoint can rebuild them.
    pub(super) architecture: Option<VaeArchitecture>,
    pub(super) training: VaeTraining,
    pub(super) trainer: Trainer<'static, T>,
    pub(super) rng: Pcg64,
    pub(super) epochs_done: usize,
    /// Set by the first epoch when the architecture asks for it.
    pub(super) standardization: Option<Standardization>,
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

    /// The standardisation the networks work in (`None` before the first epoch, or when the
    /// architecture does not ask for one).
    pub fn standardization(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
    }

    /// `x` in the networks' units.
    pub(super) fn standardize<'a>(&self, x: &'a DMatrix<T>) -> Cow<'a, DMatrix<T>> {
        match &self.standardization {
            Some(s) => Cow::Owned(s.apply(x)),
            None => Cow::Borrowed(x),
        }
    }

    /// Network outputs in the data's units.
    pub(super) fn unstandardize(&self, x: DMatrix<T>) -> DMatrix<T> {
        match &self.standardization {
            Some(s) => s.invert(x),
            None => x,
        }
    }

    /// D ln s for `dim` columns: how much a row's log density in the networks' units exceeds
    /// its log density in the data's (0 without a standardisation).
    pub(super) fn log_jacobian(&self, dim: usize) -> f64 {
        self.standardization
            .as_ref()
            .map_or(0.0, |s| s.log_jacobian(dim))
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
