//! The stochastic variational inference loop.

use super::estimator::Objective;
use crate::autodiff::Tape;
use crate::data::check_finite;
use crate::data::{Minibatches, select_rows};
use crate::error::{Error, Result, require_positive};
use crate::model::{Guide, Likelihood, Prior, Scope};
use crate::optim::{LearningRate, Optimizer};
use crate::params::ParamStore;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;
use std::sync::Arc;

/// Settings of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct SviConfig {
    /// The most optimisation steps to take.
    pub steps: usize,
    /// Rows per minibatch; `None` uses all rows every step.
    pub batch_size: Option<usize>,
    /// The bound maximised.
    pub objective: Objective,
    /// Step size schedule.
    pub learning_rate: LearningRate,
    /// Rescale gradients whose joint norm exceeds this.
    pub clip_norm: Option<f64>,
    /// Stop when the mean ELBO of a window of `check_every` steps changes by less than this
    /// fraction from the previous window's (the relative-tolerance rule of Stan's ADVI).
    pub tolerance: Option<f64>,
    /// Window length for `tolerance`, in steps.
    pub check_every: usize,
    /// From this step on, average the parameters over the remaining steps (Polyak–Ruppert
    /// averaging) and return the average: it cancels the Monte Carlo noise of the last steps.
    pub average_from: Option<usize>,
    /// Give up with [`Error::Diverged`] after this many steps in a row with a non-finite loss
    /// or gradient (each such step is skipped: parameters are left as they were).
    pub max_skipped_in_row: usize,
}

impl Default for SviConfig {
    fn default() -> Self {
        SviConfig {
            steps: 5000,
            batch_size: None,
            objective: Objective::default(),
            learning_rate: LearningRate::Constant(0.01),
            clip_norm: None,
            tolerance: None,
            check_every: 100,
            average_from: None,
            max_skipped_in_row: 20,
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
        if let Some(b) = self.batch_size
            && (b == 0 || b > n)
        {
            return Err(Error::invalid(
                "batch size",
                b,
                "between 1 and the number of data rows",
            ));
        }
        self.objective.validate()?;
        self.learning_rate.validate()?;
        if let Some(m) = self.clip_norm {
            require_positive("clip norm", m)?;
        }
        if let Some(t) = self.tolerance {
            require_positive("tolerance", t)?;
        }
        if self.check_every == 0 {
            return Err(Error::invalid("check_every", 0, "at least 1"));
        }
        if self.max_skipped_in_row == 0 {
            return Err(Error::invalid("max_skipped_in_row", 0, "at least 1"));
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
    /// True if the tolerance rule stopped the fit before the step budget.
    pub converged: bool,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped: usize,
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
        if self.prior.dim() != self.guide.dim() {
            return Err(Error::shape(
                "guide (latent dimension)",
                (1, self.prior.dim()),
                (1, self.guide.dim()),
            ));
        }
        self.likelihood.validate(data, self.guide.dim())
    }

    /// The objective on a batch, as an estimate for the whole data set of `n` rows (1x1).
    fn loss<'t, T, R>(
        &self,
        tape: &'t Tape<'t, T>,
        objective: &Objective,
        batch: &Arc<DMatrix<T>>,
        n: usize,
        rng: &mut R,
    ) -> Result<crate::autodiff::Var<'t, T>>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        let scale = c::<T>(n as f64 / batch.nrows() as f64);
        let x = tape.constant_shared(Arc::clone(batch));
        let q = self.guide.family(tape, x);
        Ok(match self.likelihood.scope() {
            Scope::Global => objective
                .estimate(&self.prior, &self.likelihood, &q, x, scale, rng)?
                .sum(),
            Scope::Local => objective
                .estimate(&self.prior, &self.likelihood, &q, x, T::one(), rng)?
                .sum()
                .scale(scale),
        })
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
        self.evaluate_batch(store, &Arc::new(data.clone()), objective, rng)
    }

    /// [`Svi::evaluate`] on a batch already shared and validated by the caller.
    pub(crate) fn evaluate_batch<T, R>(
        &self,
        store: &ParamStore<T>,
        batch: &Arc<DMatrix<T>>,
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
        let tape = Tape::with_params(store);
        Ok(self
            .loss(&tape, objective, batch, batch.nrows(), rng)?
            .scalar()
            .to_f64())
    }

    /// Maximises the objective over the parameters in `store` by stochastic gradient steps.
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
        self.validate_data(data)?;
        config.validate(data.nrows())?;
        let n = data.nrows();
        // Shared with every step's tape; a minibatch is a fresh matrix anyway.
        let full = Arc::new(data.clone());
        let mut batches = config
            .batch_size
            .filter(|&b| b < n)
            .map(|b| Minibatches::new(n, b));
        let mut report = FitReport {
            elbo: Vec::with_capacity(config.steps),
            steps: 0,
            converged: false,
            skipped: 0,
        };
        let mut average = config.average_from.map(|_| Average::new(store));
        let mut skipped_in_row = 0;
        let mut previous_window: Option<f64> = None;
        for step in 0..config.steps {
            report.steps = step + 1;
            let batch = match batches.as_mut() {
                Some(b) => Arc::new(select_rows(data, b.next_batch(rng))),
                None => Arc::clone(&full),
            };
            let lr = c(config.learning_rate.at(step));
            let clip = config.clip_norm.map(c);
            let elbo = match self.step(
                store,
                &batch,
                n,
                optimizer,
                &config.objective,
                lr,
                clip,
                rng,
            )? {
                Step::Taken { elbo } => elbo,
                Step::Skipped { culprit } => {
                    report.skipped += 1;
                    skipped_in_row += 1;
                    if skipped_in_row >= config.max_skipped_in_row {
                        return Err(Error::Diverged {
                            step,
                            consecutive: skipped_in_row,
                            culprit,
                        });
                    }
                    continue;
                }
            };
            skipped_in_row = 0;
            report.elbo.push(elbo);
            if let (Some(avg), Some(from)) = (average.as_mut(), config.average_from)
                && step >= from
            {
                avg.add(store);
            }
            if let Some(tol) = config.tolerance
                && report.elbo.len() % config.check_every == 0
            {
                let window = &report.elbo[report.elbo.len() - config.check_every..];
                let mean = window.iter().sum::<f64>() / window.len() as f64;
                let settled = previous_window.is_some_and(|p| ((mean - p) / mean).abs() < tol);
                previous_window = Some(mean);
                if settled {
                    report.converged = true;
                    break;
                }
            }
        }
        if let Some(avg) = average {
            avg.write(store)?;
        }
        Ok(report)
    }
    /// One optimisation step on `batch`, a minibatch of a data set of `n` rows: build q on a
    /// fresh tape, estimate the objective, differentiate, clip the gradient to `clip_norm` if
    /// given, and move the parameters with step size `lr`. A non-finite loss or gradient leaves
    /// the parameters untouched and says which was at fault.
    ///
    /// [`Svi::fit`] calls this in its loop; call it yourself to write another loop. The batch
    /// is not validated here (that is [`Svi::fit`]'s job, done once).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid objective settings.
    #[allow(clippy::too_many_arguments)]
    pub fn step<T, O, R>(
        &self,
        store: &mut ParamStore<T>,
        batch: &Arc<DMatrix<T>>,
        n: usize,
        optimizer: &mut O,
        objective: &Objective,
        lr: T,
        clip_norm: Option<T>,
        rng: &mut R,
    ) -> Result<Step>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        O: Optimizer<T> + ?Sized,
        R: Rng + ?Sized,
    {
        let (value, mut grads) = {
            let tape = Tape::with_params(store);
            let value = self.loss(&tape, objective, batch, n, rng)?;
            (value.scalar(), tape.backward(-value))
        };
        if !value.is_finite() {
            return Ok(Step::Skipped {
                culprit: "loss".to_string(),
            });
        }
        if let Some(i) = grads.first_non_finite() {
            let id = store.ids().nth(i).expect("gradient index within the store");
            return Ok(Step::Skipped {
                culprit: format!("gradient of parameter `{}`", store.name(id)),
            });
        }
        if let Some(m) = clip_norm {
            grads.clip_norm(m);
        }
        optimizer.step(store, &grads, lr);
        Ok(Step::Taken {
            elbo: value.to_f64(),
        })
    }
}

/// The outcome of [`Svi::step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The parameters moved; `elbo` is the objective's estimate (for the whole data set) before
    /// the move.
    Taken {
        /// The estimate.
        elbo: f64,
    },
    /// Nothing moved: the loss or a gradient was not finite.
    Skipped {
        /// "loss" or "gradient of parameter `name`".
        culprit: String,
    },
}

/// Running mean of every parameter.
struct Average<T: Real> {
    means: Vec<DMatrix<T>>,
    count: usize,
}

impl<T: Real> Average<T> {
    fn new(store: &ParamStore<T>) -> Self {
        Average {
            means: store
                .ids()
                .map(|id| store.get(id).map(|_| T::zero()))
                .collect(),
            count: 0,
        }
    }

    fn add(&mut self, store: &ParamStore<T>) {
        self.count += 1;
        let w = T::one() / c::<T>(self.count as f64);
        for (mean, id) in self.means.iter_mut().zip(store.ids()) {
            // mean ← mean + (θ − mean) / count
            for (m, &p) in mean.as_mut_slice().iter_mut().zip(store.get(id).as_slice()) {
                *m += (p - *m) * w;
            }
        }
    }

    fn write(self, store: &mut ParamStore<T>) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let ids: Vec<_> = store.ids().collect();
        for (mean, id) in self.means.into_iter().zip(ids) {
            store.set(id, mean)?;
        }
        Ok(())
    }
}
