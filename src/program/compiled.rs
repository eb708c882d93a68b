//! A program compiled against its data: the layout of its parameters, and the program as the
//! prior and likelihood of the flat vector of their unconstrained coordinates — the form every
//! fit in the crate takes ([`crate::infer::Svi`]).

use super::Model;
use super::site::Site;
use super::trace::{Mode, Trace};
use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::{Error, Result};
use crate::model::{Guide, Likelihood, Prior, Scope, VariationalFamily, check_columns};
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};
use rand::Rng;
use std::sync::{Arc, Mutex};

/// A [`Model`] with its parameters laid out: what a fit works on.
///
/// A program is its own prior and its own likelihood over z, the unconstrained coordinates of
/// its global parameters in declaration order: ln p(z) holds the parameters' densities, the
/// `factor` terms and the transforms' log-Jacobians; ln p(x | z) the `observe` and
/// `likelihood_term` terms, scaled by N/B on minibatches as any global likelihood is. So
/// `Svi::new(&program, &program, guide)` fits it with every guide, bound and setting of the
/// crate, through the one training loop.
///
/// Local latents (one per data row, [`Trace::local`]) are fitted by a guide of their own, `G`
/// ([`Program::with_local_guide`]: an encoder, or free parameters per row): the likelihood is
/// then the bound Σ_i E_q[ln p(x_i, u_i | z) − ln q(u_i | x_i)] with one draw of the locals
/// per draw of z ([`Likelihood::log_likelihood_sampled`]), and the whole is the ELBO of
/// q(z) Π_i q(u_i | x_i), minibatches scaled by N/B.
///
/// The prior's terms are scored on the data the program was compiled with (a prior may depend
/// on the data, as a Stan program's may); statements that only feed `observe` are computed
/// then too, and a program over large data can skip them when
/// [`Trace::scores_likelihood`] is false.
pub struct Program<M, T: Real, G = NoLocals> {
    model: M,
    sites: Vec<Site>,
    dim: usize,
    local_dim: usize,
    local_guide: G,
    data: Arc<DMatrix<T>>,
    /// The first error a run during fitting reported (it scores NaN, so the step is skipped).
    failure: Mutex<Option<String>>,
}

/// The local guide of a program without local latents (it is never asked for a family).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLocals;

impl<T: Real> Guide<T> for NoLocals {
    type Family<'t>
        = Gaussian<'t, T>
    where
        T: 't;

    fn dim(&self) -> usize {
        0
    }

    /// A Gaussian of dimension 0 for each row.
    fn family<'t>(&self, tape: &'t Tape<'t, T>, x: Var<'t, T>) -> Gaussian<'t, T> {
        let empty = || tape.filled(x.shape().0, 0, T::zero());
        Gaussian::Diag(DiagNormal {
            mean: empty(),
            log_sd: empty(),
        })
    }
}

impl<M: Model<T>, T: Real> Program<M, T> {
    /// Declares the model's parameters on `data` and checks that it scores there at u = 0.
    ///
    /// # Errors
    /// [`Error::EmptyData`] or [`Error::NonFiniteData`] for bad data; what the model's
    /// `validate` or its statements report; [`Error::InvalidParameter`] for a program that
    /// declares no parameter, declares local latents (they need
    /// [`Program::with_local_guide`]), or does not score to a finite number at u = 0.
    pub fn new(model: M, data: DMatrix<T>) -> Result<Self> {
        Program::with_local_guide(model, data, NoLocals)
    }
}

impl<M: Model<T>, T: Real, G: Guide<T>> Program<M, T, G> {
    /// [`Program::new`] for a program with local latents, fitted by `local_guide`: q(u_i | x_i)
    /// for every data row, of the dimension of all local coordinates together (in declaration
    /// order), its parameters in the store the fit is given ([`super::fit_in`]).
    ///
    /// # Errors
    /// As [`Program::new`]; [`Error::ShapeMismatch`] if the guide's dimension is not the
    /// local latents'.
    pub fn with_local_guide(model: M, data: DMatrix<T>, local_guide: G) -> Result<Self> {
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
        let extent = |scope| {
            sites
                .iter()
                .filter(|s| s.scope == scope)
                .map(|s| s.free_len)
                .sum::<usize>()
        };
        let (dim, local_dim) = (extent(Scope::Global), extent(Scope::Local));
        if dim == 0 {
            return Err(Error::invalid(
                "program",
                "no global parameters",
                "at least one parameter declared with Trace::param or Trace::sample",
            ));
        }
        if local_guide.dim() != local_dim {
            return Err(Error::shape(
                "local guide (the dimension of the program's local latents; give one with \
                 Program::with_local_guide)",
                (1, local_dim),
                (1, local_guide.dim()),
            ));
        }
        let program = Program {
            model,
            sites,
            dim,
            local_dim,
            local_guide,
            data,
            failure: Mutex::new(None),
        };
        let tape = Tape::new();
        let origin = tape.constant(DMatrix::zeros(1, dim));
        let x = tape.constant_shared(Arc::clone(&program.data));
        let locals = tape.constant(DMatrix::zeros(program.data.nrows(), local_dim));
        let score = program
            .score(&tape, x, (origin, Some(locals)), true, true)?
            .scalar();
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

    /// The declared parameters and local latents, in order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// Unconstrained coordinates of the global parameters: the dimension of z a guide fits.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Unconstrained coordinates of the local latents, per data row (0 without any).
    pub fn local_dim(&self) -> usize {
        self.local_dim
    }

    /// The guide of the local latents.
    pub fn local_guide(&self) -> &G {
        &self.local_guide
    }

    /// The data the program was compiled with.
    pub fn data(&self) -> &DMatrix<T> {
        &self.data
    }

    /// The same data, shared (a tape holds it without a copy).
    pub(crate) fn shared_data(&self) -> &Arc<DMatrix<T>> {
        &self.data
    }

    /// Runs the model at `unconstrained` draws (global, and local where given) in `mode`.
    pub(crate) fn run<'t, 'a>(
        &'a self,
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        mode: Mode,
        draws: (Option<Var<'t, T>>, Option<Var<'t, T>>),
        rng: Option<&'a mut dyn Rng>,
    ) -> Result<Trace<'t, 'a, T>> {
        if let Some(u) = draws.0
            && u.shape().1 != self.dim
        {
            return Err(Error::shape(
                "program's draws",
                (u.shape().0, self.dim),
                u.shape(),
            ));
        }
        let mut trace = Trace::at(tape, data, mode, draws, &self.sites, rng);
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

    /// The chosen terms of ln p(x, z, u) at each draw (`rows x 1`), for global draws `z` and
    /// local draws `u` (zeros if absent).
    pub(crate) fn score<'t>(
        &self,
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        (z, locals): (Var<'t, T>, Option<Var<'t, T>>),
        prior: bool,
        likelihood: bool,
    ) -> Result<Var<'t, T>> {
        let mode = Mode::Score { prior, likelihood };
        let trace = self.run(tape, data, mode, (Some(z), locals), None)?;
        let mut total = tape.filled(z.shape().0, 1, T::zero());
        for term in trace.prior.iter().chain(&trace.likelihood) {
            total = total + *term;
        }
        Ok(total)
    }

    /// Draws of the local latents for the rows of `data`, one set per global draw (stacked by
    /// draw), and Σ_i ln q(u_i | x_i) for each draw (`draws x 1`); `None` without locals.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the local guide does not give one q per row of `data` (free
    /// parameters per row fit the data they were made for, as whole batches).
    pub(crate) fn draw_locals<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        draws: usize,
        reparameterized_score: bool,
        rng: &mut R,
    ) -> Result<Option<(Var<'t, T>, Var<'t, T>)>> {
        if self.local_dim == 0 {
            return Ok(None);
        }
        let q = self.local_guide.family(tape, data);
        let rows = data.shape().0;
        if q.rows() != rows {
            return Err(Error::shape(
                "local guide (one q per data row of the batch)",
                (rows, self.local_dim),
                (q.rows(), self.local_dim),
            ));
        }
        let u = q.rsample(draws, rng);
        let scored = if reparameterized_score {
            q.log_prob(u)
        } else {
            q.stop_gradient().log_prob(u)
        };
        // Rows s·B + i: a B x S reshape puts draw s in column s.
        let log_q = scored.reshape(rows, draws).col_sums().transpose();
        Ok(Some((u, log_q)))
    }

    /// Scores, or NaN with the error kept for the report, where the trait cannot return one.
    fn or_nan<'t>(
        &self,
        tape: &'t Tape<'t, T>,
        rows: usize,
        scored: Result<Var<'t, T>>,
    ) -> Var<'t, T> {
        scored.unwrap_or_else(|error| {
            let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert_with(|| error.to_string());
            tape.filled(rows, 1, T::of_f64(f64::NAN))
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
        let trace = self.run(&tape, x, Mode::PriorMedian, (None, None), Some(rng))?;
        Ok(DVector::from_iterator(
            self.dim,
            trace.points.iter().flat_map(|p| p.iter().copied()),
        ))
    }
}

impl<M: Model<T>, T: Real, G: Guide<T>> Prior<T> for Program<M, T, G> {
    fn dim(&self) -> usize {
        self.dim
    }

    /// The parameters' densities, `factor`s and log-Jacobians at each row of `z`.
    fn log_prob<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        let tape = z.tape();
        let x = tape.constant_shared(Arc::clone(&self.data));
        let scored = self.score(tape, x, (z, None), true, false);
        self.or_nan(tape, z.shape().0, scored)
    }
}

impl<M: Model<T>, T: Real, G: Guide<T>> Likelihood<T> for Program<M, T, G> {
    fn scope(&self) -> Scope {
        Scope::Global
    }

    /// The data's terms on the rows of `x` at each row of `z`. A program with local latents
    /// needs draws of them ([`Likelihood::log_likelihood_sampled`]): here it scores NaN.
    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        let scored = if self.local_dim == 0 {
            self.score(z.tape(), x, (z, None), false, true)
        } else {
            Err(Error::invalid(
                "likelihood of a program with local latents",
                "without draws",
                "Likelihood::log_likelihood_sampled (it draws the locals from their guide)",
            ))
        };
        self.or_nan(z.tape(), z.shape().0, scored)
    }

    /// With local latents: one draw of them per row of `z` from the local guide, and the
    /// bound Σ_i [ln p(x_i, u_i | z) − ln q(u_i | x_i)].
    fn log_likelihood_sampled<'t, R: Rng + ?Sized>(
        &self,
        x: Var<'t, T>,
        z: Var<'t, T>,
        rng: &mut R,
    ) -> Var<'t, T> {
        let tape = z.tape();
        let scored = self
            .draw_locals(tape, x, z.shape().0, true, rng)
            .and_then(|locals| match locals {
                None => self.score(tape, x, (z, None), false, true),
                Some((u, log_q)) => Ok(self.score(tape, x, (z, Some(u)), false, true)? - log_q),
            });
        self.or_nan(tape, z.shape().0, scored)
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        if latent_dim != self.dim {
            return Err(Error::shape(
                "guide (the program's unconstrained dimension)",
                (1, self.dim),
                (1, latent_dim),
            ));
        }
        check_columns(
            "data (columns the program was compiled with)",
            x,
            self.data.ncols(),
        )?;
        self.model.validate(x)
    }
}
