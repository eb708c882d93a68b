//! The scale sweep: the conjugate Gaussian-mean and linear-regression models fitted with the
//! crate's defaults (the Laplace start, `SviConfig::default()`, `Adam::default()`) on data of
//! every scale, offset, feature spread, dimension, size and noise level, each against its exact
//! posterior. Prints one row per cell and a summary; exits with code 1 if a cell misses
//! an ELBO within 0.01 nats of the family's best (excess KL), mean error ≤ 0.05 posterior sds or sd error ≤ 5%, or did not
//! converge.
//!
//! ```text
//! cargo run --release --example sweep -- [--seed K] [--model mean|linreg]
//! ```

#[path = "../tests/all/common/sweep.rs"]
mod sweep;

use clap::Parser;
use std::process::ExitCode;
use std::time::Instant;
use sweep::Model;

/// Fit every cell of the scale sweep and compare with the exact posteriors.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Seed of the data and of the fits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only this model's cells (`mean` or `linreg`).
    #[arg(long)]
    model: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let only = match args.model.as_deref() {
        None => None,
        Some("mean") => Some(Model::Mean),
        Some("linreg") => Some(Model::Linreg),
        Some(other) => {
            eprintln!("error: invalid --model = {other}: mean or linreg");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    println!(
        "{:<7} {:<5} {:>4} {:>6} {:>7} {:>6} {:>6} {:>10} {:>8} {:>8} {:>6} {:>8}",
        "model",
        "q",
        "dim",
        "rows",
        "noise",
        "scale",
        "offset",
        "KL",
        "mean_err",
        "sd_err",
        "steps",
        "seconds"
    );
    let (mut cells, mut failed, mut worst) = (0, 0, (0.0f64, 0.0f64, 0.0f64));
    let mut total_steps = 0;
    for cell in sweep::grid() {
        if only.is_some_and(|m| m != cell.model) {
            continue;
        }
        let outcome = match sweep::run(&cell, args.seed) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error in {cell:?}: {e}");
                return ExitCode::from(2);
            }
        };
        cells += 1;
        total_steps += outcome.steps;
        worst = (
            worst.0.max(outcome.kl),
            worst.1.max(outcome.mean_err_sd),
            worst.2.max(outcome.sd_rel_err),
        );
        let pass = outcome.misses.is_empty() && outcome.converged;
        if !pass {
            failed += 1;
        }
        println!(
            "{:<7} {:<5} {:>4} {:>6} {:>7} {:>6} {:>6} {:>10.2e} {:>8.4} {:>8.4} {:>6} {:>8.3}{}",
            format!("{:?}", cell.model).to_lowercase(),
            if cell.diag { "diag" } else { "full" },
            cell.dim,
            cell.rows,
            cell.noise_sd,
            cell.scale,
            cell.offset_sds,
            outcome.kl,
            outcome.mean_err_sd,
            outcome.sd_rel_err,
            outcome.steps,
            outcome.seconds,
            if pass {
                String::new()
            } else if outcome.converged {
                format!("  MISS: {}", outcome.misses.join(", "))
            } else {
                format!("  NOT CONVERGED {}", outcome.misses.join(", "))
            }
        );
    }
    println!(
        "{cells} cells, {failed} failed; worst KL {:.2e} nats, worst mean error {:.4} sds, worst sd \
         error {:.4}; {total_steps} steps in {:.1} s",
        worst.0,
        worst.1,
        worst.2,
        start.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("warning: {failed} of {cells} cells missed the exact posterior");
        ExitCode::FAILURE
    }
}
