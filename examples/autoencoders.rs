//! The autoencoder family side by side on the digits, each variant showing what it is for.
//!
//! ```text
//! cargo run --release --example autoencoders -- [--variant all|linear|basic|deep|stacked|sparse|
//!     contractive|denoising|robust|conv|lstm|overcomplete|overcomplete-denoising, or a comma
//!     list]
//!     [--csv FILE] [--code K] [--epochs N] [--outliers FRACTION] [--seed K] [--out DIR]
//! ```
//!
//! Without `--csv` every variant trains on the 8x8 digits shipped in the crate (1500 training,
//! 297 test images, pixels in [0, 1]) through the engine's one loop, and is measured on the test
//! images: `test_mse` (squared error per image), `test_mse_corrupted` (inputs with 30% of the
//! pixels masked, against the clean images), `mean_code_activation` (codes mapped to (0, 1)),
//! `jacobian_frobenius` (mean ‖J_f(x)‖²_F; null for the convolutional and LSTM ones, whose
//! Jacobians are not computed in closed form). The LSTM variant reads each image row by row. With `--csv` (a header row, numeric columns) the
//! linear variant fits the file and, for at most 20 rows, prints its reconstructions. A CSV is
//! mapped into [0, 1] (each column's minimum, one scale for all) for training, and every figure
//! is reported in its own units. Every variant trains for at least 5,000 steps.
//! `--outliers F` replaces a fraction F of the training images by saturated random pixels, for
//! the robust variant to show its point. Pictures per variant go to `--out` (default
//! `target/autoencoders/`): reconstructions; for denoising, corrupted inputs, outputs and clean
//! targets; the codes' first two principal coordinates by digit; for basic and sparse, a
//! histogram of code activations. The last line is one JSON object.

use clap::Parser;
use elbo::ParamStore;
use elbo::autodiff::Conv2d;
use elbo::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderLoss, Codec, Corruption, NetworkAutoencoder,
    Objective, Reconstruction, SequenceAutoencoder, Sparsity, pretrain_layerwise,
};
use elbo::data::{Dataset, Standardization, read_csv};
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::io::check_writable_dir;
use elbo::nn::{Activation, ConvLayer, Init, Linear, Sequential};
use elbo::optim::{Adam, LearningRate};
use elbo::plot::{image_grid, labelled_scatter, line_chart};
use elbo::reduction::{Pca, largest_principal_angle};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const VARIANTS: [&str; 12] = [
    "linear",
    "basic",
    "deep",
    "stacked",
    "sparse",
    "contractive",
    "denoising",
    "robust",
    "conv",
    "lstm",
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
    /// Folder for the pictures (default: target/autoencoders in the crate).
    #[arg(long)]
    out: Option<PathBuf>,
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
        "deep" | "stacked" => (logistic(vec![inputs, 48, code]), basic),
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

/// The fewest steps a variant trains for, whatever the data's size.
const MIN_STEPS: usize = 5_000;

/// Mean over rows of the squared error per row.
fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).iter().map(|v| v * v).sum::<f64>() / a.nrows() as f64
}

struct Trained {
    autoencoder: Box<dyn Codec<f64>>,
    store: ParamStore<f64>,
    seconds: f64,
}

/// Runs the engine on `loss` for `epochs` passes in minibatches of 64, Adam's step decaying
/// tenfold from `start`.
fn run_engine<A: Codec<f64> + ?Sized>(
    loss: &AutoencoderLoss<'_, f64, A>,
    store: &mut ParamStore<f64>,
    data: &DMatrix<f64>,
    epochs: usize,
    start: f64,
    rng: &mut Pcg64,
) -> elbo::Result<()> {
    let batch = 64.min(data.nrows());
    // At least 5,000 steps, so that a small CSV (one minibatch an epoch) still converges in
    // the default epochs.
    let steps = (epochs * data.nrows().div_ceil(batch)).max(MIN_STEPS);
    let group = ParamGroup::all("all", store, Adam::default()).with_learning_rate(
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
    trainer.run(loss, store, data, rng, steps, &mut [])?;
    Ok(())
}

/// The convolutional autoencoder for images of `shape`: a strided 3x3 convolution to 8
/// channels at half the resolution and a dense layer to the code; a dense layer back and the
/// transposed convolution.
fn convolutional(
    store: &mut ParamStore<f64>,
    shape: (usize, usize),
    code: usize,
    rng: &mut Pcg64,
) -> elbo::Result<NetworkAutoencoder<Sequential<f64>, Sequential<f64>>> {
    let g = Conv2d {
        in_channels: 1,
        height: shape.0,
        width: shape.1,
        out_channels: 8,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let hidden = g.output_len();
    let encoder = Sequential::new()
        .then(
            ConvLayer::new(store, "conv.encoder.0", g, Init::He, rng)?,
            Activation::Relu,
        )?
        .then(
            Linear::new(store, "conv.encoder.1", hidden, code, Init::Xavier, rng)?,
            Activation::Identity,
        )?;
    let decoder = Sequential::new()
        .then(
            Linear::new(store, "conv.decoder.0", code, hidden, Init::He, rng)?,
            Activation::Relu,
        )?
        .then(
            ConvLayer::transposed(store, "conv.decoder.1", g, Init::Xavier, rng)?,
            Activation::Identity,
        )?;
    Ok(NetworkAutoencoder {
        encoder,
        decoder,
        code: Activation::Sigmoid,
        output: Activation::Sigmoid,
        weights: Vec::new(),
    })
}

fn train(
    name: &str,
    train: &DMatrix<f64>,
    shape: Option<(usize, usize)>,
    code: usize,
    epochs: usize,
    rng: &mut Pcg64,
) -> elbo::Result<Trained> {
    let (config, objective) = variant(name, train.ncols(), code);
    let mut store = ParamStore::new();
    let range = (train.min(), train.max());
    let started = Instant::now();
    if name == "conv" || name == "lstm" {
        let shape = shape.ok_or_else(|| {
            elbo::Error::invalid(
                "variant",
                name.to_string(),
                "images (the digits), not a CSV",
            )
        })?;
        let autoencoder: Box<dyn Codec<f64>> = if name == "conv" {
            Box::new(convolutional(&mut store, shape, code, rng)?)
        } else {
            // Each image read row by row: H steps of W pixels, LSTMs of 32 units.
            let activations = (Activation::Sigmoid, Activation::Sigmoid);
            Box::new(SequenceAutoencoder::new(
                &mut store,
                "lstm",
                shape,
                32,
                code,
                activations,
                rng,
            )?)
        };
        let loss = AutoencoderLoss {
            autoencoder: &*autoencoder,
            objective,
            range,
        };
        run_engine(&loss, &mut store, train, epochs, 0.003, rng)?;
        return Ok(Trained {
            autoencoder,
            store,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let autoencoder = Autoencoder::new(&mut store, name, &config, rng)?;
    // The linear autoencoder's loss has slow directions (close eigenvalues of the
    // covariance): it takes larger steps to reach PCA's subspace in the same epochs.
    let start = if name == "linear" { 0.03 } else { 0.003 };
    let mut fine_tuning = epochs;
    if name == "stacked" {
        // Equal total epochs with the deep variant: a third per layer, a third fine-tuning.
        let share = epochs / (autoencoder.depth() + 1);
        fine_tuning = epochs - share * autoencoder.depth();
        pretrain_layerwise(
            &autoencoder,
            &mut store,
            objective,
            train,
            rng,
            |loss, store, data, rng| run_engine(loss, store, data, share, start, rng),
        )?;
    }
    let loss = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective,
        range,
    };
    run_engine(&loss, &mut store, train, fine_tuning, start, rng)?;
    Ok(Trained {
        autoencoder: Box::new(autoencoder),
        store,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Mean ‖J_f(x)‖²_F over the rows of `x`, where the model knows it exactly.
fn mean_jacobian(t: &Trained, x: &DMatrix<f64>) -> Option<f64> {
    let tape = elbo::autodiff::Tape::for_evaluation(&t.store);
    let (_, frobenius) = t
        .autoencoder
        .encode_with_jacobian(tape.constant(x.clone()), true);
    frobenius.map(|f| f.value().mean())
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

/// Rows of a matrix as images.
fn rows(m: &DMatrix<f64>, n: usize) -> Vec<Vec<f64>> {
    m.row_iter()
        .take(n)
        .map(|r| r.iter().copied().collect())
        .collect()
}

/// A variant's pictures: test images above their reconstructions (for denoising variants:
/// corrupted inputs, outputs, clean targets), its codes' first two principal coordinates by
/// digit, and (sparse) a histogram of code activations.
fn draw(
    out: &std::path::Path,
    name: &str,
    t: &Trained,
    test: &Dataset<f64>,
    corrupted: &DMatrix<f64>,
    unit_codes: &DMatrix<f64>,
) -> elbo::Result<()> {
    let Some(shape) = test.image_shape else {
        return Ok(());
    };
    let shown = 10.min(test.len());
    let path = |file: &str| out.join(format!("{name}_{file}.png"));
    if name.contains("denoising") {
        let output = t.autoencoder.reconstruct(&t.store, corrupted);
        let mut images = rows(corrupted, shown);
        images.extend(rows(&output, shown));
        images.extend(rows(&test.x, shown));
        image_grid(
            &path("denoising"),
            &format!("{name}: 30% masked inputs, outputs, clean targets"),
            &images,
            shape,
            shown,
        )?;
    }
    let mut images = rows(&test.x, shown);
    images.extend(rows(&t.autoencoder.reconstruct(&t.store, &test.x), shown));
    image_grid(
        &path("reconstructions"),
        &format!("{name}: test images (top) and reconstructions (bottom)"),
        &images,
        shape,
        shown,
    )?;
    if let Some(labels) = &test.labels {
        let codes = t.autoencoder.codes(&t.store, &test.x);
        if codes.ncols() >= 2 {
            let pca = Pca::fit(&codes, 2)?;
            let centred = DMatrix::from_fn(codes.nrows(), codes.ncols(), |i, j| {
                codes[(i, j)] - pca.mean[j]
            });
            let xy = centred * &pca.components;
            let points: Vec<(f64, f64)> = xy.row_iter().map(|r| (r[0], r[1])).collect();
            labelled_scatter(
                &path("codes"),
                &format!("{name}: test codes, first two principal coordinates"),
                ("PC 1", "PC 2"),
                &points,
                labels,
            )?;
        }
    }
    if name == "sparse" || name == "basic" {
        let bins = 20;
        let mut counts = vec![0.0; bins];
        for v in unit_codes.iter() {
            counts[((v * bins as f64) as usize).min(bins - 1)] += 1.0;
        }
        let total = unit_codes.len() as f64;
        let series: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(k, c)| ((k as f64 + 0.5) / bins as f64, c / total))
            .collect();
        line_chart(
            &path("activations"),
            &format!("{name}: code activations on test images"),
            "activation (mapped to (0, 1))",
            "fraction",
            &[(name, series)],
        )?;
    }
    Ok(())
}

fn run(args: &Args) -> elbo::Result<bool> {
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/autoencoders"));
    check_writable_dir(&out)?;
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
            "all, or a comma list of: linear, basic, deep, stacked, sparse, contractive, denoising, robust, conv, lstm, overcomplete, overcomplete-denoising",
        ));
    }
    // A CSV is mapped into [0, 1] — the range the logistic outputs, the masking (to 0) and the
    // digits assume — by each column's minimum and one scale for all columns (the largest
    // range), which keeps the data's geometry (PCA's subspace) and is undone for every figure.
    let (mut train_x, test, units) = match &args.csv {
        Some(path) => {
            let table = read_csv::<f64>(path)?;
            if let Some(warning) = table.header_warning() {
                eprintln!("warning: {}: {warning}", path.display());
            }
            let offset: Vec<f64> = table.data.column_iter().map(|c| c.min()).collect();
            let range = table
                .data
                .column_iter()
                .zip(&offset)
                .map(|(c, low)| c.max() - low)
                .fold(0.0, f64::max);
            let units = Standardization {
                offset,
                scale: if range > 0.0 { range } else { 1.0 },
            };
            let x = units.apply(&table.data);
            let test = Dataset {
                x: x.clone(),
                labels: None,
                image_shape: None,
            };
            (x, test, units)
        }
        None => {
            let (train, test) = Dataset::<f64>::digits8x8();
            let units = Standardization {
                offset: vec![0.0; train.x.ncols()],
                scale: 1.0,
            };
            (train.x, test, units)
        }
    };
    // Squared errors back in the data's units; the Jacobian of f with respect to raw x.
    let squared_units = units.scale * units.scale;
    let test_x = test.x.clone();
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
        let t = train(
            name,
            &train_x,
            test.image_shape,
            code,
            args.epochs,
            &mut rng,
        )?;
        let activation = t.autoencoder.code_activation();
        let codes = t.autoencoder.codes(&t.store, &test_x);
        let unit_codes = {
            let tape = elbo::autodiff::Tape::<f64>::new();
            activation
                .to_unit_interval(tape.constant(codes.clone()))
                .value()
                .clone_owned()
        };
        let unit = unit_codes.mean();
        draw(&out, name, &t, &test, &corrupted, &unit_codes)?;
        let test_mse = squared_units * mse(&t.autoencoder.reconstruct(&t.store, &test_x), &test_x);
        let corrupted_mse =
            squared_units * mse(&t.autoencoder.reconstruct(&t.store, &corrupted), &test_x);
        let jacobian = mean_jacobian(&t, &test_x).map(|j| j / squared_units);
        let shown = jacobian.map_or("-".to_string(), |j| {
            if j == 0.0 || j >= 0.01 {
                format!("{j:.4}")
            } else {
                format!("{j:.3e}")
            }
        });
        println!(
            "{name:<24} {test_mse:>10.4} {corrupted_mse:>12.4} {unit:>10.4} {shown:>10} {:>8.2}",
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
            let pca_mse = squared_units * mse(&pca.reconstruct(&test_x), &test_x);
            entry["subspace_angle_deg"] = json!(angle);
            entry["pca_test_mse"] = json!(pca_mse);
            println!(
                "  linear: largest angle to PCA's top-{code} subspace {angle:.3}°; PCA's test_mse \
                 {pca_mse:.4}"
            );
            if test_x.nrows() <= 20 {
                let r = units.invert(t.autoencoder.reconstruct(&t.store, &test_x));
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
    println!("pictures in {}", out.display());
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
