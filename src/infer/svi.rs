//! The stochastic variational inference loop.

use super::estimator::Objective;
use super::laplace::{Laplace, laplace};
use crate::autodiff::{Tape, Var};
use crate::backend::{Device, Placed};
use crate::engine::{Batch, Loss, ParamGroup, StopReason, Trainer, TrainerSettings};
use crate::error::{Error, Result, require_positive};
use crate::model::{GaussianGuide, Guide, Likelihood, Prior, Scope};
use crate::optim::{LearningRate, Optimizer};
use crate::params::ParamStore;
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// Settings of a fit: the bound, the step budget and the step sizes; the loop's own settings
/// (minibatches, convergence, averaging, divergence) are the engine's [`TrainerSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct SviConfig {
    /// The most optimisation steps to take.
    pub steps: usize,
    /// The bound maximised.
    pub objective: Objective,
    /// Step size schedule.
    pub learning_rate: LearningRate,
    /// Rescale gradients whose joint norm exceeds this.
    pub clip_norm: Option<f64>,
    /// Minibatch size, tolerance rule, Polyak averaging, skipped-step limit.
    pub trainer: TrainerSettings,
}

/// The default convergence tolerance of a fit, in nats of the bound per window of steps
/// ([`TrainerSettings::tolerance`]).
pub const DEFAULT_TOLERANCE: f64 = 1e-3;

/// The default precision of a fit's averaged parameters ([`TrainerSettings::parameter_tolerance`]):
/// a standard error of 0.005 in the guide's units, which are posterior standard deviations for
/// a global guide started at its Laplace approximation.
pub const DEFAULT_PARAMETER_TOLERANCE: f64 = 0.005;

impl Default for SviConfig {
    /// At most 10,000 steps of the ELBO with 4 particles and the path-derivative gradient, full
    /// batches, Adam's step size decaying from 0.01 to 1e-4 over those steps; the fit stops when
    /// the bound has settled (the convergence rule with [`DEFAULT_TOLERANCE`] nats per window
    /// of 100 steps) and the parameters averaged since are known to
    /// [`DEFAULT_PARAMETER_TOLERANCE`]. If it runs out of steps, the parameters averaged over
    /// the second half are left. Made for a global guide started at its Laplace approximation
    /// ([`Svi::start_at_laplace`]), whose units are posterior standard deviations.
    fn default() -> Self {
        let steps = 10_000;
        SviConfig {
            steps,
            objective: Objective {
                particles: 4,
                ..Objective::default()
            },
            learning_rate: LearningRate::Exponential {
                start: 0.01,
                end: 1e-4,
                steps,
            },
            clip_norm: None,
            trainer: TrainerSettings {
                tolerance: Some(DEFAULT_TOLERANCE),
                parameter_tolerance: Some(DEFAULT_PARAMETER_TOLERANCE),
                average_from: Some(steps / 2),
                ..TrainerSettings::default()
            },
        }
    }
}

impl SviConfig {
    /// Checks every setting against `n` data rows.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad setting.
    pub fn validate(&self, n: usize) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::invalid("steps", 0, "at least 1"));
        }
        if let Some(b) = self.trainer.batch_size
            && b > n
        {
            return Err(Error::invalid(
                "batch size",
                b,
                "between 1 and the number of data rows",
            ));
        }
        self.trainer.validate()?;
        self.objective.validate()?;
        self.learning_rate.validate()?;
        if let Some(m) = self.clip_norm {
            require_positive("clip norm", m)?;
        }
        Ok(())
    }
}

/// What a fit did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// The ELBO estimate (for the whole data set) at each step that was taken.
    pub elbo: Vec<f64>,
    /// Steps run, including skipped ones.
    pub steps: usize,
    /// True if the convergence rule ([`TrainerSettings::tolerance`]) ended the fit: its bound
    /// had stopped rising. False if it ran out of steps first — then the fit is a guess, not a
    /// result: give it more steps, or a better start ([`Svi::start_at_laplace`]).
    pub converged: bool,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped: usize,
    /// Why the fit ended.
    pub stop: StopReason,
}

/// A model to fit: prior, likelihood and guide.
#[derive(Clone, Debug)]
pub struct Svi<P, L, G> {
    /// p(z).
    pub prior: P,
    /// p(x | z).
    pub likelihood: L,
    /// q(z) or q(z | x).
    pub guide: G,
}

impl<P, L, G> Svi<P, L, G> {
    /// Bundles the three parts.
    pub fn new(prior: P, likelihood: L, guide: G) -> Self {
        Svi {
            prior,
            likelihood,
            guide,
        }
    }

    /// Checks that `data` can be fitted: rows, finite values, dimensions that agree with the
    /// prior, guide and likelihood.
    ///
    /// # Errors
    /// [`Error::EmptyData`], [`Error::NonFiniteData`], [`Error::ShapeMismatch`] or what the
    /// likelihood's `validate` says.
    pub fn validate_data<T: Real>(&self, data: &DMatrix<T>) -> Result<()>
    where
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
    {
        if data.nrows() == 0 {
            return Err(Error::EmptyData { what: "data" });
        }
        check_finite("data", data)?;
        self.check_dimensions(data)
    }

    /// The part of [`Svi::validate_data`] the model adds to the engine's own checks (rows,
    /// finite values): dimensions that agree with the prior, guide and likelihood.
    fn check_dimensions<T: Real>(&self, data: &DMatrix<T>) -> Result<()>
    where
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
    {
        if self.prior.dim() != self.guide.dim() {
            return Err(Error::shape(
                "guide (latent dimension)",
                (1, self.prior.dim()),
                (1, self.guide.dim()),
            ));
        }
        self.likelihood.validate(data, self.guide.dim())
    }

    /// The Laplace approximation of the posterior of a global latent: the mode of
    /// log p(x, z) over the whole of `data` by Newton's method (from z = 0), and the curvature
    /// there, with the model's own parameters held at their values in `store`.
    ///
    /// # Errors
    /// As [`Svi::validate_data`]; [`Error::InvalidParameter`] for a local latent (each row
    /// has its own: use an encoder's or the guide's initial values);
    /// [`Error::NoLaplace`] if log p(x, z) is not finite at the start or not concave where the
    /// search ends.
    pub fn laplace<T>(&self, store: &ParamStore<T>, data: &DMatrix<T>) -> Result<Laplace>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
    {
        self.laplace_from(store, data, DVector::zeros(self.guide.dim()))
    }

    /// [`Svi::laplace`] with Newton's method started at `start` rather than at z = 0 (a
    /// program's prior median, say).
    ///
    /// # Errors
    /// As [`Svi::laplace`]; [`Error::ShapeMismatch`] for a start of the wrong dimension.
    pub fn laplace_from<T>(
        &self,
        store: &ParamStore<T>,
        data: &DMatrix<T>,
        start: DVector<f64>,
    ) -> Result<Laplace>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
    {
        self.validate_data(data)?;
        if self.likelihood.scope() != Scope::Global {
            return Err(Error::invalid(
                "latent scope",
                "local",
                "a global latent for a Laplace approximation",
            ));
        }
        if start.len() != self.guide.dim() {
            return Err(Error::shape(
                "Laplace start",
                (self.guide.dim(), 1),
                (start.len(), 1),
            ));
        }
        laplace(&self.prior, &self.likelihood, store, data, start)
    }

    /// Starts a global Gaussian guide at the Laplace approximation ([`Svi::laplace`]): q at the
    /// posterior's mode with the curvature's scales (the exact posterior when it is Gaussian;
    /// its mean-field optimum for a diagonal guide), and later steps measured in those scales
    /// ([`GaussianGuide::start_at`]). Where a fit of a global latent should begin: it makes
    /// the fit indifferent to the data's units, offsets and feature scales.
    ///
    /// # Errors
    /// As [`Svi::laplace`] and [`GaussianGuide::start_at`].
    pub fn start_at_laplace<T>(
        &self,
        store: &mut ParamStore<T>,
        data: &DMatrix<T>,
    ) -> Result<Laplace>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: GaussianGuide<T>,
    {
        let approximation = self.laplace(store, data)?;
        self.guide.start_at(
            store,
            &approximation.mode.map(T::of_f64),
            &approximation.precision.map(T::of_f64),
        )?;
        Ok(approximation)
    }

    /// The bound on a batch, as an estimate for the whole data set (1x1), times `sign` (1, or
    /// −1 for a loss): `scale` is the number of data rows over the rows of the minibatch this
    /// batch belongs to. The sign rides on a scaling the bound needs anyway where it can (a
    /// product with ±1 is exact, so the bits are those of a negation), which on a device saves a
    /// launch forward and one back.
    fn bound<'t, T, R>(
        &self,
        tape: &'t Tape<'t, T>,
        objective: &Objective,
        batch: &Placed<T>,
        (scale, sign): (T, T),
        rng: &mut R,
    ) -> Result<Var<'t, T>>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        let x = tape.constant_placed(batch);
        let q = self.guide.family(tape, x);
        Ok(match self.likelihood.scope() {
            Scope::Global => objective
                .estimate(&self.prior, &self.likelihood, &q, x, scale, rng)?
                .sum()
                .scale(sign),
            Scope::Local => objective
                .estimate(&self.prior, &self.likelihood, &q, x, T::one(), rng)?
                .sum()
                .scale(sign * scale),
        })
    }

    /// The negative of `objective` as a [`Loss`] for the engine: what [`Svi::fit`] minimises,
    /// for a caller who drives a [`Trainer`] itself (with several parameter groups, say).
    pub fn loss(&self, objective: Objective) -> SviLoss<'_, P, L, G> {
        SviLoss {
            svi: self,
            objective,
        }
    }

    /// Estimates the objective for the whole of `data` with the current parameters (no
    /// gradient step): the ELBO with many particles, say, or the IWAE bound.
    ///
    /// # Errors
    /// As [`Svi::fit`] for invalid data or settings.
    pub fn evaluate<T, R>(
        &self,
        store: &ParamStore<T>,
        data: &DMatrix<T>,
        objective: &Objective,
        rng: &mut R,
    ) -> Result<f64>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        self.validate_data(data)?;
        self.evaluate_batch(
            store,
            &Placed::from(data.clone()),
            objective,
            rng,
            Device::Cpu,
        )
    }

    /// [`Svi::evaluate`] on a batch already shared and validated by the caller, on a tape on
    /// `device`.
    pub(crate) fn evaluate_batch<T, R>(
        &self,
        store: &ParamStore<T>,
        batch: &Placed<T>,
        objective: &Objective,
        rng: &mut R,
        device: Device,
    ) -> Result<f64>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        let tape = Tape::for_evaluation(store).on_device(device)?;
        let bound = self.bound(&tape, objective, batch, (T::one(), T::one()), rng)?;
        tape.settle_checks()?;
        Ok(bound.try_scalar()?.to_f64())
    }

    /// Maximises the objective over the parameters in `store` by stochastic gradient steps,
    /// through the engine ([`Trainer::run`]) with one parameter group holding every parameter.
    ///
    /// Each step draws a minibatch, builds q on a fresh tape, estimates the bound, and moves
    /// the parameters with `optimizer`. A step with a non-finite loss or gradient is skipped;
    /// too many in a row end the fit with [`Error::Diverged`], leaving the store at the last
    /// good parameters.
    ///
    /// # Errors
    /// [`Error::EmptyData`], [`Error::NonFiniteData`] or [`Error::ShapeMismatch`] for bad data;
    /// [`Error::InvalidParameter`] for bad settings; [`Error::Diverged`] as above.
    pub fn fit<T, O, R>(
        &self,
        store: &mut ParamStore<T>,
        data: &DMatrix<T>,
        optimizer: &mut O,
        config: &SviConfig,
        rng: &mut R,
    ) -> Result<FitReport>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        O: Optimizer<T> + ?Sized,
        R: Rng + ?Sized,
    {
        // The data are checked by the engine (rows, finite values) and the loss (dimensions).
        config.validate(data.nrows())?;
        let group = ParamGroup::all("all", store, optimizer)
            .with_learning_rate(config.learning_rate)
            .with_clip_norm(config.clip_norm);
        let mut trainer = Trainer::new(config.trainer.clone(), vec![group])?;
        let run = trainer.run(
            &self.loss(config.objective),
            store,
            data,
            rng,
            config.steps,
            &mut [],
        )?;
        Ok(FitReport {
            elbo: run.losses.iter().map(|l| -l).collect(),
            steps: run.steps,
            converged: run.stop == StopReason::Converged,
            skipped: run.skipped,
            stop: run.stop,
        })
    }
}

/// An [`Svi`] model's bound, negated, as the engine's [`Loss`] (made by [`Svi::loss`]).
#[derive(Clone, Copy, Debug)]
pub struct SviLoss<'a, P, L, G> {
    svi: &'a Svi<P, L, G>,
    objective: Objective,
}

impl<T, P, L, G> Loss<T> for SviLoss<'_, P, L, G>
where
    T: Real,
    P: Prior<T>,
    L: Likelihood<T>,
    G: Guide<T>,
{
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        let negated = (batch.scale, -T::one());
        self.svi.bound(tape, &self.objective, batch.x, negated, rng)
    }

    /// With local latents and a row-wise guide, the bound is a sum over rows.
    fn row_separable(&self) -> bool {
        self.svi.likelihood.scope() == Scope::Local && self.svi.guide.row_wise()
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.objective.validate()?;
        self.svi.check_dimensions(data)
    }
}
