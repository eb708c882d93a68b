//! The autoencoder family side by side on the digits, each variant showing what it is for.
//!
//! ```text
//! cargo run --release --example autoencoders -- [--variant all|linear|basic|deep|sparse|
//!     contractive|denoising|robust|overcomplete|overcomplete-denoising, or a comma list]
//!     [--csv FILE] [--code K] [--epochs N] [--outliers FRACTION] [--seed K]
//! ```
//!
//! Without `--csv` every variant trains on the 8x8 digits shipped in the crate (1500 training,
//! 297 test images, pixels in [0, 1]) through the engine's one loop, and is measured on the test
//! images: `test_mse` (squared error per image), `test_mse_corrupted` (inputs with 30% of the
//! pixels masked, against the clean images), `mean_code_activation` (codes mapped to (0, 1)),
//! `jacobian_frobenius` (mean ‖J_f(x)‖²_F). With `--csv` (a header row, numeric columns) the
//! linear variant fits the file and, for at most 20 rows, prints its reconstructions.
//! `--outliers F` replaces a fraction F of the training images by saturated random pixels, for
//! the robust variant to show its point. The last line is one JSON object.

use clap::Parser;
use elbo::ParamStore;
use elbo::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderLoss, Corruption, Objective, Reconstruction,
    Sparsity, jacobian_frobenius,
};
use elbo::data::{Dataset, read_csv};
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::nn::{Activation, Init};
use elbo::optim::{Adam, LearningRate};
use elbo::reduction::{Pca, largest_principal_angle};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const VARIANTS: [&str; 9] = [
    "linear",
    "basic",
    "deep",
    "sparse",
    "contractive",
    "denoising",
    "robust",
    "overcomplete",
    "overcomplete-denoising",
];

/// Train the autoencoder family on the digits and compare what each variant is for.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// `all`, or a comma list of variants.
    #[arg(long, default_value = "all")]
    variant: String,
    /// CSV (header row, numeric columns) for the linear variant instead of the digits.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Code units K (undercomplete variants).
    #[arg(long, default_value_t = 16)]
    code: usize,
    /// Passes over the training data.
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    /// Fraction of training images replaced by outliers.
    #[arg(long, default_value_t = 0.0)]
    outliers: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A variant's architecture and objective.
fn variant(name: &str, inputs: usize, code: usize) -> (AutoencoderConfig, Objective) {
    let logistic = |sizes: Vec<usize>| AutoencoderConfig {
        sizes,
        hidden: Activation::Sigmoid,
        code: Activation::Sigmoid,
        output: Activation::Sigmoid,
        tied: false,
        init: Init::Xavier,
    };
    let basic = Objective::default();
    let masking = Corruption::Masking(0.3);
    match name {
        "linear" => (
            AutoencoderConfig::shallow(inputs, code, Activation::Identity),
            basic,
        ),
        "deep" => (logistic(vec![inputs, 48, code]), basic),
        "sparse" => (
            logistic(vec![inputs, code]),
            Objective {
                sparsity: Some(Sparsity {
                    target: 0.05,
                    weight: 0.1,
                }),
                ..basic
            },
        ),
        "contractive" => (
            logistic(vec![inputs, code]),
            Objective {
                contractive: 0.1,
                ..basic
            },
        ),
        "denoising" => (
            logistic(vec![inputs, code]),
            Objective {
                corruption: masking,
                ..basic
            },
        ),
        "robust" => (
            logistic(vec![inputs, code]),
            Objective {
                reconstruction: Reconstruction::Correntropy { bandwidth: 0.3 },
                ..basic
            },
        ),
        "overcomplete" => (logistic(vec![inputs, 2 * inputs]), basic),
        "overcomplete-denoising" => (
            logistic(vec![inputs, 2 * inputs]),
            Objective {
                corruption: masking,
                ..basic
            },
        ),
        _ => (logistic(vec![inputs, code]), basic),
    }
}

/// Mean over rows of the squared error per row.
fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).iter().map(|v| v * v).sum::<f64>() / a.nrows() as f64
}

struct Trained {
    autoencoder: Autoencoder,
    store: ParamStore<f64>,
    seconds: f64,
}

fn train(
    name: &str,
    train: &DMatrix<f64>,
    code: usize,
    epochs: usize,
    rng: &mut Pcg64,
) -> elbo::Result<Trained> {
    let (config, objective) = variant(name, train.ncols(), code);
    let mut store = ParamStore::new();
    let autoencoder = Autoencoder::new(&mut store, name, &config, rng)?;
    let batch = 64.min(train.nrows());
    let steps = epochs * train.nrows().div_ceil(batch);
    let loss = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective,
        range: (train.min(), train.max()),
    };
    // The linear autoencoder's loss has slow directions (close eigenvalues of the
    // covariance): it takes larger steps to reach PCA's subspace in the same epochs.
    let start = if name == "linear" { 0.03 } else { 0.003 };
    let group = ParamGroup::all(name, &store, Adam::default()).with_learning_rate(
        LearningRate::Exponential {
            start,
            end: start / 10.0,
            steps,
        },
    );
    let settings = TrainerSettings {
        batch_size: Some(batch),
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, vec![group])?;
    let started = Instant::now();
    trainer.run(&loss, &mut store, train, rng, steps, &mut [])?;
    Ok(Trained {
        autoencoder,
        store,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The decoder's column space (the span of x ↦ g(f(x)) − g(f(0)) for a linear autoencoder),
/// as an orthonormal basis of K columns.
fn decoder_subspace(t: &Trained, inputs: usize, k: usize) -> DMatrix<f64> {
    let identity = DMatrix::identity(inputs, inputs);
    let origin = t
        .autoencoder
        .reconstruct(&t.store, &DMatrix::zeros(1, inputs));
    let mut map = t.autoencoder.reconstruct(&t.store, &identity);
    for mut row in map.row_iter_mut() {
        row -= &origin;
    }
    let svd = map.transpose().svd(true, false);
    svd.u.expect("asked for U").columns(0, k).into_owned()
}

fn run(args: &Args) -> elbo::Result<bool> {
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let names: Vec<String> = if args.variant == "all" {
        VARIANTS.iter().map(|s| s.to_string()).collect()
    } else {
        args.variant
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    if let Some(bad) = names.iter().find(|n| !VARIANTS.contains(&n.as_str())) {
        return Err(elbo::Error::invalid(
            "variant",
            bad,
            "all, or a comma list of: linear, basic, deep, sparse, contractive, denoising, robust, overcomplete, overcomplete-denoising",
        ));
    }
    let (mut train_x, test_x) = match &args.csv {
        Some(path) => {
            let table = read_csv::<f64>(path)?;
            if let Some(warning) = table.header_warning() {
                eprintln!("warning: {}: {warning}", path.display());
            }
            (table.data.clone(), table.data)
        }
        None => {
            let (train, test) = Dataset::<f64>::digits8x8();
            (train.x, test.x)
        }
    };
    if !(0.0..1.0).contains(&args.outliers) {
        return Err(elbo::Error::invalid(
            "outliers",
            args.outliers,
            "a fraction in [0, 1)",
        ));
    }
    let outliers = (args.outliers * train_x.nrows() as f64).round() as usize;
    for i in 0..outliers {
        for v in train_x.row_mut(i).iter_mut() {
            *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
        }
    }
    let corrupted = Corruption::Masking(0.3).apply(&test_x, (0.0, 1.0), &mut rng);
    let code = args.code.min(train_x.ncols());
    println!(
        "{} training and {} test rows of {} features; code {code}; {} epochs; {outliers} outliers",
        train_x.nrows(),
        test_x.nrows(),
        train_x.ncols(),
        args.epochs
    );
    println!(
        "\n{:<24} {:>10} {:>12} {:>10} {:>10} {:>8}",
        "variant", "test_mse", "corrupted", "code act.", "‖J‖²_F", "seconds"
    );
    let mut variants = Map::new();
    for name in &names {
        let t = train(name, &train_x, code, args.epochs, &mut rng)?;
        let activation = t.autoencoder.code_activation();
        let codes = t.autoencoder.codes(&t.store, &test_x);
        let unit = {
            let tape = elbo::autodiff::Tape::<f64>::new();
            activation
                .to_unit_interval(tape.constant(codes.clone()))
                .value()
                .mean()
        };
        let test_mse = mse(&t.autoencoder.reconstruct(&t.store, &test_x), &test_x);
        let corrupted_mse = mse(&t.autoencoder.reconstruct(&t.store, &corrupted), &test_x);
        let jacobian = jacobian_frobenius(&t.autoencoder, &t.store, &test_x);
        println!(
            "{name:<24} {test_mse:>10.4} {corrupted_mse:>12.4} {unit:>10.4} {jacobian:>10.4} {:>8.2}",
            t.seconds
        );
        let mut entry = json!({
            "test_mse": test_mse,
            "test_mse_corrupted": corrupted_mse,
            "mean_code_activation": unit,
            "jacobian_frobenius": jacobian,
            "seconds": t.seconds,
        });
        if name == "linear" {
            let pca = Pca::fit(&train_x, code)?;
            let subspace = decoder_subspace(&t, train_x.ncols(), code);
            let angle = largest_principal_angle(&subspace, &pca.components);
            let pca_mse = mse(&pca.reconstruct(&test_x), &test_x);
            entry["subspace_angle_deg"] = json!(angle);
            entry["pca_test_mse"] = json!(pca_mse);
            println!(
                "  linear: largest angle to PCA's top-{code} subspace {angle:.3}°; PCA's test_mse \
                 {pca_mse:.4}"
            );
            if test_x.nrows() <= 20 {
                let r = t.autoencoder.reconstruct(&t.store, &test_x);
                let rows: Vec<Vec<f64>> = r
                    .row_iter()
                    .map(|row| row.iter().copied().collect())
                    .collect();
                for row in &rows {
                    println!("  {row:.3?}");
                }
                entry["reconstructions"] = json!(rows);
            }
        }
        variants.insert(name.clone(), entry);
    }
    println!(
        "{}",
        json!({
            "variants": Value::Object(variants),
            "code": code,
            "epochs": args.epochs,
            "outliers": outliers,
            "seed": args.seed,
        })
    );
    Ok(true)
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
