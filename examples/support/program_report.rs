//! What the program examples share: the approximation flag, the fit, the table of summaries
//! and the final JSON line, with the warnings a fit that should not be trusted earns.

use clap::{Args, ValueEnum};
use elbo::Real;
use elbo::program::{self, Approximation, Fit, FitSettings, Model, Program};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// The posterior approximation, as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Family {
    /// Independent Gaussians over the unconstrained parameters.
    Diag,
    /// One Gaussian with a full covariance.
    Full,
    /// A Gaussian with a covariance of rank --rank plus a diagonal.
    Lowrank,
    /// The mode (a point mass): no spread, no self-check.
    Map,
    /// The Laplace approximation at the mode, without a stochastic fit.
    Laplace,
}

impl Family {
    pub fn approximation(self, rank: usize) -> Approximation {
        match self {
            Family::Diag => Approximation::Diagonal,
            Family::Full => Approximation::FullRank,
            Family::Lowrank => Approximation::LowRank { rank },
            Family::Map => Approximation::Map,
            Family::Laplace => Approximation::Laplace,
        }
    }
}

/// The flags every program example takes.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// The posterior approximation.
    #[arg(long, value_enum, default_value = "full")]
    pub family: Family,
    /// Rank of the low-rank family.
    #[arg(long, default_value_t = 2)]
    pub rank: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rows per minibatch of the stochastic fit (default: every row at every step); the
    /// likelihood is scaled by rows / batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Most steps of the stochastic fit; it stops sooner when it has settled.
    #[arg(long, default_value_t = program::PROGRAM_STEPS)]
    pub steps: usize,
    /// Where the fit starts.
    #[arg(long, value_enum, default_value = "laplace")]
    pub init: StartAt,
    /// Draws from q per step for the ELBO's estimate (more: less noisy steps, each dearer).
    #[arg(long, default_value_t = 4)]
    pub particles: usize,
    /// Where the stochastic fit's steps run: cpu, cuda (needs `--features cuda`), cuda:N, or
    /// emulated (the device code path on the CPU). The Laplace start and the summaries run on
    /// the CPU.
    #[arg(long, default_value = "cpu")]
    pub device: elbo::backend::Device,
}

/// Where the fit starts, as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// At the Laplace approximation (Newton's method over the whole data; the prior median if
    /// it finds no mode).
    Laplace,
    /// At the prior median with unit scales: no pass over the whole data before the fit.
    Prior,
}

/// The exit code of a program example: 0 for a converged fit, 1 for one that did not converge
/// (warned of already), 2 for an error (printed here).
pub fn exit_code(outcome: elbo::Result<bool>) -> std::process::ExitCode {
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Draws taken from the fit for its summaries and its self-check.
pub const DRAWS: usize = 10_000;

/// Draws × data rows scored for the importance weights at most: each draw's weight is a pass
/// over the data, so from 30,000 rows on the summaries come from fewer than 10,000 draws, and
/// from 300,000 on from 1,000 (a logistic regression on 300,000 rows spent 25 s scoring 3,333
/// draws against its fit's 9 s).
pub const SCORED_ENTRIES: usize = 300_000_000;

/// The draws taken from a fit on `rows` data rows: [`DRAWS`], or fewer where scoring them would
/// pass [`SCORED_ENTRIES`], but never under 1,000.
pub fn draws_for(rows: usize) -> usize {
    (SCORED_ENTRIES / rows.max(1)).clamp(1_000, DRAWS)
}

/// Fits `program`, prints how the fit went, a table of every parameter and derived quantity
/// (with its PSIS-corrected mean), warnings (no convergence; k̂ above 0.7), and the JSON line;
/// true if the fit converged.
pub fn fit_and_report<M: Model<f64>>(
    program: &Program<M, f64>,
    flags: &FitArgs,
) -> elbo::Result<bool> {
    use rand::SeedableRng;
    let approximation = flags.family.approximation(flags.rank);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(flags.seed);
    let started = Instant::now();
    let mut settings = FitSettings {
        approximation,
        init: match flags.init {
            StartAt::Laplace => program::Init::Map,
            StartAt::Prior => program::Init::PriorMedian,
        },
        ..FitSettings::default()
    };
    settings.svi.steps = flags.steps;
    settings.svi.objective.particles = flags.particles;
    settings.svi.trainer.batch_size = flags.batch;
    settings.svi.trainer.device = flags.device;
    if let elbo::optim::LearningRate::Exponential { steps, .. } = &mut settings.svi.learning_rate {
        *steps = flags.steps;
    }
    settings.svi.trainer.average_from = Some(flags.steps / 2);
    let fit = program::fit(program, &settings, &mut rng)?;
    let seconds = started.elapsed().as_secs_f64();
    let n_draws = draws_for(program.data().nrows());
    let draws = fit.draws(n_draws, &mut rng)?;
    let psis = draws.psis()?;
    describe_fit(&fit, seconds);
    let summaries = draws.summary();
    let corrected = psis.as_ref().map(|p| draws.psis_means(p));
    println!(
        "\n{:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "parameter", "mean", "sd", "5%", "50%", "95%", "PSIS mean"
    );
    for (j, s) in summaries.iter().enumerate() {
        let psis_mean = corrected
            .as_ref()
            .map_or("-".to_string(), |c| format!("{:.4}", c[j]));
        println!(
            "{:<16} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>12}",
            s.name, s.mean, s.sd, s.q05, s.q50, s.q95, psis_mean
        );
    }
    let elbo = draws.elbo();
    let khat = psis.as_ref().map(|p| p.khat);
    if let (Some(elbo), Some(p)) = (elbo, &psis) {
        println!(
            "\nELBO {elbo:.4} (from {n_draws} draws); PSIS: k̂ = {:.3} ({}), ln p(x) ≈ {:.4}",
            p.khat,
            p.verdict(),
            p.log_mean_weight
        );
    }
    let mut parameters = Map::new();
    for s in &summaries {
        parameters.insert(
            s.name.clone(),
            json!({"mean": s.mean, "sd": s.sd, "q05": s.q05, "q50": s.q50, "q95": s.q95}),
        );
    }
    let converged = fit.converged();
    println!(
        "{}",
        json!({
            "parameters": Value::Object(parameters),
            "elbo": elbo,
            "psis_khat": khat,
            "psis_log_evidence": psis.as_ref().map(|p| p.log_mean_weight),
            "converged": converged,
            "family": approximation.name(),
            "seconds": seconds,
            "steps": fit.report().map(|r| r.steps),
            "draws": n_draws,
        })
    );
    if !converged {
        eprintln!(
            "warning: the fit ran out of steps before its ELBO and parameters settled; its \
             numbers are a guess, not a result"
        );
    }
    if let (Some(p), Some(corrected)) = (&psis, &corrected)
        && p.khat >= 0.7
    {
        let shift = summaries
            .iter()
            .zip(corrected)
            .filter(|(s, _)| s.sd > 0.0)
            .map(|(s, c)| (c - s.mean).abs() / s.sd)
            .fold(0.0, f64::max);
        eprintln!(
            "warning: k̂ = {:.2} > 0.7: the weights p/q have a heavy tail, so q is \
             lighter-tailed than the posterior somewhere and its summaries may be off (here \
             the PSIS-corrected means move by up to {shift:.2} posterior sds, and those \
             corrections are themselves unreliable at this k̂); compare --family full, or \
             reparameterise (the non-centred form of a hierarchical model)",
            p.khat
        );
    }
    Ok(converged)
}

fn describe_fit<M: Model<T>, T: Real>(fit: &Fit<'_, M, T>, seconds: f64) {
    let start = match fit.start() {
        program::Start::Laplace(l) => {
            format!("the Laplace approximation ({} Newton steps)", l.iterations)
        }
        program::Start::PriorMedian {
            fallback_reason: None,
        } => "the prior median".to_string(),
        program::Start::PriorMedian {
            fallback_reason: Some(why),
        } => {
            format!("the prior median (no Laplace start: {why})")
        }
    };
    let steps = fit.report().map_or("no stochastic steps".to_string(), |r| {
        format!("{} steps", r.steps)
    });
    println!(
        "{} fit from {start}: {steps} in {seconds:.3} s, {}",
        fit.approximation().name(),
        if fit.converged() {
            "converged"
        } else {
            "NOT converged"
        }
    );
}
