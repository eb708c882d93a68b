//! Eight schools: a hierarchical model fitted as a program, checked by its own importance
//! weights.
//!
//! ```text
//! cargo run --release --example eight_schools -- [--data FILE.json] [--centered] \
//!     [--family diag|full|lowrank|map|laplace] [--rank R] [--seed K]
//! ```
//!
//! The data are JSON in the layout CmdStan reads: `J`, and `y` and `sigma` with J entries each
//! (default: Rubin's eight schools, shipped in `data/eight_schools`). The model is
//! y_j ~ N(θ_j, σ_j²), θ_j ~ N(μ, τ²), μ ~ N(0, 5²), τ ~ HalfCauchy(5), non-centred
//! (θ_j = μ + τ θ̃_j) unless `--centered`. Prints a table of every parameter with its
//! PSIS-corrected mean, and ends with one JSON line; a fit that did not converge says so on stderr
//! and exits with code 1, and a k̂ above 0.7 is warned of with how far the PSIS correction moves
//! the means.

#[path = "support/program_report.rs"]
mod program_report;

use clap::Parser;
use elbo::classic::EightSchools;
use elbo::program::Program;
use nalgebra::DMatrix;
use program_report::{FitArgs, exit_code, fit_and_report};
use std::path::PathBuf;
use std::process::ExitCode;

/// Fit the eight-schools model (or another in its JSON layout) as a program.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// JSON with `J`, `y` and `sigma`.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/eight_schools/eight_schools.json"))]
    data: PathBuf,
    /// The centred form (θ_j ~ N(μ, τ²) directly).
    #[arg(long)]
    centered: bool,
    #[command(flatten)]
    fit: FitArgs,
}

/// Reads J, y and sigma and checks that they agree.
fn read_data(path: &PathBuf) -> Result<DMatrix<f64>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let numbers = |field: &str| -> Result<Vec<f64>, String> {
        json.get(field)
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("{}: no array `{field}`", path.display()))?
            .iter()
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("{}: `{field}` holds {v}, not a number", path.display()))
            })
            .collect()
    };
    let (y, sigma) = (numbers("y")?, numbers("sigma")?);
    let j = json
        .get("J")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| format!("{}: no whole number `J`", path.display()))? as usize;
    if j == 0 || y.len() != j || sigma.len() != j {
        return Err(format!(
            "{}: J = {j}, but y has {} entries and sigma {}; give J ≥ 1 of each",
            path.display(),
            y.len(),
            sigma.len()
        ));
    }
    Ok(DMatrix::from_fn(
        j,
        2,
        |r, c| if c == 0 { y[r] } else { sigma[r] },
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let data = match read_data(&args.data) {
        Ok(d) => d,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let model = EightSchools {
        centered: args.centered,
    };
    println!(
        "eight schools, {} form, {} schools",
        if args.centered {
            "centred"
        } else {
            "non-centred"
        },
        data.nrows()
    );
    exit_code(Program::new(model, data).and_then(|program| fit_and_report(&program, &args.fit)))
}
