//! A program compiled against its data: the layout of its parameters, and the program as the
//! prior and likelihood of the flat vector of their unconstrained coordinates — the form every
//! fit in the crate takes ([`crate::infer::Svi`]).

use super::Model;
use super::site::Site;
use super::trace::{Mode, Trace};
use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::model::{Likelihood, Prior, Scope};
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use std::sync::{Arc, Mutex};

/// A [`Model`] with its parameters laid out: what a fit works on.
///
/// A program is its own prior and its own likelihood over z, the unconstrained coordinates of
/// every parameter in declaration order: ln p(z) holds the parameters' densities, the `factor`
/// terms and the transforms' log-Jacobians; ln p(x | z) the `observe` terms, scaled by N/B on
/// minibatches as any global likelihood is. So `Svi::new(&program, &program, guide)` fits it
/// with every guide, bound and setting of the crate, through the one training loop.
///
/// The prior's terms are scored on the data the program was compiled with (a prior may depend
/// on the data, as a Stan program's may); statements that only feed `observe` are computed
/// then too, and a program over large data can skip them when
/// [`Trace::scores_likelihood`] is false.
pub struct Program<M, T: Real> {
    model: M,
    sites: Vec<Site>,
    dim: usize,
    data: Arc<DMatrix<T>>,
    /// The first error a run during fitting reported (it scores NaN, so the step is skipped).
    failure: Mutex<Option<String>>,
}

impl<M: Model<T>, T: Real> Program<M, T> {
    /// Declares the model's parameters on `data` and checks that it scores there at u = 0.
    ///
    /// # Errors
    /// [`Error::EmptyData`] or [`Error::NonFiniteData`] for bad data; what the model's
    /// `validate` or its statements report; [`Error::InvalidParameter`] for a program that
    /// declares no parameter or does not score to a finite number at u = 0.
    pub fn new(model: M, data: DMatrix<T>) -> Result<Self> {
        if data.nrows() == 0 {
            return Err(Error::EmptyData { what: "data" });
        }
        check_finite("data", &data)?;
        model.validate(&data)?;
        let data = Arc::new(data);
        let tape = Tape::new();
        let x = tape.constant_shared(Arc::clone(&data));
        let mut trace = Trace::declaring(&tape, x);
        model.model(&mut trace)?;
        let sites = trace.into_sites();
        let Some(last) = sites.last() else {
            return Err(Error::invalid(
                "program",
                "no parameters",
                "at least one parameter declared with Trace::param or Trace::sample",
            ));
        };
        let dim = last.offset + last.free_len;
        let program = Program {
            model,
            sites,
            dim,
            data,
            failure: Mutex::new(None),
        };
        let tape = Tape::new();
        let origin = tape.constant(DMatrix::zeros(1, dim));
        let x = tape.constant_shared(Arc::clone(&program.data));
        let score = program.score(&tape, x, origin, true, true)?.scalar();
        if !score.is_finite() {
            return Err(Error::invalid(
                "program's log density at u = 0",
                score,
                "a finite number (check the parameters' supports and the data)",
            ));
        }
        Ok(program)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The declared parameters, in order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// Unconstrained coordinates in all: the dimension of z a guide fits.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The data the program was compiled with.
    pub fn data(&self) -> &DMatrix<T> {
        &self.data
    }

    /// Runs the model at `unconstrained` draws in `mode`.
    pub(crate) fn run<'t, 'a>(
        &'a self,
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        mode: Mode,
        unconstrained: Option<Var<'t, T>>,
        rng: Option<&'a mut dyn Rng>,
    ) -> Result<Trace<'t, 'a, T>> {
        if let Some(u) = unconstrained
            && u.shape().1 != self.dim
        {
            return Err(Error::shape(
                "program's draws",
                (u.shape().0, self.dim),
                u.shape(),
            ));
        }
        let mut trace = Trace::at(tape, data, mode, unconstrained, &self.sites, rng);
        self.model.model(&mut trace)?;
        if trace.visited() != self.sites.len() {
            return Err(Error::Parameter {
                name: self.sites[trace.visited().min(self.sites.len() - 1)]
                    .name
                    .clone(),
                problem: "the program declared fewer parameters than when it was compiled",
            });
        }
        Ok(trace)
    }

    /// The chosen terms of ln p(x, z) at each row of `z` (`rows x 1`).
    pub(crate) fn score<'t>(
        &self,
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        z: Var<'t, T>,
        prior: bool,
        likelihood: bool,
    ) -> Result<Var<'t, T>> {
        let trace = self.run(tape, data, Mode::Score { prior, likelihood }, Some(z), None)?;
        let mut total = tape.constant(DMatrix::zeros(z.shape().0, 1));
        for term in trace.prior.iter().chain(&trace.likelihood) {
            total = total + *term;
        }
        Ok(total)
    }

    /// Scores, or NaN with the error kept for the report, where the trait cannot return one.
    fn score_or_nan<'t>(
        &self,
        data: Var<'t, T>,
        z: Var<'t, T>,
        prior: bool,
        likelihood: bool,
    ) -> Var<'t, T> {
        let tape = z.tape();
        self.score(tape, data, z, prior, likelihood)
            .unwrap_or_else(|error| {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert_with(|| error.to_string());
                tape.constant(DMatrix::from_element(z.shape().0, 1, T::of_f64(f64::NAN)))
            })
    }

    /// The first error a run reported while fitting, if any (such a run scores NaN and its
    /// step is skipped; see [`Error::Diverged`]).
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The unconstrained point where each `sample`d parameter is at the median of its prior
    /// given the earlier ones (201 draws per entry), and each `param` at u = 0.
    ///
    /// # Errors
    /// What the model reports.
    pub fn prior_median<R: Rng>(&self, rng: &mut R) -> Result<DVector<f64>> {
        let tape = Tape::new();
        let x = tape.constant_shared(Arc::clone(&self.data));
        let trace = self.run(&tape, x, Mode::PriorMedian, None, Some(rng))?;
        Ok(DVector::from_iterator(
            self.dim,
            trace.points.iter().flat_map(|p| p.iter().copied()),
        ))
    }
}

impl<M: Model<T>, T: Real> Prior<T> for Program<M, T> {
    fn dim(&self) -> usize {
        self.dim
    }

    /// The parameters' densities, `factor`s and log-Jacobians at each row of `z`.
    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        let x = z.tape().constant_shared(Arc::clone(&self.data));
        self.score_or_nan(x, z, true, false)
    }
}

impl<M: Model<T>, T: Real> Likelihood<T> for Program<M, T> {
    fn scope(&self) -> Scope {
        Scope::Global
    }

    /// The `observe` terms on the rows of `x` at each row of `z`.
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        self.score_or_nan(x, z, false, true)
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        if latent_dim != self.dim {
            return Err(Error::shape(
                "guide (the program's unconstrained dimension)",
                (1, self.dim),
                (1, latent_dim),
            ));
        }
        if x.ncols() != self.data.ncols() {
            return Err(Error::shape(
                "data (columns the program was compiled with)",
                (x.nrows(), self.data.ncols()),
                x.shape(),
            ));
        }
        self.model.validate(x)
    }
}
