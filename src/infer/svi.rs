//! The stochastic variational inference loop.

use super::estimator::Objective;
use crate::autodiff::{Gradients, Tape};
use crate::data::{Minibatches, row_block, select_rows};
use crate::error::{Error, Result, require_positive};
use crate::model::{Guide, Likelihood, Prior, Scope};
use crate::optim::{LearningRate, Optimizer};
use crate::params::ParamStore;
use crate::real::{Real, c};
use crate::validate::check_finite;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use std::sync::Arc;

/// The fewest rows a shard of a data-parallel step gets: below this, a thread's share of the
/// work no longer pays for its tape and its synchronisation.
pub const MIN_SHARD_ROWS: usize = 16;

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

    /// The objective on a batch, as an estimate for the whole data set (1x1): `scale` is the
    /// number of data rows over the rows of the minibatch this batch belongs to.
    fn loss<'t, T, R>(
        &self,
        tape: &'t Tape<'t, T>,
        objective: &Objective,
        batch: &Arc<DMatrix<T>>,
        scale: T,
        rng: &mut R,
    ) -> Result<crate::autodiff::Var<'t, T>>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
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

    /// [`Svi::loss`] and its gradient, on a tape of its own.
    fn differentiate<T, R>(
        &self,
        store: &ParamStore<T>,
        objective: &Objective,
        batch: &Arc<DMatrix<T>>,
        scale: T,
        rng: &mut R,
    ) -> Result<(T, Gradients<T>)>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        let tape = Tape::with_params(store);
        let value = self.loss(&tape, objective, batch, scale, rng)?;
        Ok((value.scalar(), tape.backward(-value)))
    }

    /// The objective on `batch` (a minibatch of `n` rows' data set) and its gradient.
    ///
    /// With local latents and a row-wise guide, the objective is a sum over rows: the batch is
    /// cut into shards of consecutive rows, one per thread of rayon's pool (each at least
    /// [`MIN_SHARD_ROWS`] rows), each shard is differentiated on its own tape with its own
    /// generator seeded from `rng`, and the gradients are added in shard order. The numbers then
    /// depend on the seed and on the number of threads, not on the scheduling.
    fn loss_and_gradients<T, R>(
        &self,
        store: &ParamStore<T>,
        objective: &Objective,
        batch: &Arc<DMatrix<T>>,
        n: usize,
        rng: &mut R,
    ) -> Result<(T, Gradients<T>)>
    where
        T: Real,
        P: Prior<T>,
        L: Likelihood<T>,
        G: Guide<T>,
        R: Rng + ?Sized,
    {
        let rows = batch.nrows();
        let scale = c::<T>(n as f64 / rows as f64);
        let shards = if self.likelihood.scope() == Scope::Local && self.guide.row_wise() {
            (rows / MIN_SHARD_ROWS).clamp(1, rayon::current_num_threads())
        } else {
            1
        };
        if shards == 1 {
            return self.differentiate(store, objective, batch, scale, rng);
        }
        let parts: Vec<_> = (0..shards)
            .map(|s| {
                let (start, end) = (s * rows / shards, (s + 1) * rows / shards);
                let part = Arc::new(row_block(batch, start, end - start));
                (part, rng.next_u64())
            })
            .collect();
        let mut results = parts
            .par_iter()
            .map(|(part, seed)| {
                let mut rng = Pcg64::seed_from_u64(*seed);
                self.differentiate(store, objective, part, scale, &mut rng)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter();
        let (mut value, mut grads) = results.next().expect("at least two shards");
        for (v, g) in results {
            value += v;
            grads.add(g);
        }
        Ok((value, grads))
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
        let tape = Tape::for_evaluation(store);
        Ok(self
            .loss(&tape, objective, batch, T::one(), rng)?
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
                && report.elbo.len().is_multiple_of(config.check_every)
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
        let (value, mut grads) = self.loss_and_gradients(store, objective, batch, n, rng)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guide::GaussianEncoder;
    use crate::likelihood::BernoulliDecoder;
    use crate::nn::{Activation, Init, Mlp};
    use crate::params::ParamId;
    use crate::prior::StandardNormal;

    type Vae = Svi<StandardNormal, BernoulliDecoder, GaussianEncoder>;

    /// A small VAE (6 pixels, 2 latents), 32 data rows in [0, 1], and the decoder's output bias.
    fn small_vae() -> (Vae, ParamStore<f64>, Arc<DMatrix<f64>>, ParamId) {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut store = ParamStore::new();
        let (relu, id) = (Activation::Relu, Activation::Identity);
        let trunk = Mlp::new(&mut store, "enc", &[6, 5], relu, relu, Init::He, &mut rng).unwrap();
        let encoder =
            GaussianEncoder::new(&mut store, "q", trunk, 2, Init::Xavier, &mut rng).unwrap();
        let net = Mlp::new(&mut store, "dec", &[2, 5, 6], relu, id, Init::He, &mut rng).unwrap();
        let bias = store
            .ids()
            .find(|&i| store.name(i) == "dec.1.bias")
            .unwrap();
        let svi = Svi::new(
            StandardNormal::new(2).unwrap(),
            BernoulliDecoder::new(net),
            encoder,
        );
        let x = DMatrix::from_fn(32, 6, |i, j| ((i * 7 + j * 3) % 5) as f64 / 4.0);
        (svi, store, Arc::new(x), bias)
    }

    fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.unwrap().install(f)
    }

    #[test]
    fn a_sharded_step_is_the_sum_of_its_shards_each_on_its_own_generator() {
        let (svi, store, x, bias) = small_vae();
        let objective = Objective::default();
        let (value, grads) = on_threads(2, || {
            let mut rng = Pcg64::seed_from_u64(11);
            svi.loss_and_gradients(&store, &objective, &x, 320, &mut rng)
                .unwrap()
        });
        // By hand: rows 0..16 and 16..32, generators seeded by two draws, scale 320 / 32.
        let mut rng = Pcg64::seed_from_u64(11);
        let seeds = [rng.next_u64(), rng.next_u64()];
        let mut want_value = 0.0;
        let mut want_grad = DMatrix::zeros(1, 6);
        for (s, seed) in seeds.into_iter().enumerate() {
            let part = Arc::new(row_block(&x, 16 * s, 16));
            let mut shard_rng = Pcg64::seed_from_u64(seed);
            let (v, g) = svi
                .differentiate(&store, &objective, &part, 10.0, &mut shard_rng)
                .unwrap();
            want_value += v;
            want_grad += g.param(bias).unwrap();
        }
        assert_eq!(value, want_value);
        assert_eq!(grads.param(bias).unwrap(), &want_grad);
    }

    #[test]
    fn sharding_leaves_the_gradient_unbiased() {
        // The mean over many seeds of the decoder bias's gradient, on one thread (one tape) and
        // on two (two shards), must agree within the Monte Carlo error of their difference.
        let (svi, store, x, bias) = small_vae();
        let objective = Objective::default();
        let draws = 400;
        let gradients = |threads: usize| -> Vec<DMatrix<f64>> {
            on_threads(threads, || {
                (0..draws)
                    .map(|seed| {
                        let mut rng = Pcg64::seed_from_u64(seed);
                        let (_, g) = svi
                            .loss_and_gradients(&store, &objective, &x, 32, &mut rng)
                            .unwrap();
                        g.param(bias).unwrap().clone()
                    })
                    .collect()
            })
        };
        let (one, two) = (gradients(1), gradients(2));
        for j in 0..6 {
            let diffs: Vec<f64> = one.iter().zip(&two).map(|(a, b)| a[j] - b[j]).collect();
            let mean = diffs.iter().sum::<f64>() / draws as f64;
            let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws - 1) as f64;
            let se = (var / draws as f64).sqrt();
            assert!(
                mean.abs() < 4.0 * se + 1e-12,
                "column {j}: {mean} vs se {se}"
            );
        }
    }
}
