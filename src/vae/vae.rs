//! The variational autoencoder: amortized SGVB with a neural encoder and decoder.

use crate::autodiff::{Tape, Var};
use crate::data::{Minibatches, select_rows_of_transpose};
use crate::error::{Error, Result, require_positive};
use crate::guide::GaussianEncoder;
use crate::infer::{Estimator, GradientEstimator, Objective, Step, Svi};
use crate::likelihood::{BernoulliDecoder, GaussianDecoder, ObservationVariance};
use crate::model::{Likelihood, Prior, Scope};
use crate::nn::{Activation, Init, Mlp};
use crate::optim::Adam;
use crate::params::ParamStore;
use crate::prior::StandardNormal;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;

/// The observation model p(x | z) of a [`Vae`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum VaeLikelihood {
    /// N(f(z), σ² I) with the variance fixed or learned.
    Gaussian(ObservationVariance),
    /// Bernoulli(sigmoid(f(z))), for data in [0, 1].
    Bernoulli,
}

/// Sizes and training settings of a [`Vae`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
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
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Final KL weight β (1 is the ELBO).
    pub beta: f64,
    /// Epochs over which β rises linearly from 0 to `beta` (0: no warm-up).
    pub warmup_epochs: usize,
    /// Seed of the initial weights, the shuffling and the draws.
    pub seed: u64,
}

impl Default for VaeConfig {
    fn default() -> Self {
        VaeConfig {
            input_dim: 64,
            latent: 2,
            hidden: vec![128],
            activation: Activation::Relu,
            init: Init::Uniform,
            likelihood: VaeLikelihood::Gaussian(ObservationVariance::Fixed(0.05)),
            batch_size: 64,
            learning_rate: 1e-3,
            beta: 1.0,
            warmup_epochs: 0,
            seed: 0,
        }
    }
}

impl VaeConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("input dimension", self.input_dim),
            ("latent dimension", self.latent),
            ("batch size", self.batch_size),
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
        require_positive("learning rate", self.learning_rate)?;
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(Error::invalid("beta", self.beta, "a finite number >= 0"));
        }
        if let VaeLikelihood::Gaussian(ObservationVariance::Fixed(c)) = self.likelihood {
            require_positive("observation variance", c)?;
        }
        Ok(())
    }
}

/// The VAE's decoder: either observation model behind one [`Likelihood`].
#[derive(Clone, Debug)]
pub enum VaeDecoder {
    /// Gaussian observations.
    Gaussian(GaussianDecoder),
    /// Bernoulli observations.
    Bernoulli(BernoulliDecoder),
}

impl VaeDecoder {
    /// E[x | z]: the Gaussian mean, or the Bernoulli probabilities.
    pub fn expected<'t, T: Real>(&self, z: Var<'t, T>) -> Var<'t, T> {
        match self {
            VaeDecoder::Gaussian(d) => d.mean(z),
            VaeDecoder::Bernoulli(d) => d.logits(z).sigmoid(),
        }
    }
}

impl<T: Real> Likelihood<T> for VaeDecoder {
    fn scope(&self) -> Scope {
        Scope::Local
    }
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        match self {
            VaeDecoder::Gaussian(d) => d.log_likelihood(x, z),
            VaeDecoder::Bernoulli(d) => d.log_likelihood(x, z),
        }
    }
    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        match self {
            VaeDecoder::Gaussian(d) => d.validate(x, latent_dim),
            VaeDecoder::Bernoulli(d) => d.validate(x, latent_dim),
        }
    }
}

/// What one training epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean objective per training row over the epoch's steps (with the epoch's β).
    pub objective: f64,
    /// The KL weight at the epoch's end.
    pub beta: f64,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped: usize,
}

/// Most steps in a row that may be skipped before training gives up.
const MAX_SKIPPED_IN_ROW: usize = 20;

/// Entries (rows × particles × columns) evaluated on one tape, to bound memory.
const EVALUATION_BUDGET: usize = 1 << 22;

/// A variational autoencoder: a prior p(z) (N(0, I) unless given), p(x | z) from a decoder
/// network, q(z | x) from an encoder network, trained by minibatch SGVB with Adam.
pub struct Vae<T: Real, P: Prior<T> = StandardNormal> {
    pub(super) config: VaeConfig,
    pub(super) params: ParamStore<T>,
    pub(super) svi: Svi<P, VaeDecoder, GaussianEncoder>,
    /// The ELBO's form: analytic KL when the prior is Gaussian, Monte Carlo otherwise.
    pub(super) elbo_form: Estimator,
    pub(super) optimizer: Adam<T>,
    pub(super) rng: Pcg64,
    pub(super) epochs_done: usize,
    pub(super) steps_done: usize,
}

impl<T: Real> Vae<T> {
    /// Builds the networks with weights drawn from the seed, under a N(0, I) prior.
    ///
    /// # Errors
    /// As [`VaeConfig::validate`].
    pub fn new(config: VaeConfig) -> Result<Self> {
        let prior = StandardNormal::new(config.latent)?;
        Self::with_prior(config, prior)
    }
}

impl<T: Real, P: Prior<T>> Vae<T, P> {
    /// Builds the networks with weights drawn from the seed, under any prior of the latent
    /// dimension. A Gaussian prior gets the analytic-KL ELBO; any other the Monte Carlo ELBO.
    ///
    /// # Errors
    /// As [`VaeConfig::validate`]; [`Error::ShapeMismatch`] if the prior's dimension is not
    /// `config.latent`.
    pub fn with_prior(config: VaeConfig, prior: P) -> Result<Self> {
        config.validate()?;
        if prior.dim() != config.latent {
            return Err(Error::shape(
                "prior (latent dimension)",
                (1, config.latent),
                (1, prior.dim()),
            ));
        }
        let elbo_form = if prior.gaussian(&Tape::new()).is_some() {
            Estimator::ElboAnalyticKl
        } else {
            Estimator::Elbo
        };
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let mut params = ParamStore::new();
        let c = &config;
        let encoder_sizes: Vec<usize> = std::iter::once(c.input_dim)
            .chain(c.hidden.iter().copied())
            .collect();
        let trunk = Mlp::new(
            &mut params,
            "encoder.trunk",
            &encoder_sizes,
            c.activation,
            c.activation,
            c.init,
            &mut rng,
        )?;
        let encoder =
            GaussianEncoder::new(&mut params, "encoder", trunk, c.latent, c.init, &mut rng)?;
        let sizes: Vec<usize> = std::iter::once(c.latent)
            .chain(c.hidden.iter().rev().copied())
            .chain([c.input_dim])
            .collect();
        let net = Mlp::new(
            &mut params,
            "decoder",
            &sizes,
            c.activation,
            Activation::Identity,
            c.init,
            &mut rng,
        )?;
        let decoder = match c.likelihood {
            VaeLikelihood::Gaussian(variance) => {
                VaeDecoder::Gaussian(GaussianDecoder::new(&mut params, "decoder", net, variance)?)
            }
            VaeLikelihood::Bernoulli => VaeDecoder::Bernoulli(BernoulliDecoder::new(net)),
        };
        let svi = Svi::new(prior, decoder, encoder);
        Ok(Vae {
            config,
            params,
            svi,
            elbo_form,
            optimizer: Adam::default(),
            rng,
            epochs_done: 0,
            steps_done: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore<T> {
        &self.params
    }

    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The KL weight after `steps` steps of `steps_per_epoch`: linear from 0 to β over the
    /// warm-up epochs.
    fn beta_at(&self, steps: usize, steps_per_epoch: usize) -> f64 {
        let warmup = self.config.warmup_epochs * steps_per_epoch;
        if warmup == 0 {
            self.config.beta
        } else {
            self.config.beta * (steps as f64 / warmup as f64).min(1.0)
        }
    }

    /// One pass over `train` in shuffled minibatches (the analytic-KL ELBO, one draw per row,
    /// Adam). `on_batch(rows_done)` is called after every step, for progress displays.
    ///
    /// # Errors
    /// Data that the model cannot fit ([`Svi::validate_data`]); [`Error::Diverged`] after too
    /// many non-finite steps in a row (the parameters stay at the last finite values).
    pub fn train_epoch(
        &mut self,
        train: &DMatrix<T>,
        mut on_batch: impl FnMut(usize),
    ) -> Result<EpochReport> {
        self.svi.validate_data(train)?;
        let n = train.nrows();
        let batch = self.config.batch_size.min(n);
        let steps_per_epoch = n.div_ceil(batch);
        let mut batches = Minibatches::new(n, batch);
        let (mut total, mut skipped, mut in_row, mut rows) = (0.0, 0, 0, 0);
        let mut beta = self.beta_at(self.steps_done, steps_per_epoch);
        // Minibatches are gathered from the transpose, where each data row is contiguous: one
        // transpose per epoch is cheaper than gathering across every column at every step.
        let train_t = train.transpose();
        for _ in 0..steps_per_epoch {
            let x = Arc::new(select_rows_of_transpose(
                &train_t,
                batches.next_batch(&mut self.rng),
            ));
            beta = self.beta_at(self.steps_done, steps_per_epoch);
            let objective = Objective {
                estimator: self.elbo_form,
                particles: 1,
                gradient: GradientEstimator::Reparameterization,
                kl_weight: beta,
            };
            let lr = T::of_f64(self.config.learning_rate);
            let step = self.svi.step(
                &mut self.params,
                &x,
                n,
                &mut self.optimizer,
                &objective,
                lr,
                None,
                &mut self.rng,
            )?;
            self.steps_done += 1;
            rows += x.nrows();
            match step {
                Step::Taken { elbo } => {
                    // The step's estimate stands for all n rows; this batch's share is B/n of it.
                    total += elbo * x.nrows() as f64 / n as f64;
                    in_row = 0;
                }
                Step::Skipped { culprit } => {
                    skipped += 1;
                    in_row += 1;
                    if in_row >= MAX_SKIPPED_IN_ROW {
                        return Err(Error::Diverged {
                            step: self.steps_done - 1,
                            consecutive: in_row,
                            culprit,
                        });
                    }
                }
            }
            on_batch(rows);
        }
        self.epochs_done += 1;
        Ok(EpochReport {
            epoch: self.epochs_done,
            objective: total / n as f64,
            beta,
            skipped,
        })
    }

    /// The mean per row of `data` of any bound (`objective`), evaluated in chunks of rows that
    /// keep each tape within a fixed budget of entries, so memory stays bounded.
    ///
    /// # Errors
    /// As [`Svi::validate_data`] and [`Objective::validate`].
    pub fn bound<R: Rng + ?Sized>(
        &self,
        data: &DMatrix<T>,
        objective: Objective,
        rng: &mut R,
    ) -> Result<f64> {
        objective.validate()?;
        self.svi.validate_data(data)?;
        let rows_per_chunk =
            (EVALUATION_BUDGET / (objective.particles * data.ncols().max(1))).max(1);
        let mut total = 0.0;
        for start in (0..data.nrows()).step_by(rows_per_chunk) {
            let rows = rows_per_chunk.min(data.nrows() - start);
            // Validated above as a whole; the result is the sum over the chunk's rows.
            let chunk = Arc::new(data.rows(start, rows).into_owned());
            total += self
                .svi
                .evaluate_batch(&self.params, &chunk, &objective, rng)?;
        }
        Ok(total / data.nrows() as f64)
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
    /// so memory stays bounded for any `k`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `k` is 0; as [`Svi::validate_data`].
    pub fn iwae<R: Rng + ?Sized>(&self, data: &DMatrix<T>, k: usize, rng: &mut R) -> Result<f64> {
        if k == 0 {
            return Err(Error::invalid("IWAE samples", 0, "at least 1"));
        }
        self.bound(data, Objective::new(Estimator::Iwae, k), rng)
    }

    /// Means and standard deviations of q(z | x) for each row.
    pub fn encode(&self, x: &DMatrix<T>) -> (DMatrix<T>, DMatrix<T>) {
        self.svi.guide.encode(&self.params, x)
    }

    /// E[x | z] for each row of `z`.
    pub fn decode(&self, z: &DMatrix<T>) -> DMatrix<T> {
        let tape = Tape::for_evaluation(&self.params);
        let x = self.svi.likelihood.expected(tape.constant(z.clone()));
        (*x.value()).clone()
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

    /// `n` new data points: z from the prior, decoded to E[x | z].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the prior cannot be sampled (only Gaussian priors can).
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<DMatrix<T>> {
        let tape = Tape::new();
        let prior = self.svi.prior.gaussian(&tape).ok_or_else(|| {
            Error::invalid("prior", "non-Gaussian", "a Gaussian prior to sample from")
        })?;
        let z = prior.rsample(n, rng).value();
        Ok(self.decode(&z))
    }

    /// Decodes `steps` evenly spaced points on the line between the encoder means of `a` and
    /// `b` (single rows), ends included.
    pub fn interpolate(&self, a: &DMatrix<T>, b: &DMatrix<T>, steps: usize) -> DMatrix<T> {
        let (za, zb) = (self.encode(a).0, self.encode(b).0);
        let z = DMatrix::from_fn(steps, self.config.latent, |i, j| {
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
