//! What a program writes to: the handle through which it declares parameters, reads its data
//! and adds log-density terms, in whichever way the caller runs it.

use super::site::{Site, free_len};
use crate::autodiff::{Tape, Var};
use crate::dist::{Distribution, Support, Transform};
use crate::error::{Error, Result};
use crate::model::Scope;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// How a run treats the program's statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// First run: parameters are declared (at u = 0), nothing is scored.
    Declare,
    /// Score at the given unconstrained draws: which terms to add.
    Score {
        /// Parameter densities, `factor`s and log-Jacobians.
        prior: bool,
        /// `observe` terms.
        likelihood: bool,
    },
    /// At the given draws, keep each parameter's constrained value and each `deterministic`.
    Record,
    /// At the given draws, draw every `observe`d variable anew (posterior predictive).
    Predict,
    /// No draws given: each `sample`d parameter at the median of its prior (given the
    /// earlier ones), each `param` at u = 0; the unconstrained point is kept.
    PriorMedian,
}

/// A program's view of one run: the tape, the data, the current draws of its parameters.
///
/// Every parameter's value is a matrix with one row per draw (`draws() x len`), so that a
/// program scores many draws at once; the data are the (mini)batch's rows. A term added with
/// [`Trace::factor`] or [`Trace::observe`] must have one row per draw (or one row, for a term
/// that does not depend on the parameters); its columns are summed.
pub struct Trace<'t, 'a, T: Real> {
    tape: &'t Tape<'t, T>,
    data: Var<'t, T>,
    mode: Mode,
    draws: usize,
    /// The unconstrained draws (`draws x dim`); absent when declaring or at the prior median.
    unconstrained: Option<Var<'t, T>>,
    /// The local latents' unconstrained draws, stacked by draw (rows `s·B .. (s+1)·B` are
    /// draw s for the B data rows), one column per local coordinate; absent: zeros.
    locals: Option<Var<'t, T>>,
    /// B, the data rows of this run.
    rows: usize,
    /// Declaring: the sites so far. Otherwise: the layout the program must follow.
    sites: Sites<'a>,
    next: usize,
    rng: Option<&'a mut dyn Rng>,
    pub(crate) prior: Vec<Var<'t, T>>,
    pub(crate) likelihood: Vec<Var<'t, T>>,
    /// Record: (name, coordinate of a local site, constrained value); Predict: (name, None,
    /// draws of an observed variable).
    pub(crate) recorded: Vec<(String, Option<usize>, Var<'t, T>)>,
    /// PriorMedian: each site's unconstrained point.
    pub(crate) points: Vec<DMatrix<f64>>,
}

enum Sites<'a> {
    Declaring(Vec<Site>),
    Fixed(&'a [Site]),
}

impl<'t, 'a, T: Real> Trace<'t, 'a, T> {
    pub(crate) fn declaring(tape: &'t Tape<'t, T>, data: Var<'t, T>) -> Self {
        let sites = Sites::Declaring(Vec::new());
        Trace::new(tape, data, Mode::Declare, (None, None), sites, None)
    }

    /// A run at the given draws: (global, local), either absent for zeros.
    pub(crate) fn at(
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        mode: Mode,
        draws: (Option<Var<'t, T>>, Option<Var<'t, T>>),
        sites: &'a [Site],
        rng: Option<&'a mut dyn Rng>,
    ) -> Self {
        Trace::new(tape, data, mode, draws, Sites::Fixed(sites), rng)
    }

    fn new(
        tape: &'t Tape<'t, T>,
        data: Var<'t, T>,
        mode: Mode,
        (unconstrained, locals): (Option<Var<'t, T>>, Option<Var<'t, T>>),
        sites: Sites<'a>,
        rng: Option<&'a mut dyn Rng>,
    ) -> Self {
        Trace {
            tape,
            data,
            mode,
            draws: unconstrained.map_or(1, |u| u.shape().0),
            unconstrained,
            locals,
            rows: data.shape().0,
            sites,
            next: 0,
            rng,
            prior: Vec::new(),
            likelihood: Vec::new(),
            recorded: Vec::new(),
            points: Vec::new(),
        }
    }

    /// The declared sites, after a declaring run.
    pub(crate) fn into_sites(self) -> Vec<Site> {
        match self.sites {
            Sites::Declaring(sites) => sites,
            Sites::Fixed(sites) => sites.to_vec(),
        }
    }

    /// Sites visited so far.
    pub(crate) fn visited(&self) -> usize {
        self.next
    }

    /// The tape the run is recorded on (for constants of the program's own).
    pub fn tape(&self) -> &'t Tape<'t, T> {
        self.tape
    }

    /// The data rows of this run (`B x D`): the minibatch while fitting, the whole data set
    /// for summaries, new rows for predictions.
    pub fn data(&self) -> Var<'t, T> {
        self.data
    }

    /// Column `j` of the data as one row (`1 x B`): the orientation of a term over the data's
    /// rows, which runs along the columns (rows are draws).
    ///
    /// # Panics
    /// If the data have no column `j` (a programming error in the model).
    pub fn column(&self, j: usize) -> Var<'t, T> {
        self.data.columns(j, 1).transpose()
    }

    /// Rows of every parameter's value in this run: the number of draws scored at once.
    pub fn draws(&self) -> usize {
        self.draws
    }

    /// True when this run uses `observe` statements (scoring the likelihood, declaring, or
    /// predicting): a program over large data may skip the work that only feeds them otherwise.
    pub fn scores_likelihood(&self) -> bool {
        matches!(
            self.mode,
            Mode::Declare
                | Mode::Predict
                | Mode::Score {
                    likelihood: true,
                    ..
                }
        )
    }

    /// A constant on the run's tape (a prior's location, say).
    pub fn constant(&self, value: f64) -> Var<'t, T> {
        self.tape.scalar(T::of_f64(value))
    }

    /// Declares a parameter of `len` entries in `support` with no density of its own (a flat
    /// prior there; add its density with [`Trace::factor`], as a Stan `model` block does), and
    /// returns its value in the support (`draws() x len`). The transform from the reals and its
    /// log-Jacobian are the trace's business.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad support, a size of 0 (1 for a simplex), or a name
    /// declared twice; [`Error::Parameter`] if the program declares other parameters than when
    /// it was compiled.
    pub fn param(&mut self, name: &str, len: usize, support: Support) -> Result<Var<'t, T>> {
        if self.mode == Mode::PriorMedian {
            let point = DMatrix::zeros(1, free_len(len, support));
            let site = self.site(name, len, support, Scope::Global)?;
            let (x, _) = support.forward(self.tape.constant(point.map(T::of_f64)));
            self.points.push(point);
            self.keep(&site, x);
            return Ok(x);
        }
        self.visit(name, len, support)
    }

    /// Declares a parameter of `len` entries drawn from `prior` (its support is the
    /// distribution's) and adds ln prior(value); returns the value (`draws() x len`).
    ///
    /// # Errors
    /// As [`Trace::param`]; [`Error::InvalidParameter`] if `prior` has no continuous support
    /// ([`Distribution::support`]): discrete parameters must be summed out.
    pub fn sample<D: Distribution<'t, T>>(
        &mut self,
        name: &str,
        prior: &D,
        len: usize,
    ) -> Result<Var<'t, T>> {
        let support = prior.support().ok_or_else(|| {
            Error::invalid(
                "prior of parameter",
                name.to_string(),
                "a continuous distribution with a fixed support (sum discrete latents out; \
                 declare a parameter whose support moves with Trace::param and add its density)",
            )
        })?;
        if self.mode == Mode::PriorMedian {
            let site = self.site(name, len, support, Scope::Global)?;
            let x = self.prior_median(&site, prior)?;
            let point = support.inverse("prior median", &x)?;
            let value = self.tape.constant(x.map(T::of_f64));
            self.points.push(point);
            self.keep(&site, value);
            return Ok(value);
        }
        let x = self.visit(name, len, support)?;
        if self.scores_prior() {
            self.prior.push(prior.log_prob(x).row_sums());
        }
        Ok(x)
    }

    /// Adds a log-density term of the parameters (not scaled with the minibatch): each row's
    /// columns are summed.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless the term has one row per draw, or one row.
    pub fn factor(&mut self, term: Var<'t, T>) -> Result<()> {
        self.check_rows("factor", term)?;
        if self.scores_prior() {
            self.prior.push(term.row_sums());
        }
        Ok(())
    }

    /// Observes `value` under `distribution`: adds ln p(value) (each row's columns summed),
    /// scaled by N/B when fitting on minibatches. Rows are draws and columns data points, so
    /// a variable observed once per data row is a `1 x B` row ([`Trace::column`]). When
    /// predicting, `value` is not read: the variable is drawn from `distribution` instead and
    /// kept under `name`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless the log density has one row per draw, or one row.
    pub fn observe<D: Distribution<'t, T>>(
        &mut self,
        name: &str,
        distribution: &D,
        value: Var<'t, T>,
    ) -> Result<()> {
        match self.mode {
            Mode::Score {
                likelihood: true, ..
            }
            | Mode::Declare => {
                let term = distribution.log_prob(value);
                self.check_rows(name, term)?;
                if self.mode != Mode::Declare {
                    self.likelihood.push(term.row_sums());
                }
            }
            Mode::Predict => {
                let rng = self
                    .rng
                    .as_deref_mut()
                    .expect("a predicting run has a generator");
                let columns = value.shape().1;
                let drawn = draw_shaped(name, distribution, self.draws, columns, rng)?;
                let drawn = self.tape.constant(drawn.map(T::of_f64));
                self.recorded.push((name.to_string(), None, drawn));
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds a log-likelihood term of the data that is not one distribution's density (a
    /// mixture with its components summed out, say): each row's columns are summed, scaled by
    /// N/B on minibatches as [`Trace::observe`]'s terms are. Predictions cannot draw from it.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless the term has one row per draw, or one row.
    pub fn likelihood_term(&mut self, term: Var<'t, T>) -> Result<()> {
        self.check_rows("likelihood term", term)?;
        if matches!(
            self.mode,
            Mode::Score {
                likelihood: true,
                ..
            }
        ) {
            self.likelihood.push(term.row_sums());
        }
        Ok(())
    }

    /// Keeps a quantity computed from the parameters (`draws() x k`, or one row) under `name`
    /// in the fit's draws and summaries — θ_j = μ + τ θ̃_j of a non-centred model, say.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `value` has one row per draw, or one row.
    pub fn deterministic(&mut self, name: &str, value: Var<'t, T>) -> Result<()> {
        self.check_rows(name, value)?;
        if self.mode == Mode::Record {
            self.recorded.push((name.to_string(), None, value));
        }
        Ok(())
    }

    /// Declares a local latent: `dim` coordinates for every data row, in `support` (an
    /// elementwise one), with no density of its own (add one with
    /// [`Trace::likelihood_term`]). Returns one `draws() x B` matrix per coordinate — rows are
    /// draws and columns data rows, as for observed variables. Its guide is the program's
    /// local guide ([`Program::with_local_guide`](super::Program::with_local_guide)); its
    /// terms and log-Jacobian are scaled by N/B with the data's.
    ///
    /// # Errors
    /// As [`Trace::param`]; [`Error::InvalidParameter`] for an ordered or simplex support.
    pub fn local(&mut self, name: &str, dim: usize, support: Support) -> Result<Vec<Var<'t, T>>> {
        if matches!(support, Support::Ordered | Support::Simplex) {
            return Err(Error::invalid(
                "support of a local latent",
                format!("{support:?}"),
                "an elementwise support (real, positive, bounded, an interval)",
            ));
        }
        let site = self.site(name, dim, support, Scope::Local)?;
        let mut values = Vec::with_capacity(dim);
        for j in 0..dim {
            let u = match self.locals {
                // Rows s·B + i of the column are (draw s, data row i): a B x S reshape, turned.
                Some(u) => u
                    .columns(site.offset + j, 1)
                    .reshape(self.rows, self.draws)
                    .transpose(),
                None => self.tape.filled(self.draws, self.rows, T::zero()),
            };
            let (x, log_jacobian) = support.forward(u);
            if self.scores_likelihood_terms() {
                self.likelihood.push(log_jacobian);
            }
            if self.mode == Mode::Record {
                self.recorded
                    .push((name.to_string(), (dim > 1).then_some(j + 1), x));
            }
            values.push(x);
        }
        Ok(values)
    }

    /// Declares a local latent drawn, coordinate by coordinate, from `prior` (its support is
    /// the distribution's), whose parameters may depend on global parameters (one row per
    /// draw); adds its log density with the data's terms. See [`Trace::local`].
    ///
    /// # Errors
    /// As [`Trace::local`] and [`Trace::sample`].
    pub fn local_sample<D: Distribution<'t, T>>(
        &mut self,
        name: &str,
        prior: &D,
        dim: usize,
    ) -> Result<Vec<Var<'t, T>>> {
        let support = prior.support().ok_or_else(|| {
            Error::invalid(
                "prior of local latent",
                name.to_string(),
                "a continuous distribution with a fixed support",
            )
        })?;
        let values = self.local(name, dim, support)?;
        if self.scores_likelihood_terms() {
            for x in &values {
                self.likelihood.push(prior.log_prob(*x).row_sums());
            }
        }
        Ok(values)
    }

    fn scores_likelihood_terms(&self) -> bool {
        matches!(
            self.mode,
            Mode::Score {
                likelihood: true,
                ..
            }
        )
    }

    fn scores_prior(&self) -> bool {
        matches!(self.mode, Mode::Score { prior: true, .. })
    }

    fn check_rows(&self, what: &str, term: Var<'t, T>) -> Result<()> {
        let rows = term.shape().0;
        if rows == 1 || rows == self.draws {
            Ok(())
        } else {
            Err(Error::ShapeMismatch {
                what: "a program's term (one row per draw, or one row)",
                expected: format!(
                    "{}x{} or 1x{} for `{what}`",
                    self.draws,
                    term.shape().1,
                    term.shape().1
                ),
                got: format!("{}x{}", term.shape().0, term.shape().1),
            })
        }
    }

    /// Declares or looks up the next site, and returns its constrained value.
    fn visit(&mut self, name: &str, len: usize, support: Support) -> Result<Var<'t, T>> {
        let site = self.site(name, len, support, Scope::Global)?;
        let u = match self.unconstrained {
            Some(u) => u.columns(site.offset, site.free_len),
            None => self
                .tape
                .constant(DMatrix::zeros(self.draws, site.free_len)),
        };
        let (x, log_jacobian) = support.forward(u);
        if self.scores_prior() {
            self.prior.push(log_jacobian);
        }
        self.keep(&site, x);
        Ok(x)
    }

    fn keep(&mut self, site: &Site, x: Var<'t, T>) {
        if self.mode == Mode::Record {
            self.recorded.push((site.name.clone(), None, x));
        }
    }

    /// The next site: appended when declaring, checked against the layout otherwise.
    fn site(&mut self, name: &str, len: usize, support: Support, scope: Scope) -> Result<Site> {
        let index = self.next;
        self.next += 1;
        match &mut self.sites {
            Sites::Declaring(sites) => {
                support.validate()?;
                let minimum = if support == Support::Simplex { 2 } else { 1 };
                if len < minimum {
                    return Err(Error::invalid(
                        "parameter size",
                        format!("{name}: {len}"),
                        "at least 1 entry (2 for a simplex)",
                    ));
                }
                if sites.iter().any(|s| s.name == name) {
                    return Err(Error::invalid(
                        "parameter name",
                        name.to_string(),
                        "a name declared once",
                    ));
                }
                let offset = sites
                    .iter()
                    .rfind(|s| s.scope == scope)
                    .map_or(0, |s| s.offset + s.free_len);
                let site = Site {
                    name: name.to_string(),
                    len,
                    support,
                    offset,
                    free_len: free_len(len, support),
                    scope,
                };
                sites.push(site.clone());
                Ok(site)
            }
            Sites::Fixed(sites) => match sites.get(index) {
                Some(site)
                    if site.name == name
                        && site.len == len
                        && site.support == support
                        && site.scope == scope =>
                {
                    Ok(site.clone())
                }
                _ => Err(Error::Parameter {
                    name: name.to_string(),
                    problem: "declared differently than when the program was compiled: a \
                              program must declare the same parameters, in the same order, \
                              on every run",
                }),
            },
        }
    }

    /// Per-entry medians of 201 draws of `prior` (sorted for an ordered parameter, normalised
    /// for a simplex, so that the point lies in the support).
    fn prior_median<D: Distribution<'t, T>>(
        &mut self,
        site: &Site,
        prior: &D,
    ) -> Result<DMatrix<f64>> {
        const DRAWS: usize = 201;
        let rng = self
            .rng
            .as_deref_mut()
            .expect("a prior-median run has a generator");
        let mut columns = vec![Vec::with_capacity(DRAWS); site.len];
        for _ in 0..DRAWS {
            let draw = draw_shaped(&site.name, prior, 1, site.len, rng)?;
            for (column, v) in columns.iter_mut().zip(draw.iter()) {
                column.push(*v);
            }
        }
        let mut median: Vec<f64> = columns
            .into_iter()
            .map(|mut c| {
                c.sort_by(f64::total_cmp);
                c[DRAWS / 2]
            })
            .collect();
        match site.support {
            Support::Ordered => median.sort_by(f64::total_cmp),
            Support::Simplex => {
                let total: f64 = median.iter().sum();
                median.iter_mut().for_each(|v| *v /= total);
            }
            _ => {}
        }
        Ok(DMatrix::from_row_slice(1, site.len, &median))
    }
}

/// A `rows x cols` matrix of independent draws from `distribution`, whose own draws come in
/// the broadcast shape of its parameters (1 or `rows` rows, 1 or `cols` columns).
pub(crate) fn draw_shaped<'t, T: Real, D: Distribution<'t, T>>(
    name: &str,
    distribution: &D,
    rows: usize,
    cols: usize,
    rng: &mut dyn Rng,
) -> Result<DMatrix<f64>> {
    let first = distribution.sample(rng);
    let (r, c) = first.shape();
    if !((r == 1 || r == rows) && (c == 1 || c == cols)) {
        return Err(Error::ShapeMismatch {
            what: "a distribution's draws (1 or one row per draw, 1 or one column per entry)",
            expected: format!("{rows}x{cols} for `{name}`"),
            got: format!("{r}x{c}"),
        });
    }
    let mut out = DMatrix::zeros(rows, cols);
    let mut block = Some(first);
    for i0 in (0..rows).step_by(r) {
        for j0 in (0..cols).step_by(c) {
            let draw = block.take().unwrap_or_else(|| distribution.sample(rng));
            for i in 0..r {
                for j in 0..c {
                    out[(i0 + i, j0 + j)] = draw[(i, j)].to_f64();
                }
            }
        }
    }
    Ok(out)
}
