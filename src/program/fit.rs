//! Fitting a program with an automatic guide, and what the fit gives back.

use super::Model;
use super::compiled::{NoLocals, Program};
use super::draws::{Draws, Predictions};
use super::site::entry_names;
use super::trace::Mode;
use crate::autodiff::Tape;
use crate::engine::TrainerSettings;
use crate::error::{Error, Result};
use crate::guide::{AutoGuide, GuideFamily};
use crate::infer::{FitReport, Laplace, Svi, SviConfig, chunked};
use crate::model::{GaussianGuide, Guide, VariationalFamily, check_columns};
use crate::optim::{Adam, LearningRate};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use std::sync::Arc;

/// The posterior approximation, over the unconstrained parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approximation {
    /// Independent Gaussians (mean-field).
    Diagonal,
    /// One Gaussian with a full covariance.
    FullRank,
    /// A Gaussian whose covariance is of rank r plus a diagonal.
    LowRank {
        /// r, at most the number of unconstrained coordinates.
        rank: usize,
    },
    /// The mode (MAP) of the density of the unconstrained parameters, fitted by SVI with a
    /// point mass; summaries have sd 0.
    Map,
    /// The Laplace approximation: the mode by Newton's method and the Gaussian of its
    /// curvature, with no stochastic fit.
    Laplace,
}

impl Approximation {
    /// The guide family it fits (a full-rank Gaussian holds the Laplace approximation).
    fn guide_family(self) -> GuideFamily {
        match self {
            Approximation::Diagonal => GuideFamily::Diagonal,
            Approximation::FullRank | Approximation::Laplace => GuideFamily::FullRank,
            Approximation::LowRank { rank } => GuideFamily::LowRank { rank },
            Approximation::Map => GuideFamily::PointMass,
        }
    }

    /// A short name: `diag`, `full`, `lowrank`, `map`, `laplace`.
    pub fn name(self) -> &'static str {
        match self {
            Approximation::Diagonal => "diag",
            Approximation::FullRank => "full",
            Approximation::LowRank { .. } => "lowrank",
            Approximation::Map => "map",
            Approximation::Laplace => "laplace",
        }
    }
}

/// Where the guide starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// At the Laplace approximation — the mode (found by Newton's method from the prior
    /// median) and its curvature's scales — so that steps are measured in posterior sds.
    /// Where there is no mode (a hierarchical scale whose density grows without bound towards
    /// 0, say), the fit starts at the prior median instead and says so ([`Start`]).
    Map,
    /// At the prior median of every `sample`d parameter (u = 0 for a `param`), sd 1 in the
    /// unconstrained space.
    PriorMedian,
}

/// Settings of [`fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitSettings {
    /// The approximation.
    pub approximation: Approximation,
    /// Where it starts.
    pub init: Init,
    /// The stochastic fit (not used by [`Approximation::Laplace`]).
    pub svi: SviConfig,
}

/// The default precision of a program fit's averaged parameters, in posterior sds (from the
/// Laplace start): 0.02, the Monte Carlo error of a posterior mean from 2,500 draws, so that
/// the fit is known about as well as summaries from a few thousand draws can show.
pub const PROGRAM_PARAMETER_TOLERANCE: f64 = 0.02;

/// The default step budget of a program fit. Adam's step size decays from 0.01 to 1e-4 over it;
/// fits stop as soon as the convergence rule is met (eight schools: 8,000–25,000 steps, under
/// a second). A schedule of 10,000 steps decayed before the hierarchical scale had settled.
pub const PROGRAM_STEPS: usize = 40_000;

impl Default for FitSettings {
    /// A full-rank Gaussian from the Laplace start; [`SviConfig::default`] but for a budget of
    /// [`PROGRAM_STEPS`] and a parameter precision of [`PROGRAM_PARAMETER_TOLERANCE`].
    fn default() -> Self {
        let defaults = SviConfig::default();
        let svi = SviConfig {
            steps: PROGRAM_STEPS,
            learning_rate: LearningRate::Exponential {
                start: 0.01,
                end: 1e-4,
                steps: PROGRAM_STEPS,
            },
            trainer: TrainerSettings {
                average_from: Some(PROGRAM_STEPS / 2),
                parameter_tolerance: Some(PROGRAM_PARAMETER_TOLERANCE),
                ..defaults.trainer
            },
            ..defaults
        };
        FitSettings {
            approximation: Approximation::FullRank,
            init: Init::Map,
            svi,
        }
    }
}

/// Where a fit started.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// At the Laplace approximation.
    Laplace(Laplace),
    /// At the prior median; with the reason, when a Laplace start was asked for and failed.
    PriorMedian {
        /// Why the Laplace start was not used, if it was asked for.
        fallback_reason: Option<String>,
    },
}

/// A fitted program: its guide's parameters, how the fit went, and what can be drawn from it.
pub struct Fit<'p, M, T: Real, G = NoLocals> {
    program: &'p Program<M, T, G>,
    store: ParamStore<T>,
    guide: AutoGuide,
    approximation: Approximation,
    start: Start,
    report: Option<FitReport>,
}

/// Fits `program` on the data it was compiled with, in a store of its own.
///
/// # Errors
/// [`Error::InvalidParameter`] for bad settings (a rank above the dimension, say);
/// [`Error::NoLaplace`] if [`Approximation::Laplace`] finds no mode; [`Error::Diverged`] if the
/// fit kept meeting non-finite values (its culprit names the model's own error, if it reported
/// one); what the model reports.
pub fn fit<'p, M, T, R>(
    program: &'p Program<M, T>,
    settings: &FitSettings,
    rng: &mut R,
) -> Result<Fit<'p, M, T>>
where
    M: Model<T>,
    T: Real,
    R: Rng,
{
    fit_in(program, ParamStore::new(), settings, rng)
}

/// [`fit`] with the parameters in `store`: where a program's local guide keeps its own (an
/// encoder's weights, or free parameters per row), which the fit trains with the global guide.
/// A program with local latents has no Laplace start (its likelihood is a bound over them):
/// it starts at the prior median.
///
/// # Errors
/// As [`fit`].
pub fn fit_in<'p, M, T, G, R>(
    program: &'p Program<M, T, G>,
    mut store: ParamStore<T>,
    settings: &FitSettings,
    rng: &mut R,
) -> Result<Fit<'p, M, T, G>>
where
    M: Model<T>,
    T: Real,
    G: Guide<T>,
    R: Rng,
{
    let dim = program.dim();
    let name = (0..)
        .map(|k| {
            if k == 0 {
                "q".to_string()
            } else {
                format!("q{k}")
            }
        })
        .find(|n| store.id(&format!("{n}.mean")).is_none())
        .expect("a free name");
    let guide = AutoGuide::new(
        &mut store,
        &name,
        dim,
        settings.approximation.guide_family(),
        T::one(),
    )?;
    let svi = Svi::new(program, program, guide);
    let median = program.prior_median(rng)?;
    let wants_laplace =
        settings.init == Init::Map || settings.approximation == Approximation::Laplace;
    let laplace = match (wants_laplace, program.local_dim()) {
        (false, _) => None,
        (true, 0) => Some(svi.laplace_from(&store, program.data(), median.clone())),
        (true, _) => Some(Err(Error::NoLaplace {
            problem: "a program with local latents has none (its likelihood is a bound over them)",
        })),
    };
    let start = match laplace {
        Some(Ok(l)) if l.converged => {
            svi.guide.start_at(
                &mut store,
                &l.mode.map(T::of_f64),
                &l.precision.map(T::of_f64),
            )?;
            Start::Laplace(l)
        }
        Some(outcome) => {
            let reason = match outcome {
                Ok(_) => "Newton's method did not settle on a mode".to_string(),
                Err(e) => e.to_string(),
            };
            if settings.approximation == Approximation::Laplace {
                return Err(Error::NoLaplace {
                    problem: "no mode of the unconstrained posterior was found",
                });
            }
            start_at_prior_median(&svi.guide, &mut store, &median)?;
            Start::PriorMedian {
                fallback_reason: Some(reason),
            }
        }
        None => {
            start_at_prior_median(&svi.guide, &mut store, &median)?;
            Start::PriorMedian {
                fallback_reason: None,
            }
        }
    };
    let report = if settings.approximation == Approximation::Laplace {
        None
    } else {
        let fitted = svi.fit(
            &mut store,
            program.data(),
            &mut Adam::default(),
            &settings.svi,
            rng,
        );
        Some(fitted.map_err(|error| match (error, program.failure()) {
            (
                Error::Diverged {
                    step,
                    consecutive,
                    culprit,
                },
                Some(failure),
            ) => Error::Diverged {
                step,
                consecutive,
                culprit: format!("{culprit} (the model reported: {failure})"),
            },
            (error, _) => error,
        })?)
    };
    Ok(Fit {
        program,
        store,
        guide: svi.guide,
        approximation: settings.approximation,
        start,
        report,
    })
}

/// The matrices one under another (all with the same columns).
fn stack_rows(parts: &[&DMatrix<f64>]) -> DMatrix<f64> {
    let rows = parts.iter().map(|p| p.nrows()).sum();
    let cols = parts.first().map_or(0, |p| p.ncols());
    let mut out = DMatrix::zeros(rows, cols);
    let mut at = 0;
    for part in parts {
        out.rows_mut(at, part.nrows()).copy_from(*part);
        at += part.nrows();
    }
    out
}

fn start_at_prior_median<T: Real>(
    guide: &AutoGuide,
    store: &mut ParamStore<T>,
    median: &DVector<f64>,
) -> Result<()> {
    let d = median.len();
    guide.start_at(store, &median.map(T::of_f64), &DMatrix::identity(d, d))
}

impl<M: Model<T>, T: Real, G: Guide<T>> Fit<'_, M, T, G> {
    /// True if the fit settled: the stochastic fit's convergence rule ended it, or (for
    /// [`Approximation::Laplace`]) Newton's method found the mode.
    pub fn converged(&self) -> bool {
        match (&self.report, &self.start) {
            (Some(report), _) => report.converged,
            (None, Start::Laplace(l)) => l.converged,
            (None, Start::PriorMedian { .. }) => false,
        }
    }

    /// The stochastic fit's report (`None` for [`Approximation::Laplace`]).
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// Where the fit started.
    pub fn start(&self) -> &Start {
        &self.start
    }

    /// The approximation fitted.
    pub fn approximation(&self) -> Approximation {
        self.approximation
    }

    /// The guide and its parameters.
    pub fn guide(&self) -> (&AutoGuide, &ParamStore<T>) {
        (&self.guide, &self.store)
    }

    /// `n` draws from the fitted q, each parameter in its own space, with derived quantities
    /// and the importance weights p(x, z)/q(z) over the whole data.
    ///
    /// The draws are scored in chunks that keep each tape within
    /// [`EVALUATION_BUDGET`](crate::memory::EVALUATION_BUDGET) entries of draws × data rows (one
    /// draw at a time on a million rows), so that memory stays bounded whatever the data's
    /// size; the chunks run in parallel, each with its own generator seeded from `rng` in
    /// chunk order, so the draws are the same on any number of threads.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for n = 0; what the model reports.
    pub fn draws<R: Rng>(&self, n: usize, rng: &mut R) -> Result<Draws> {
        if n == 0 {
            return Err(Error::invalid("draws", 0, "at least 1"));
        }
        // Each draw is scored against every data row, and each row's local latents' draws.
        let per_row = 1 + self.program.local_dim();
        let per_chunk = chunked::per_tape(self.program.data().nrows().saturating_mul(per_row));
        let chunks: Vec<usize> = chunked::spans(n, per_chunk)
            .map(|(_, draws)| draws)
            .collect();
        let parts = chunked::run_seeded(&chunks, rng, |&draws, rng| self.draw_chunk(draws, rng))?;
        let names = parts[0].names.clone();
        let values: Vec<&DMatrix<f64>> = parts.iter().map(|p| &p.values).collect();
        let log_weights = parts
            .iter()
            .map(|p| p.log_weights.clone())
            .collect::<Option<Vec<_>>>()
            .map(|w| w.concat());
        Ok(Draws {
            names,
            values: stack_rows(&values),
            log_weights,
        })
    }

    /// [`Fit::draws`] on one tape.
    fn draw_chunk<R: Rng>(&self, n: usize, rng: &mut R) -> Result<Draws> {
        let tape = Tape::for_evaluation(&self.store);
        let x = tape.constant_shared(Arc::clone(self.program.shared_data()));
        let q = self.guide.family(&tape, x);
        let z = q.rsample(n, rng);
        let locals = self.program.draw_locals(&tape, x, n, true, rng)?;
        let local_draws = locals.map(|(u, _)| u);
        let trace = self
            .program
            .run(&tape, x, Mode::Record, (Some(z), local_draws), None)?;
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for (name, coordinate, value) in &trace.recorded {
            let value = value.value();
            names.extend(match coordinate {
                None => entry_names(name, value.ncols()),
                Some(j) => (1..=value.ncols())
                    .map(|i| format!("{name}[{i},{j}]"))
                    .collect(),
            });
            for j in 0..value.ncols() {
                columns.push(DVector::from_fn(n, |i, _| {
                    value[(if value.nrows() == 1 { 0 } else { i }, j)].to_f64()
                }));
            }
        }
        let log_weights = (self.approximation != Approximation::Map)
            .then(|| -> Result<Vec<f64>> {
                let joint = self.program.score(&tape, x, (z, local_draws), true, true)?;
                let mut log_w = joint - q.log_prob(z);
                if let Some((_, log_q_locals)) = locals {
                    log_w = log_w - log_q_locals;
                }
                Ok(log_w.value().iter().map(|v| v.to_f64()).collect())
            })
            .transpose()?;
        Ok(Draws {
            names,
            values: DMatrix::from_columns(&columns),
            log_weights,
        })
    }

    /// Posterior predictive draws for `new_data` (same columns as the data; the columns the
    /// program observes are not read): for each of `n` posterior draws, every observed
    /// variable drawn anew.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for other columns; [`Error::NonFiniteData`] for non-finite
    /// data; what the model reports.
    pub fn predict<R: Rng>(
        &self,
        new_data: &DMatrix<T>,
        n: usize,
        rng: &mut R,
    ) -> Result<Predictions> {
        check_columns(
            "new data (columns of the fitted data)",
            new_data,
            self.program.data().ncols(),
        )?;
        crate::validate::check_finite("new data", new_data)?;
        if n == 0 {
            return Err(Error::invalid("draws", 0, "at least 1"));
        }
        let tape = Tape::for_evaluation(&self.store);
        let x = tape.constant(new_data.clone());
        let z = self.guide.family(&tape, x).rsample(n, rng);
        let locals = self.program.draw_locals(&tape, x, n, true, rng)?;
        let draws = (Some(z), locals.map(|(u, _)| u));
        let trace = self
            .program
            .run(&tape, x, Mode::Predict, draws, Some(rng))?;
        let (names, values) = trace
            .recorded
            .iter()
            .map(|(name, _, v)| (name.clone(), v.value().map(|e| e.to_f64())))
            .unzip();
        Ok(Predictions { names, values })
    }
}
