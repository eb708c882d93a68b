//! A mixture of normals with ordered means on one column of data, fitted as a program.
//!
//! ```text
//! cargo run --release --example mixture -- [--csv FILE] [--components K] \
//!     [--family diag|full|lowrank|map|laplace] [--rank R] [--seed K]
//! ```
//!
//! y_i ~ Σ_k w_k N(μ_k, σ_k²) with μ_1 < … < μ_K (an ordered parameter: no label switching),
//! each point's component summed out, and priors set from the data's mean m and sd s
//! (μ ~ N(m, (2s)²), σ_k ~ HalfNormal(s), w ~ Dirichlet(2, …, 2)), so that the model means the
//! same in any units. The CSV has a header row and one column. Without `--csv` it fits the
//! simulated data in `data/mixture/two_groups.csv` (0.35·N(−1.2, 0.5²) + 0.65·N(2, 0.8²)).
//! Prints a table with PSIS-corrected means and ends with one JSON line; a fit that did not
//! converge says so on stderr and exits with code 1, and a k̂ above 0.7 is warned of with how
//! far the PSIS correction moves the means.

#[path = "support/program_report.rs"]
mod program_report;

use clap::Parser;
use elbo::classic::NormalMixture;
use elbo::data::read_csv;
use elbo::program::Program;
use program_report::{FitArgs, exit_code, fit_and_report};
use std::path::PathBuf;
use std::process::ExitCode;

/// Fit a mixture of normals with ordered means.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// CSV with a header row and one column of data.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mixture/two_groups.csv"))]
    csv: PathBuf,
    /// Number of components.
    #[arg(long, default_value_t = 2)]
    components: usize,
    #[command(flatten)]
    fit: FitArgs,
}

fn run(args: &Args) -> elbo::Result<bool> {
    let table = read_csv::<f64>(&args.csv)?;
    if let Some(warning) = table.header_warning() {
        eprintln!("warning: {}: {warning}", args.csv.display());
    }
    println!(
        "{}-component normal mixture on {}: {} rows",
        args.components,
        args.csv.display(),
        table.data.nrows()
    );
    let model = NormalMixture::for_data(args.components, &table.data)?;
    let program = Program::new(model, table.data)?;
    fit_and_report(&program, &args.fit)
}

fn main() -> ExitCode {
    exit_code(run(&Args::parse()))
}
