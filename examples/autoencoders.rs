//! The autoencoder family side by side on the digits, each variant showing what it is for.
//!
//! ```text
//! cargo run --release --example autoencoders -- [--variant all|linear|basic|deep|stacked|sparse|
//!     contractive|denoising|stacked-denoising|robust|conv|vae-conv|lstm|lstm-sines|
//!     overcomplete|overcomplete-denoising, or a comma list]
//!     [--csv FILE | --data DIR] [--code K] [--epochs N] [--outliers FRACTION] [--seed K]
//!     [--device cpu|cuda|cuda:N|emulated]
//!     [--out DIR]
//! ```
//!
//! Without `--csv` or `--data` every variant trains on the 8x8 digits shipped in the crate
//! (1500 training, 297 test images, pixels in [0, 1]) through the engine's one loop, and is
//! measured on the test images: `test_mse` (squared error per image), `test_mse_corrupted`
//! (inputs with 30% of the pixels masked, against the clean images), `mean_code_activation`
//! (codes mapped to (0, 1)), `jacobian_frobenius` (mean ‖J_f(x)‖²_F; null for the convolutional,
//! variational and LSTM ones, whose Jacobians are not computed exactly). `--data DIR` reads
//! MNIST-format images instead (`train-images-idx3-ubyte`, `t10k-images-idx3-ubyte` and,
//! optionally, the label files). The LSTM variant reads each image row by row; `lstm-sines`
//! learns noisy sine waves of random frequency and phase (its own data set), and adds
//! `test_mse_clean`, its error against the waves without noise. `vae-conv` is a convolutional
//! VAE (Bernoulli pixels, a standard normal prior over K latents): its codes are the encoder's
//! means, and it adds `test_elbo` and a grid of samples.
//!
//! With `--csv` (a header row, numeric columns) the table is mapped into [0, 1] (each column's
//! minimum, one scale for all) for training, every figure is reported in its own units, `all`
//! runs the variants that need no images, and the linear variant prints its reconstructions
//! of files of at most 20 rows. Every variant trains for at least 5,000 steps.
//! `--outliers F` replaces a fraction F of the training images by saturated random pixels, for
//! the robust variant to show its point. Pictures per variant go to `--out` (default
//! `target/autoencoders/`): reconstructions; for denoising, corrupted inputs, outputs and clean
//! targets; the codes' first two principal coordinates by digit; for basic and sparse, a
//! histogram of code activations; waves for `lstm-sines`; samples for `vae-conv`. The last
//! line is one JSON object.

use clap::Parser;
use elbo::ParamStore;
use elbo::autodiff::{Conv2d, Tape};
use elbo::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderLoss, Codec, Corruption, NetworkAutoencoder,
    Objective, Reconstruction, SequenceAutoencoder, Sparsity, pretrain_layerwise,
};
use elbo::backend::Device;
use elbo::data::{Dataset, NoisySines, Standardization, read_csv};
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::guide::GaussianEncoder;
use elbo::io::check_writable_dir;
use elbo::likelihood::BernoulliDecoder;
use elbo::model::Decoder;
use elbo::nn::{Activation, ConvLayer, Init, Linear, Network, Sequential};
use elbo::optim::{Adam, LearningRate};
use elbo::plot::{image_grid, labelled_scatter, line_chart};
use elbo::prior::StandardNormal;
use elbo::reduction::{Pca, largest_principal_angle};
use elbo::vae::{Vae, VaeTraining};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[path = "support/step_bar.rs"]
mod step_bar;
use step_bar::StepBar;

const VARIANTS: [&str; 15] = [
    "linear",
    "basic",
    "deep",
    "stacked",
    "sparse",
    "contractive",
    "denoising",
    "stacked-denoising",
    "robust",
    "conv",
    "vae-conv",
    "lstm",
    "lstm-sines",
    "overcomplete",
    "overcomplete-denoising",
];

/// Variants that read the rows as images: not for a CSV.
const IMAGE_VARIANTS: [&str; 3] = ["conv", "vae-conv", "lstm"];

/// Train the autoencoder family on the digits and compare what each variant is for.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// `all`, or a comma list of variants.
    #[arg(long, default_value = "all")]
    variant: String,
    /// CSV (header row, numeric columns) instead of the digits.
    #[arg(long, conflicts_with = "data")]
    csv: Option<PathBuf>,
    /// Folder of MNIST-format images (train-* and t10k-*) instead of the digits.
    #[arg(long)]
    data: Option<PathBuf>,
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
    /// Where training runs: cpu, cuda (the first GPU; needs a build with `--features cuda`),
    /// cuda:N, or emulated (the device code path on the CPU, for testing). Evaluation runs on
    /// the CPU.
    #[arg(long, default_value = "cpu")]
    device: Device,
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
    let masking = Objective {
        corruption: Corruption::Masking(0.3),
        ..basic
    };
    match name {
        "linear" => (
            AutoencoderConfig::shallow(inputs, code, Activation::Identity),
            basic,
        ),
        "deep" | "stacked" => (logistic(vec![inputs, 48, code]), basic),
        "stacked-denoising" => (logistic(vec![inputs, 48, code]), masking),
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
        "denoising" => (logistic(vec![inputs, code]), masking),
        "robust" => (
            logistic(vec![inputs, code]),
            Objective {
                reconstruction: Reconstruction::Correntropy { bandwidth: 0.3 },
                ..basic
            },
        ),
        "overcomplete" => (logistic(vec![inputs, 2 * inputs]), basic),
        "overcomplete-denoising" => (logistic(vec![inputs, 2 * inputs]), masking),
        _ => (logistic(vec![inputs, code]), basic),
    }
}

/// The fewest steps a variant trains for, whatever the data's size.
const MIN_STEPS: usize = 5_000;

/// Rows per minibatch.
const BATCH: usize = 64;

/// Epochs that make at least [`MIN_STEPS`] steps on `rows` rows, and at least `epochs`.
fn epochs_for(epochs: usize, rows: usize) -> usize {
    let per_epoch = rows.div_ceil(BATCH.min(rows));
    epochs.max(MIN_STEPS.div_ceil(per_epoch))
}

/// Mean over rows of the squared error per row.
fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).iter().map(|v| v * v).sum::<f64>() / a.nrows() as f64
}

/// What a variant trains and is measured on.
struct Task {
    train: DMatrix<f64>,
    test: Dataset<f64>,
    /// The test rows with 30% of their entries masked.
    corrupted: DMatrix<f64>,
    /// The test rows without noise, where they are known (the sine waves).
    clean: Option<DMatrix<f64>>,
    /// How the rows were mapped from the data's units.
    units: Standardization,
    /// Where its variants train.
    device: Device,
}

/// The convolutional VAE: Bernoulli pixels, a standard normal prior.
type ConvVae = Vae<f64, StandardNormal, Box<dyn Decoder<f64>>>;

/// A trained variant.
enum Model {
    /// An autoencoder and its parameters.
    Autoencoder {
        codec: Box<dyn Codec<f64>>,
        store: ParamStore<f64>,
    },
    /// The convolutional VAE, which keeps its own parameters.
    Vae(Box<ConvVae>),
}

impl Model {
    fn reconstruct(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        match self {
            Model::Autoencoder { codec, store } => codec.reconstruct(store, x),
            Model::Vae(vae) => vae.reconstruct(x),
        }
    }

    /// The codes: the code layer's values, or the VAE encoder's means.
    fn codes(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        match self {
            Model::Autoencoder { codec, store } => codec.codes(store, x),
            Model::Vae(vae) => vae.encode(x).0,
        }
    }

    fn code_activation(&self) -> Activation {
        match self {
            Model::Autoencoder { codec, .. } => codec.code_activation(),
            Model::Vae(_) => Activation::Identity,
        }
    }

    /// Mean ‖J_f(x)‖²_F over the rows of `x`, where the model knows it exactly. Evaluated in
    /// chunks: a deep encoder's Jacobian takes (rows)²·(features) entries on the tape.
    fn mean_jacobian(&self, x: &DMatrix<f64>) -> Option<f64> {
        let Model::Autoencoder { codec, store } = self else {
            return None;
        };
        if !codec.has_exact_jacobian() {
            return None;
        }
        let chunk = ((1usize << 20) as f64 / x.ncols() as f64).sqrt().max(1.0) as usize;
        let mut total = 0.0;
        for start in (0..x.nrows()).step_by(chunk) {
            let rows = chunk.min(x.nrows() - start);
            let tape = Tape::for_evaluation(store);
            let (_, frobenius) =
                codec.encode_with_jacobian(tape.constant(x.rows(start, rows).into_owned()), true);
            total += frobenius?.value().sum();
        }
        Some(total / x.nrows() as f64)
    }
}

struct Trained {
    model: Model,
    seconds: f64,
}

/// Runs the engine on `loss` for `epochs` passes (at least [`MIN_STEPS`] steps) in
/// minibatches of 64 on `device`, Adam's step decaying tenfold from `start`.
#[allow(clippy::too_many_arguments)]
fn run_engine<A: Codec<f64> + ?Sized>(
    what: &str,
    loss: &AutoencoderLoss<'_, f64, A>,
    store: &mut ParamStore<f64>,
    data: &DMatrix<f64>,
    epochs: usize,
    start: f64,
    device: Device,
    rng: &mut Pcg64,
) -> elbo::Result<()> {
    let batch = BATCH.min(data.nrows());
    let steps = epochs_for(epochs, data.nrows()) * data.nrows().div_ceil(batch);
    let group = ParamGroup::all("all", store, Adam::default()).with_learning_rate(
        LearningRate::Exponential {
            start,
            end: start / 10.0,
            steps,
        },
    );
    let settings = TrainerSettings {
        batch_size: Some(batch),
        device,
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, vec![group])?;
    let mut bar = StepBar::new(what, steps);
    trainer.run(loss, store, data, rng, steps, &mut [&mut bar])?;
    Ok(())
}

/// The convolution shared by the convolutional variants: 3x3 to 8 channels at stride 2, so
/// half the resolution.
fn convolution(shape: (usize, usize)) -> Conv2d {
    Conv2d {
        in_channels: 1,
        height: shape.0,
        width: shape.1,
        out_channels: 8,
        kernel: 3,
        stride: 2,
        padding: 1,
    }
}

/// The convolution and its ReLU: the convolutional encoders' trunk.
fn conv_trunk(
    store: &mut ParamStore<f64>,
    name: &str,
    g: Conv2d,
    rng: &mut Pcg64,
) -> elbo::Result<Sequential<f64>> {
    Sequential::new().then(
        ConvLayer::new(store, name, g, Init::He, rng)?,
        Activation::Relu,
    )
}

/// A dense layer from the code back to the convolution's output and the transposed
/// convolution (no activation: the caller's output activation or likelihood follows).
fn conv_decoder(
    store: &mut ParamStore<f64>,
    name: &str,
    g: Conv2d,
    code: usize,
    rng: &mut Pcg64,
) -> elbo::Result<Sequential<f64>> {
    Sequential::new()
        .then(
            Linear::new(
                store,
                &format!("{name}.0"),
                code,
                g.output_len(),
                Init::He,
                rng,
            )?,
            Activation::Relu,
        )?
        .then(
            ConvLayer::transposed(store, &format!("{name}.1"), g, Init::Xavier, rng)?,
            Activation::Identity,
        )
}

/// The convolutional autoencoder: the trunk and a dense layer to the logistic code; the
/// decoder back, logistic pixels.
fn convolutional(
    store: &mut ParamStore<f64>,
    shape: (usize, usize),
    code: usize,
    rng: &mut Pcg64,
) -> elbo::Result<NetworkAutoencoder<Sequential<f64>, Sequential<f64>>> {
    let g = convolution(shape);
    let encoder = conv_trunk(store, "conv.encoder.0", g, rng)?.then(
        Linear::new(
            store,
            "conv.encoder.1",
            g.output_len(),
            code,
            Init::Xavier,
            rng,
        )?,
        Activation::Identity,
    )?;
    Ok(NetworkAutoencoder {
        encoder,
        decoder: conv_decoder(store, "conv.decoder", g, code, rng)?,
        code: Activation::Sigmoid,
        output: Activation::Sigmoid,
        weights: Vec::new(),
    })
}

/// The convolutional VAE on the same networks as the convolutional autoencoder (Gaussian
/// heads on the trunk, Bernoulli pixels from the decoder's logits), trained by the VAE's
/// epochs through the engine at a constant step of 0.003.
fn train_conv_vae(
    task: &Task,
    shape: (usize, usize),
    code: usize,
    epochs: usize,
    rng: &mut Pcg64,
) -> elbo::Result<ConvVae> {
    let g = convolution(shape);
    let mut store = ParamStore::new();
    let trunk: Box<dyn Network<f64>> = Box::new(conv_trunk(&mut store, "vae-conv.trunk", g, rng)?);
    let encoder = GaussianEncoder::new(
        &mut store,
        "vae-conv.encoder",
        trunk,
        code,
        Init::Xavier,
        rng,
    )?;
    let decoder: Box<dyn Decoder<f64>> = Box::new(BernoulliDecoder::new(conv_decoder(
        &mut store,
        "vae-conv.decoder",
        g,
        code,
        rng,
    )?));
    let training = VaeTraining {
        batch_size: BATCH,
        learning_rate: 0.003,
        device: task.device,
        ..VaeTraining::default()
    };
    let mut vae = Vae::from_parts(
        store,
        StandardNormal::new(code)?,
        encoder,
        decoder,
        training,
        Pcg64::seed_from_u64(rng.random()),
    )?;
    let epochs = epochs_for(epochs, task.train.nrows());
    let per_epoch = task.train.nrows().div_ceil(BATCH);
    let bar = StepBar::new("vae-conv", epochs * per_epoch);
    let train = vae.training_data(&task.train)?;
    for _ in 0..epochs {
        vae.train_epoch_on(&train, |_| {})?;
        bar.0.inc(per_epoch as u64);
    }
    Ok(vae)
}

fn train(
    name: &str,
    task: &Task,
    code: usize,
    epochs: usize,
    rng: &mut Pcg64,
) -> elbo::Result<Trained> {
    let started = Instant::now();
    let trained = |model| Trained {
        model,
        seconds: started.elapsed().as_secs_f64(),
    };
    let train = &task.train;
    let range = (train.min(), train.max());
    let shape = || {
        task.test.image_shape.ok_or_else(|| {
            elbo::Error::invalid(
                "variant",
                name.to_string(),
                "images (the digits), not a CSV",
            )
        })
    };
    if name == "vae-conv" {
        let vae = train_conv_vae(task, shape()?, code, epochs, rng)?;
        return Ok(trained(Model::Vae(Box::new(vae))));
    }
    let mut store = ParamStore::new();
    let network: Option<Box<dyn Codec<f64>>> = match name {
        "conv" => Some(Box::new(convolutional(&mut store, shape()?, code, rng)?)),
        // Each image read row by row: H steps of W pixels, LSTMs of 32 units.
        "lstm" => Some(Box::new(SequenceAutoencoder::new(
            &mut store,
            "lstm",
            shape()?,
            32,
            code,
            (Activation::Sigmoid, Activation::Sigmoid),
            rng,
        )?)),
        // One feature a step; a wave has two degrees of freedom (frequency and phase), so
        // four code units, tanh, and unbounded outputs.
        "lstm-sines" => Some(Box::new(SequenceAutoencoder::new(
            &mut store,
            "lstm-sines",
            (train.ncols(), 1),
            32,
            4,
            (Activation::Tanh, Activation::Identity),
            rng,
        )?)),
        _ => None,
    };
    if let Some(codec) = network {
        let loss = AutoencoderLoss {
            autoencoder: &*codec,
            objective: Objective::default(),
            range,
        };
        run_engine(
            name,
            &loss,
            &mut store,
            train,
            epochs,
            0.003,
            task.device,
            rng,
        )?;
        return Ok(trained(Model::Autoencoder { codec, store }));
    }
    let (config, objective) = variant(name, train.ncols(), code);
    let autoencoder = Autoencoder::new(&mut store, name, &config, rng)?;
    // The linear autoencoder's loss has slow directions (close eigenvalues of the
    // covariance): it takes larger steps to reach PCA's subspace in the same epochs. The
    // logistic ones reach a lower test error, and vary less from seed to seed, at 0.01 than at
    // 0.003 (0.67-0.70 against 0.85-0.90 for basic over seeds 0-3).
    let start = if name == "linear" { 0.03 } else { 0.01 };
    let mut fine_tuning = epochs;
    if name.starts_with("stacked") {
        // Equal total epochs with the deep variant: a third per layer, a third fine-tuning.
        let share = epochs / (autoencoder.depth() + 1);
        fine_tuning = epochs - share * autoencoder.depth();
        pretrain_layerwise(
            &autoencoder,
            &mut store,
            objective,
            train,
            rng,
            |loss, store, data, rng| {
                run_engine(
                    &format!("{name} (a layer)"),
                    loss,
                    store,
                    data,
                    share,
                    start,
                    task.device,
                    rng,
                )
            },
        )?;
    }
    if name == "robust" {
        // Correntropy is not convex and its gradient vanishes for large residuals: started
        // from random weights it lands far from the data as often as not. As maximum-
        // correntropy fits usually do, it starts from the least-squares fit (a third of the
        // epochs), from which it then discounts the pixels it cannot explain.
        let share = epochs / 3;
        fine_tuning = epochs - share;
        let least_squares = AutoencoderLoss {
            autoencoder: &autoencoder,
            objective: Objective {
                reconstruction: Reconstruction::SquaredError,
                ..objective
            },
            range,
        };
        run_engine(
            "robust (least squares)",
            &least_squares,
            &mut store,
            train,
            share,
            start,
            task.device,
            rng,
        )?;
    }
    let loss = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective,
        range,
    };
    run_engine(
        name,
        &loss,
        &mut store,
        train,
        fine_tuning,
        start,
        task.device,
        rng,
    )?;
    Ok(trained(Model::Autoencoder {
        codec: Box::new(autoencoder),
        store,
    }))
}

/// The decoder's column space (the span of x ↦ g(f(x)) − g(f(0)) for a linear autoencoder),
/// as an orthonormal basis of K columns.
fn decoder_subspace(model: &Model, inputs: usize, k: usize) -> DMatrix<f64> {
    let identity = DMatrix::identity(inputs, inputs);
    let origin = model.reconstruct(&DMatrix::zeros(1, inputs));
    let mut map = model.reconstruct(&identity);
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
/// digit, (basic, sparse) a histogram of code activations, (VAE) samples, and (sequences) waves.
fn draw(
    out: &Path,
    name: &str,
    model: &Model,
    task: &Task,
    unit_codes: &DMatrix<f64>,
    rng: &mut Pcg64,
) -> elbo::Result<()> {
    let path = |file: &str| out.join(format!("{name}_{file}.png"));
    let test = &task.test;
    if let Some(clean) = &task.clean {
        let output = model.reconstruct(&test.x);
        let wave = |m: &DMatrix<f64>, i: usize| -> Vec<(f64, f64)> {
            m.row(i)
                .iter()
                .enumerate()
                .map(|(t, v)| (t as f64, *v))
                .collect()
        };
        let mut series = Vec::new();
        for i in 0..2.min(test.len()) {
            series.push((format!("wave {} noisy", i + 1), wave(&test.x, i)));
            series.push((format!("wave {} clean", i + 1), wave(clean, i)));
            series.push((format!("wave {} reconstructed", i + 1), wave(&output, i)));
        }
        let named: Vec<(&str, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(n, s)| (n.as_str(), s.clone()))
            .collect();
        line_chart(
            &path("waves"),
            &format!("{name}: test waves, their clean signal and reconstructions"),
            "step",
            "value",
            &named,
        )?;
    }
    let Some(shape) = test.image_shape else {
        return Ok(());
    };
    let shown = 10.min(test.len());
    if name.contains("denoising") {
        let output = model.reconstruct(&task.corrupted);
        let mut images = rows(&task.corrupted, shown);
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
    images.extend(rows(&model.reconstruct(&test.x), shown));
    image_grid(
        &path("reconstructions"),
        &format!("{name}: test images (top) and reconstructions (bottom)"),
        &images,
        shape,
        shown,
    )?;
    if let Model::Vae(vae) = model {
        let samples = vae.sample(100, rng)?;
        image_grid(
            &path("samples"),
            &format!("{name}: decoded draws from the prior"),
            &rows(&samples, 100),
            shape,
            10,
        )?;
    }
    if let Some(labels) = &test.labels {
        let codes = model.codes(&test.x);
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

/// The variants asked for, checked before anything trains: `all` is every variant the data
/// allows (a CSV has no images).
fn variants_asked(asked: &str, images: bool) -> elbo::Result<Vec<String>> {
    if asked == "all" {
        return Ok(VARIANTS
            .iter()
            .filter(|v| images || !(IMAGE_VARIANTS.contains(v) || **v == "lstm-sines"))
            .map(|v| v.to_string())
            .collect());
    }
    let names: Vec<String> = asked.split(',').map(|s| s.trim().to_string()).collect();
    for name in &names {
        if !VARIANTS.contains(&name.as_str()) {
            return Err(elbo::Error::invalid(
                "variant",
                name,
                "all, or a comma list of: linear, basic, deep, stacked, sparse, contractive, \
                 denoising, stacked-denoising, robust, conv, vae-conv, lstm, lstm-sines, \
                 overcomplete, overcomplete-denoising",
            ));
        }
        if !images && IMAGE_VARIANTS.contains(&name.as_str()) {
            return Err(elbo::Error::invalid(
                "variant",
                name,
                "images (the digits or --data), not a CSV",
            ));
        }
    }
    Ok(names)
}

/// The data asked for, mapped into [0, 1] with the map kept: the digits, MNIST-format images,
/// or a CSV.
fn load(args: &Args) -> elbo::Result<(DMatrix<f64>, Dataset<f64>, Standardization)> {
    let identity = |dim| Standardization {
        offset: vec![0.0; dim],
        scale: 1.0,
    };
    if let Some(path) = &args.csv {
        let table = read_csv::<f64>(path)?;
        if let Some(warning) = table.header_warning() {
            eprintln!("warning: {}: {warning}", path.display());
        }
        // A CSV is mapped into [0, 1] — the range the logistic outputs, the masking (to 0)
        // and the digits assume — by each column's minimum and one scale for all columns (the
        // largest range), which keeps the data's geometry (PCA's subspace) and is undone for
        // every figure.
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
        return Ok((x, test, units));
    }
    let (train, test) = match &args.data {
        Some(dir) => (
            Dataset::<f64>::read_idx_dir(dir, "train")?,
            Dataset::<f64>::read_idx_dir(dir, "t10k")?,
        ),
        None => Dataset::<f64>::digits8x8(),
    };
    if train.dim() != test.dim() {
        return Err(elbo::Error::shape(
            "test images (pixels per image)",
            (test.len(), train.dim()),
            (test.len(), test.dim()),
        ));
    }
    let units = identity(train.dim());
    Ok((train.x, test, units))
}

/// 1000 training and 200 test waves of 16 steps, noise sd 0.1.
fn sines(device: Device, rng: &mut Pcg64) -> elbo::Result<Task> {
    let train = NoisySines::<f64>::generate(1000, 16, 0.1, rng)?;
    let test = NoisySines::<f64>::generate(200, 16, 0.1, rng)?;
    let corrupted = Corruption::Masking(0.3).apply(&test.noisy, (-1.0, 1.0), rng);
    Ok(Task {
        train: train.noisy,
        test: Dataset {
            x: test.noisy,
            labels: None,
            image_shape: None,
        },
        corrupted,
        clean: Some(test.clean),
        units: Standardization {
            offset: vec![0.0; 16],
            scale: 1.0,
        },
        device,
    })
}

fn run(args: &Args) -> elbo::Result<()> {
    let mut rng = Pcg64::seed_from_u64(args.seed);
    if !(0.0..1.0).contains(&args.outliers) {
        return Err(elbo::Error::invalid(
            "outliers",
            args.outliers,
            "a fraction in [0, 1)",
        ));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/autoencoders"));
    check_writable_dir(&out)?;
    // Before anything is read or trained: a device that cannot be used is said at once.
    args.device.check()?;
    let (mut train_x, test, units) = load(args)?;
    let names = variants_asked(&args.variant, test.image_shape.is_some())?;
    let outliers = (args.outliers * train_x.nrows() as f64).round() as usize;
    for i in 0..outliers {
        for v in train_x.row_mut(i).iter_mut() {
            *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
        }
    }
    let corrupted = Corruption::Masking(0.3).apply(&test.x, (0.0, 1.0), &mut rng);
    let code = args.code.min(train_x.ncols());
    println!(
        "{} training and {} test rows of {} features; code {code}; {} epochs; {outliers} outliers",
        train_x.nrows(),
        test.len(),
        train_x.ncols(),
        args.epochs
    );
    let task = Task {
        train: train_x,
        test,
        corrupted,
        clean: None,
        units,
        device: args.device,
    };
    let waves = if names.iter().any(|n| n == "lstm-sines") {
        Some(sines(args.device, &mut rng)?)
    } else {
        None
    };
    println!(
        "\n{:<24} {:>10} {:>12} {:>10} {:>10} {:>8}",
        "variant", "test_mse", "corrupted", "code act.", "‖J‖²_F", "seconds"
    );
    let mut variants = Map::new();
    for name in &names {
        let task = match (&waves, name.as_str()) {
            (Some(waves), "lstm-sines") => waves,
            _ => &task,
        };
        let test_x = &task.test.x;
        let t = train(name, task, code, args.epochs, &mut rng)?;
        let model = &t.model;
        let unit_codes = {
            let tape = Tape::<f64>::new();
            model
                .code_activation()
                .to_unit_interval(tape.constant(model.codes(test_x)))
                .value()
                .clone_owned()
        };
        let unit = unit_codes.mean();
        draw(&out, name, model, task, &unit_codes, &mut rng)?;
        // Squared errors back in the data's units; the Jacobian of f with respect to raw x.
        let squared_units = task.units.scale * task.units.scale;
        let test_mse = squared_units * mse(&model.reconstruct(test_x), test_x);
        let corrupted_mse = squared_units * mse(&model.reconstruct(&task.corrupted), test_x);
        let jacobian = model.mean_jacobian(test_x).map(|j| j / squared_units);
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
        if let Some(clean) = &task.clean {
            let clean_mse = squared_units * mse(&model.reconstruct(test_x), clean);
            let noise = squared_units * mse(test_x, clean);
            entry["test_mse_clean"] = json!(clean_mse);
            entry["noise_mse"] = json!(noise);
            println!(
                "  {name}: error against the clean waves {clean_mse:.4} (the noise itself: \
                 {noise:.4})"
            );
        }
        if let Model::Vae(vae) = model {
            let elbo = vae.elbo(test_x, &mut rng)?;
            if !elbo.is_finite() {
                return Err(elbo::Error::invalid(
                    "vae-conv",
                    elbo,
                    "a finite held-out ELBO: training diverged; try fewer epochs or another seed",
                ));
            }
            entry["test_elbo"] = json!(elbo);
            println!("  {name}: held-out ELBO per image {elbo:.3} nats");
        }
        if name == "linear" {
            let inputs = task.train.ncols();
            let pca = Pca::fit(&task.train, code)?;
            let subspace = decoder_subspace(model, inputs, code);
            let angle = largest_principal_angle(&subspace, &pca.components);
            let pca_mse = squared_units * mse(&pca.reconstruct(test_x), test_x);
            entry["subspace_angle_deg"] = json!(angle);
            entry["pca_test_mse"] = json!(pca_mse);
            println!(
                "  linear: largest angle to PCA's top-{code} subspace {angle:.3}°; PCA's test_mse \
                 {pca_mse:.4}"
            );
            if test_x.nrows() <= 20 {
                let r = task.units.invert(model.reconstruct(test_x));
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
            "device": args.device.to_string(),
            "outliers": outliers,
            "seed": args.seed,
        })
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
