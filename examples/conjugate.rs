//! Fits a conjugate Gaussian model by SGVB and compares the fit with the exact posterior.
//!
//! ```text
//! cargo run --release --example conjugate -- --model mean|linreg --family diag|full \
//!     [--dim D --n N --seed K | --csv PATH] [--noise-sd S] [--steps N] [--particles P] [--lr LR]
//! ```
//!
//! Without `--csv` the data is simulated from the model with the seed. With `--csv`, the rows of
//! the file are fitted (mean: every column is a coordinate; linreg: the last column is the
//! response). The fit starts at the Laplace approximation (the mode and curvature of the log
//! joint) and stops when its ELBO has settled, `--steps` being a cap. The last line printed is
//! one JSON object with the figures. A fit that ran out of steps says so on stderr (`warning:`)
//! and in the JSON (`"converged": false`); a fit that misses the exact answer (an ELBO more than 0.01 nats
//! short of its family's best, a mean 0.05 posterior sds off, or an sd 5% off) says so and
//! exits with code 1.

use clap::{Parser, ValueEnum};
use elbo::conjugate::{Accuracy, GaussianMean, GaussianPosterior, LinearRegression};
use elbo::data::read_csv;
use elbo::engine::TrainerSettings;
use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::infer::{Laplace, Objective, Svi, SviConfig};
use elbo::model::{GaussianGuide, Likelihood};
use elbo::optim::{Adam, LearningRate};
use elbo::prior::StandardNormal;
use elbo::{ParamStore, Real};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Model {
    /// z ~ N(0, I), x_i | z ~ N(z, s² I)
    Mean,
    /// w ~ N(0, I), y = X w + e, e ~ N(0, s²)
    Linreg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Family {
    /// Mean-field Gaussian
    Diag,
    /// Full-rank Gaussian (Cholesky factor)
    Full,
}

/// Fit a conjugate Gaussian model by SGVB and compare with its exact posterior.
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Args {
    /// Which model.
    #[arg(long, value_enum, default_value = "mean")]
    model: Model,
    /// Which variational family.
    #[arg(long, value_enum, default_value = "diag")]
    family: Family,
    /// Latent dimension of simulated data (default 10 for mean, 20 for linreg).
    #[arg(long, conflicts_with = "csv")]
    dim: Option<usize>,
    /// Rows of simulated data (default 100 for mean, 500 for linreg).
    #[arg(long, conflicts_with = "csv")]
    n: Option<usize>,
    /// Seed of the simulation and of the fit.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fit the rows of this CSV file (with a header row) instead of simulated data.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Known noise standard deviation (default 1.0 for mean, 0.5 for linreg).
    #[arg(long)]
    noise_sd: Option<f64>,
    /// Most optimisation steps (the fit stops earlier when its ELBO has settled).
    #[arg(long, default_value_t = 10000)]
    steps: usize,
    /// Monte Carlo particles per step.
    #[arg(long, default_value_t = 4)]
    particles: usize,
    /// Initial Adam step size, in posterior sds (the fit's coordinates are scaled by the Laplace
    /// curvature); it decays geometrically to 1/100 of this over `--steps`.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Fit in f32 instead of f64.
    #[arg(long)]
    f32: bool,
}

/// The CSV file's values, after a warning on stderr if its header row looks like data.
fn read_table(path: &std::path::Path) -> elbo::Result<DMatrix<f64>> {
    let table = read_csv::<f64>(path)?;
    if let Some(warning) = table.header_warning() {
        eprintln!("warning: {}: {warning}", path.display());
    }
    Ok(table.data)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.f32 {
        run::<f32>(&args)
    } else {
        run::<f64>(&args)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// What a fit returns: q's mean and covariance, steps, seconds, final ELBO, the Laplace start.
struct Fitted {
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
    steps: usize,
    converged: bool,
    seconds: f64,
    elbo: f64,
    laplace: Laplace,
}

/// Fits and reports; false if the fit missed the exact answer.
fn run<T: Real>(args: &Args) -> elbo::Result<bool> {
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let noise_sd = args.noise_sd.unwrap_or(match args.model {
        Model::Mean => 1.0,
        Model::Linreg => 0.5,
    });
    let data = match &args.csv {
        Some(path) => read_table(path)?,
        None => simulate(args, noise_sd, &mut rng)?,
    };
    let data_t = data.map(T::of_f64);
    let (exact, fitted) = match args.model {
        Model::Mean => {
            let model = GaussianMean::new(noise_sd)?;
            let d = data.ncols();
            (
                model.posterior(&data)?,
                fit(
                    args,
                    model.prior(d)?,
                    model.likelihood::<T>(d)?,
                    &data_t,
                    &mut rng,
                )?,
            )
        }
        Model::Linreg => {
            let model = LinearRegression::new(noise_sd)?;
            let p = data.ncols().saturating_sub(1);
            (
                model.posterior(&data)?,
                fit(
                    args,
                    model.prior(p)?,
                    model.likelihood::<T>()?,
                    &data_t,
                    &mut rng,
                )?,
            )
        }
    };
    report(args, data.nrows(), &exact, &fitted)
}

/// The simulated data, its copy in the working precision and the fit's own copy must fit
/// together: refuse sizes that cannot before drawing anything.
fn fits_with_copies(rows: usize, cols: usize) -> elbo::Result<()> {
    elbo::memory::ensure_available::<f64>(
        "simulated data with its working copies",
        format!("{rows} rows of {cols} columns"),
        elbo::memory::entries(&[rows, cols, 3]),
    )
}

fn simulate(args: &Args, noise_sd: f64, rng: &mut Pcg64) -> elbo::Result<DMatrix<f64>> {
    let check = |name, v: usize| {
        if v == 0 {
            Err(elbo::Error::invalid(name, v, "at least 1"))
        } else {
            Ok(v)
        }
    };
    Ok(match args.model {
        Model::Mean => {
            let (d, n) = (
                check("--dim", args.dim.unwrap_or(10))?,
                check("--n", args.n.unwrap_or(100))?,
            );
            fits_with_copies(n, d)?;
            GaussianMean::new(noise_sd)?.simulate(d, n, rng)?.1
        }
        Model::Linreg => {
            let (p, n) = (
                check("--dim", args.dim.unwrap_or(20))?,
                check("--n", args.n.unwrap_or(500))?,
            );
            fits_with_copies(n, p.saturating_add(1))?;
            LinearRegression::new(noise_sd)?.simulate(p, n, 0.5, rng)?.1
        }
    })
}

fn fit<T: Real, L: Likelihood<T>>(
    args: &Args,
    prior: StandardNormal,
    likelihood: L,
    data: &DMatrix<T>,
    rng: &mut Pcg64,
) -> elbo::Result<Fitted> {
    let dim = elbo::model::Prior::<T>::dim(&prior);
    let mut store = ParamStore::<T>::new();
    let defaults = SviConfig::default();
    let config = SviConfig {
        steps: args.steps,
        objective: Objective {
            particles: args.particles,
            ..defaults.objective
        },
        learning_rate: LearningRate::Exponential {
            start: args.lr,
            end: args.lr / 100.0,
            steps: args.steps,
        },
        trainer: TrainerSettings {
            average_from: Some(args.steps / 2),
            ..defaults.trainer
        },
        ..defaults
    };
    let init_sd = T::of_f64(0.1);
    match args.family {
        Family::Diag => {
            let guide = DiagGaussianGuide::new(&mut store, "q", dim, init_sd)?;
            run_svi(
                Svi::new(prior, likelihood, guide),
                store,
                data,
                &config,
                rng,
            )
        }
        Family::Full => {
            let guide = FullRankGaussianGuide::new(&mut store, "q", dim, init_sd)?;
            run_svi(
                Svi::new(prior, likelihood, guide),
                store,
                data,
                &config,
                rng,
            )
        }
    }
}

fn run_svi<T: Real, L: Likelihood<T>, G: GaussianGuide<T>>(
    svi: Svi<StandardNormal, L, G>,
    mut store: ParamStore<T>,
    data: &DMatrix<T>,
    config: &SviConfig,
    rng: &mut Pcg64,
) -> elbo::Result<Fitted> {
    let start = Instant::now();
    let laplace = svi.start_at_laplace(&mut store, data)?;
    let report = svi.fit(&mut store, data, &mut Adam::default(), config, rng)?;
    let seconds = start.elapsed().as_secs_f64();
    let final_elbo = svi.evaluate(
        &store,
        data,
        &Objective {
            particles: 1000,
            ..Objective::default()
        },
        rng,
    )?;
    Ok(Fitted {
        mean: svi.guide.mean(&store).map(|v| v.to_f64()),
        covariance: svi.guide.covariance(&store).map(|v| v.to_f64()),
        steps: report.steps,
        converged: report.converged,
        seconds,
        elbo: final_elbo,
        laplace,
    })
}

fn report(args: &Args, n: usize, exact: &GaussianPosterior, fitted: &Fitted) -> elbo::Result<bool> {
    let cmp = exact.compare(
        &fitted.mean,
        &fitted.covariance,
        args.family == Family::Diag,
    )?;
    let (kl, mean_err_sd, sd_rel_err) = (cmp.kl_to_exact, cmp.mean_err_sd, cmp.sd_rel_err);
    let misses = cmp.misses(&Accuracy::default());
    let model = format!("{:?}", args.model).to_lowercase();
    let family = format!("{:?}", args.family).to_lowercase();
    println!(
        "{model} model, {family} family: {} dimensions, {n} rows, {} steps in {:.3} s ({})",
        exact.dim(),
        fitted.steps,
        fitted.seconds,
        if fitted.converged {
            "converged"
        } else {
            "step budget reached"
        }
    );
    println!(
        "  ELBO (1000 particles) {:.4}   exact log evidence {:.4}",
        fitted.elbo, exact.log_evidence
    );
    println!(
        "  KL(q ‖ exact posterior) {kl:.3e} nats; short of the family's best by {:.3e}",
        cmp.excess_kl
    );
    println!(
        "  max |mean error| / posterior sd {mean_err_sd:.4}   max relative sd error {sd_rel_err:.4}"
    );
    let as_vec = |v: &DVector<f64>| v.iter().copied().collect::<Vec<_>>();
    let summary = json!({
        "model": model,
        "family": family,
        "precision": if args.f32 { "f32" } else { "f64" },
        "dim": exact.dim(),
        "n": n,
        "steps": fitted.steps,
        "converged": fitted.converged,
        "particles": args.particles,
        "seed": args.seed,
        "seconds": fitted.seconds,
        "elbo": fitted.elbo,
        "log_evidence": exact.log_evidence,
        "kl_to_exact": kl,
        "excess_kl": cmp.excess_kl,
        "laplace_iterations": fitted.laplace.iterations,
        "laplace_converged": fitted.laplace.converged,
        "laplace_log_evidence": fitted.laplace.log_evidence,
        "mean_err_sd": mean_err_sd,
        "sd_rel_err": sd_rel_err,
        "q_mean": as_vec(&fitted.mean),
        "q_sd": as_vec(&cmp.q_sd),
        "exact_mean": as_vec(&exact.mean),
        "exact_sd": as_vec(&exact.sd()),
        "target_sd": as_vec(&cmp.target_sd),
        "meets_accuracy": misses.is_empty(),
    });
    println!("{summary}");
    if !fitted.converged {
        eprintln!(
            "warning: the fit used all {} steps without its ELBO settling; run it with more \
             --steps (or a smaller --lr) before trusting it",
            fitted.steps
        );
    }
    if !misses.is_empty() {
        eprintln!(
            "warning: the fit misses the exact posterior ({}); it is not a result. Try more \
             --steps, more --particles or a smaller --lr",
            misses.join(", ")
        );
    }
    Ok(misses.is_empty())
}
