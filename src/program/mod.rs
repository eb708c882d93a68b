//! Models as programs: parameters declared by name, size and support, log-density terms added
//! on the tape, as in a Stan `model` block; automatic guides, summaries, predictions and a
//! self-check after the fit.
//!
//! A [`Model`] writes to a [`Trace`]:
//! - [`Trace::sample`] declares a parameter drawn from a distribution (its support is the
//!   distribution's) and [`Trace::param`] one with a [`Support`](crate::dist::Support) and no
//!   density of its own; both return the value in its support, one row per draw.
//! - [`Trace::factor`] adds any log-density term; [`Trace::observe`] scores data, scaled by N/B
//!   on minibatches; [`Trace::deterministic`] keeps a derived quantity for the summaries.
//!
//! Each parameter is stored unconstrained; the transform and its log-Jacobian are added by the
//! trace. Compiled against its data, a program ([`Program`]) is a prior and a likelihood of the
//! flat vector z of those unconstrained coordinates, so it is fitted by
//! [`Svi`](crate::infer::Svi) through the one training loop, with any guide. [`fit`] does the
//! usual: a Laplace (or prior-median) start, one of the automatic guides
//! ([`Approximation`]), and a [`Fit`] to draw from ([`Fit::draws`]: constrained values,
//! summaries, Pareto-smoothed importance weights) and predict with ([`Fit::predict`]).
//!
//! ```
//! use elbo::dist::{HalfNormal, Normal};
//! use elbo::program::{self, FitSettings, Model, Program, Trace};
//! use nalgebra::DMatrix;
//! use rand::SeedableRng;
//!
//! /// y_i ~ N(μ, σ²), μ ~ N(0, 1000²), σ ~ HalfNormal(10): one column of data.
//! struct Location;
//!
//! impl Model<f64> for Location {
//!     fn model<'t>(&self, m: &mut Trace<'t, '_, f64>) -> elbo::Result<()> {
//!         let mu = m.sample("mu", &Normal::new(m.constant(0.0), m.constant(1000.0))?, 1)?;
//!         let sigma = m.sample("sigma", &HalfNormal::new(m.constant(10.0))?, 1)?;
//!         m.observe("y", &Normal::new(mu, sigma)?, m.column(0))
//!     }
//! }
//!
//! # fn main() -> elbo::Result<()> {
//! let y = DMatrix::from_fn(40, 1, |i, _| 250.0 + ((i * 7) % 11) as f64 - 5.0);
//! let program = Program::new(Location, y)?;
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
//! let fit = program::fit(&program, &FitSettings::default(), &mut rng)?;
//! assert!(fit.converged());
//! let draws = fit.draws(4000, &mut rng)?;
//! let summary = draws.summary();
//! assert_eq!(summary[0].name, "mu");
//! // The prior is flat at this scale: μ's posterior is centred at the sample mean.
//! let ybar = program.data().mean();
//! assert!((summary[0].mean - ybar).abs() < 0.1 * summary[0].sd, "{:?}", summary[0]);
//! // The self-check: k̂ of the importance weights p/q, and the PSIS estimate of ln p(x),
//! // which the ELBO bounds from below.
//! let psis = draws.psis()?.expect("a Gaussian guide has a density");
//! assert!(psis.khat.is_finite());
//! assert!(psis.log_mean_weight > draws.elbo().unwrap());
//! # Ok(())
//! # }
//! ```

mod compiled;
mod draws;
mod fit;
mod site;
mod trace;

pub use compiled::{NoLocals, Program};
pub use draws::{Draws, Predictions, Summary};
pub use fit::{
    Approximation, Fit, FitSettings, Init, PROGRAM_PARAMETER_TOLERANCE, PROGRAM_STEPS, Start, fit,
    fit_in,
};
pub use site::Site;
pub use trace::Trace;

use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;

/// A model written as a program: it declares its parameters and adds log-density terms on
/// each run ([`Trace`]). It must declare the same parameters in the same order on every run;
/// it holds its own settings (prior scales, say) and reads its data from the trace.
pub trait Model<T: Real>: Sync {
    /// One run of the program.
    ///
    /// # Errors
    /// What its statements report (a distribution's constructor, a shape check), or its own.
    fn model<'t>(&self, m: &mut Trace<'t, '_, T>) -> Result<()>;

    /// Checks data before the program is compiled or fitted on them.
    ///
    /// # Errors
    /// A variant saying what is wrong with the data (the default accepts any).
    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        let _ = data;
        Ok(())
    }
}
