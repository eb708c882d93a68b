//! Generators beyond the ELBO side by side: a GAN, a generative moment matching network, an
//! adversarial autoencoder, an MMD-regularised autoencoder, and conditional generation (a
//! conditional GAN and a conditional VAE).
//!
//! ```text
//! cargo run --release --example generative -- [--model all|gan|gmn|aae|wae-mmd|cgan|cvae, or
//!     a comma list] [--target gaussian1d --mean M --sd S | --data DIR] [--epochs N]
//!     [--seed K] [--out DIR] [--device cpu|cuda|cuda:N|emulated]
//! ```
//!
//! `--target gaussian1d`: the real data are 10,000 draws of N(M, S²); the GAN and the moment
//! matching network map 1-D noise to 1-D (trained on the draws standardised, their output
//! mapped back). Each writes a PNG of the target density, a histogram of 10,000 generated draws
//! and (GAN) the discriminator's D(x), and reports `sample_mean` and `sample_sd` of those draws.
//!
//! Otherwise every model trains on the 8x8 digits shipped in the crate (or MNIST-format images
//! in `--data DIR`) and writes a grid of samples (one row per digit for the conditional ones).
//! To judge samples without eyes, a small MLP classifier trained on the training digits labels
//! 1,000 samples of each model: `class_entropy` of the predicted labels (ln 10 ≈ 2.30 is every
//! digit equally often), `mean_confidence`, and for the conditional models
//! `conditional_accuracy` (samples of a requested digit classified as that digit). `mmd_to_test`
//! is the MMD² between 1,000 samples and (at most 1,000) test images, beside the same for 1,000
//! training images (`mmd_train_to_test`) and 1,000 uniform noise images (`mmd_noise_to_test`),
//! under the same bandwidths. The last line is one JSON object.

use clap::Parser;
use elbo::ParamStore;
use elbo::autodiff::Tape;
use elbo::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderLoss, Codec, Objective, Reconstruction,
};
use elbo::backend::Device;
use elbo::data::{Dataset, Standardization, one_hot, with_one_hot};
use elbo::engine::{Loss, Observer, ParamGroup, Trainer, TrainerSettings};
use elbo::generative::{
    AdversarialAutoencoder, ConditionalBernoulli, Gan, GanLoss, GaussianMmd, Generator,
    MmdAutoencoder, MomentMatching, Noise,
};
use elbo::guide::GaussianEncoder;
use elbo::infer::{Estimator, Svi};
use elbo::io::check_writable_dir;
use elbo::model::Prior;
use elbo::nn::{Activation, Classifier, Init, Mlp, Network};
use elbo::optim::{Adam, LearningRate};
use elbo::plot::{image_grid, line_chart};
use elbo::prior::StandardNormal;
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

const MODELS: [&str; 6] = ["gan", "gmn", "aae", "wae-mmd", "cgan", "cvae"];

/// Train GANs, moment matching and their autoencoder and conditional kin.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// `all`, or a comma list of models.
    #[arg(long, default_value = "all")]
    model: String,
    /// `gaussian1d`: 1-D draws of N(--mean, --sd²) instead of images.
    #[arg(long, conflicts_with = "data")]
    target: Option<String>,
    /// M, the 1-D target's mean.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    mean: f64,
    /// S, the 1-D target's standard deviation.
    #[arg(long, default_value_t = 1.0)]
    sd: f64,
    /// Folder of MNIST-format images (train-* and t10k-*, with labels) instead of the digits.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 200)]
    epochs: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for the pictures (default: target/generative in the crate).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where training runs: cpu, cuda (the first GPU; needs a build with `--features cuda`),
    /// cuda:N, or emulated (the device code path on the CPU, for testing). Sampling and the
    /// judging run on the CPU.
    #[arg(long, default_value = "cpu")]
    device: Device,
}

/// Rows per minibatch.
const BATCH: usize = 64;
/// Samples each model is judged on.
const SAMPLES: usize = 1000;

/// One parameter group per network, by the name its parameters were registered under: Adam
/// with β₁ = 0.5, as adversarial training usually takes it, at a step decaying tenfold.
fn network_groups<'o>(
    store: &ParamStore<f64>,
    networks: &[&str],
    start: f64,
    steps: usize,
) -> Vec<ParamGroup<'o, f64>> {
    networks
        .iter()
        .map(|name| {
            ParamGroup::new(
                *name,
                store.ids_under(name),
                Adam::new(0.5, 0.999, 1e-8).expect("valid betas"),
            )
            .with_learning_rate(LearningRate::Exponential {
                start,
                end: start / 10.0,
                steps,
            })
        })
        .collect()
}

/// Runs `steps` steps of `loss` with `groups` in minibatches of `batch` on `device`, averaging
/// the parameters over the second half (the last iterate of an adversarial game wanders around
/// its equilibrium).
fn run_engine<L: Loss<f64>>(
    (what, steps, batch, device): (&str, usize, usize, Device),
    loss: &L,
    groups: Vec<ParamGroup<'_, f64>>,
    store: &mut ParamStore<f64>,
    data: &DMatrix<f64>,
    rng: &mut Pcg64,
    history: Option<&mut LossHistory>,
) -> elbo::Result<()> {
    let settings = TrainerSettings {
        batch_size: Some(batch),
        average_from: Some(steps / 2),
        device,
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, groups)?;
    let mut bar = StepBar::new(what, steps);
    match history {
        Some(h) => trainer.run(loss, store, data, rng, steps, &mut [&mut bar, h])?,
        None => trainer.run(loss, store, data, rng, steps, &mut [&mut bar])?,
    };
    Ok(())
}

/// Each group's mean loss per epoch, for the GAN's picture.
struct LossHistory {
    steps_per_epoch: usize,
    sums: Vec<(f64, usize)>,
    epochs: Vec<Vec<f64>>,
}

impl Observer<f64> for LossHistory {
    fn on_step(&mut self, event: &elbo::engine::StepEvent<'_>) -> elbo::engine::Control {
        self.sums.resize(event.losses.len(), (0.0, 0));
        for (sum, loss) in self.sums.iter_mut().zip(event.losses) {
            if let Some(l) = loss {
                sum.0 += l;
                sum.1 += 1;
            }
        }
        if event.steps_done.is_multiple_of(self.steps_per_epoch) {
            self.epochs.push(
                self.sums
                    .iter()
                    .map(|(s, n)| s / (*n).max(1) as f64)
                    .collect(),
            );
            self.sums.clear();
        }
        elbo::engine::Control::Continue
    }
}

/// An MLP with a logistic or identity output.
fn mlp(
    store: &mut ParamStore<f64>,
    name: &str,
    sizes: &[usize],
    hidden: Activation,
    output: Activation,
    rng: &mut Pcg64,
) -> elbo::Result<Mlp> {
    let init = if hidden == Activation::Tanh {
        Init::Xavier
    } else {
        Init::He
    };
    Mlp::new(store, name, sizes, hidden, output, init, rng)
}

/// A trained generator of images: draws `n` of them (for the conditional ones, `labels`).
type Sampler<'a> = Box<dyn Fn(&[u8], &mut Pcg64) -> elbo::Result<DMatrix<f64>> + 'a>;

// ---------------------------------------------------------------- 1-D ----------------------

fn gaussian1d(args: &Args, names: &[String], out: &Path, rng: &mut Pcg64) -> elbo::Result<Value> {
    if !(args.mean.is_finite() && args.sd > 0.0 && args.sd.is_finite()) {
        return Err(elbo::Error::invalid(
            "target sd",
            args.sd,
            "a finite number > 0 (and a finite mean)",
        ));
    }
    if let Some(bad) = names.iter().find(|n| *n != "gan" && *n != "gmn") {
        return Err(elbo::Error::invalid(
            "model",
            bad,
            "gan or gmn for --target gaussian1d",
        ));
    }
    let data = DMatrix::from_fn(10_000, 1, |_, _| {
        args.mean + args.sd * <f64 as elbo::Real>::standard_normal(rng)
    });
    let units = Standardization::of(&data);
    let standard = units.apply(&data);
    let steps = (args.epochs * 10_000 / BATCH).clamp(2_000, 20_000);
    let mut models = Map::new();
    for name in names {
        let started = Instant::now();
        let mut store = ParamStore::new();
        let network = mlp(
            &mut store,
            "generator",
            &[1, 16, 16, 1],
            Activation::Tanh,
            Activation::Identity,
            rng,
        )?;
        let (generator, discriminator) = if name == "gan" {
            let discriminator = mlp(
                &mut store,
                "discriminator",
                &[1, 32, 32, 1],
                Activation::LeakyRelu(0.2),
                Activation::Identity,
                rng,
            )?;
            let gan = Gan {
                generator: Generator {
                    network,
                    noise: Noise::Normal,
                    classes: 0,
                },
                discriminator,
                loss: GanLoss::NonSaturating,
            };
            let groups = network_groups(&store, &["discriminator", "generator"], 2e-3, steps);
            run_engine(
                (name, steps, 2 * BATCH, args.device),
                &gan,
                groups,
                &mut store,
                &standard,
                rng,
                None,
            )?;
            (gan.generator, Some(gan.discriminator))
        } else {
            let gmn = MomentMatching {
                generator: Generator {
                    network,
                    noise: Noise::Uniform,
                    classes: 0,
                },
                mmd: GaussianMmd::scaled(1.0, &[0.25, 0.5, 1.0, 2.0, 4.0]),
            };
            let groups = network_groups(&store, &["generator"], 3e-3, steps);
            run_engine(
                (name, steps, BATCH, args.device),
                &gmn,
                groups,
                &mut store,
                &standard,
                rng,
                None,
            )?;
            (gmn.generator, None)
        };
        let draws = units.invert(generator.sample(&store, 10_000, None, rng)?);
        let mean = draws.mean();
        let sd = (draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 9_999.0).sqrt();
        let within =
            (mean - args.mean).abs() < 0.1 && (sd - args.sd).abs() < 0.1 * args.sd.max(1.0);
        // The picture: the target density, the draws' histogram, D(x).
        let (low, high) = (args.mean - 4.0 * args.sd, args.mean + 4.0 * args.sd);
        let bins = 60;
        let width = (high - low) / bins as f64;
        let mut counts = vec![0.0; bins];
        for v in draws.iter().filter(|v| (low..high).contains(*v)) {
            counts[(((v - low) / width) as usize).min(bins - 1)] += 1.0;
        }
        let centre = |k: usize| low + (k as f64 + 0.5) * width;
        let mut series = vec![
            (
                "target density",
                (0..bins)
                    .map(|k| {
                        let z = (centre(k) - args.mean) / args.sd;
                        (
                            centre(k),
                            (-0.5 * z * z).exp() / (args.sd * (2.0 * std::f64::consts::PI).sqrt()),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            (
                "generated (histogram)",
                (0..bins)
                    .map(|k| (centre(k), counts[k] / (10_000.0 * width)))
                    .collect(),
            ),
        ];
        if let Some(d) = &discriminator {
            let gan = Gan {
                generator: generator.clone(),
                discriminator: d.clone(),
                loss: GanLoss::NonSaturating,
            };
            let grid = DMatrix::from_fn(bins, 1, |k, _| centre(k));
            let judged = gan.discriminate(&store, &units.apply(&grid));
            // Scaled to the density's peak, so that both read on one axis.
            let peak = 1.0 / (args.sd * (2.0 * std::f64::consts::PI).sqrt());
            series.push((
                "D(x), scaled to the peak",
                (0..bins)
                    .map(|k| (centre(k), peak * judged[(k, 0)]))
                    .collect(),
            ));
        }
        line_chart(
            &out.join(format!("{name}_gaussian1d.png")),
            &format!(
                "{name}: N({}, {}²) and 10,000 generated draws",
                args.mean, args.sd
            ),
            "x",
            "density",
            &series,
        )?;
        println!(
            "{name:<8} sample_mean {mean:>9.4} (target {:.4})  sample_sd {sd:>8.4} (target {:.4})  {}",
            args.mean,
            args.sd,
            if within {
                "within the target"
            } else {
                "NOT within the target: did not converge"
            }
        );
        models.insert(
            name.clone(),
            json!({
                "sample_mean": mean,
                "sample_sd": sd,
                "within_target": within,
                "seconds": started.elapsed().as_secs_f64(),
            }),
        );
    }
    Ok(json!({ "models": Value::Object(models), "target": {"mean": args.mean, "sd": args.sd} }))
}

// ---------------------------------------------------------------- images -------------------

/// Mean entropy and confidence of a classifier's labels of `samples`; the fraction labelled
/// as `requested`, if given.
fn judge(
    classifier: &Classifier<Mlp>,
    store: &ParamStore<f64>,
    samples: &DMatrix<f64>,
    requested: Option<&[u8]>,
) -> elbo::Result<(f64, f64, Option<f64>)> {
    let p = classifier.probabilities(store, samples);
    let predicted = classifier.predict(store, samples);
    let mut counts = [0.0; 256];
    for &l in &predicted {
        counts[l as usize] += 1.0;
    }
    let n = predicted.len() as f64;
    let entropy = -counts
        .iter()
        .filter(|c| **c > 0.0)
        .map(|c| (c / n) * (c / n).ln())
        .sum::<f64>();
    let confidence = p.row_iter().map(|r| r.max()).sum::<f64>() / n;
    let accuracy = requested
        .map(|r| classifier.accuracy(store, samples, r))
        .transpose()?;
    Ok((entropy, confidence, accuracy))
}

fn images(args: &Args, names: &[String], out: &Path, rng: &mut Pcg64) -> elbo::Result<Value> {
    let (train, test) = match &args.data {
        Some(dir) => (
            Dataset::<f64>::read_idx_dir(dir, "train")?,
            Dataset::<f64>::read_idx_dir(dir, "t10k")?,
        ),
        None => Dataset::<f64>::digits8x8(),
    };
    let (Some(train_labels), Some(test_labels), Some(shape)) =
        (&train.labels, &test.labels, train.image_shape)
    else {
        return Err(elbo::Error::invalid(
            "data",
            "images without labels",
            "labelled images (the label files beside the images)",
        ));
    };
    // As many classes as the labels name (ten for the digits).
    let classes = train_labels
        .iter()
        .max()
        .map_or(2, |m| *m as usize + 1)
        .max(2);
    let d = train.dim();
    let labelled = with_one_hot(&train.x, train_labels, classes)?;
    let per_epoch = train.len().div_ceil(BATCH);
    let steps = (args.epochs * per_epoch).max(2_000);
    println!(
        "{} training and {} test images of {}x{}; {steps} steps per model",
        train.len(),
        test.len(),
        shape.0,
        shape.1
    );

    // The judge: a classifier of the training digits.
    let mut judge_store = ParamStore::new();
    let classifier = Classifier {
        network: mlp(
            &mut judge_store,
            "classifier",
            &[d, 64, classes],
            Activation::Relu,
            Activation::Identity,
            rng,
        )?,
    };
    let groups = vec![
        ParamGroup::all("classifier", &judge_store, Adam::default()).with_learning_rate(
            LearningRate::Exponential {
                start: 3e-3,
                end: 3e-4,
                steps: 3_000,
            },
        ),
    ];
    run_engine(
        // On the CPU whatever --device says: the judge of every run is the same.
        ("classifier", 3_000, BATCH, Device::Cpu),
        &classifier,
        groups,
        &mut judge_store,
        &labelled,
        rng,
        None,
    )?;
    let classifier_accuracy = classifier.accuracy(&judge_store, &test.x, test_labels)?;
    println!(
        "classifier test accuracy {classifier_accuracy:.4}; {classes} classes (a class entropy of {:.3} covers them evenly)",
        (classes as f64).ln()
    );

    // The yardstick for MMD: the same bandwidths for every comparison.
    let test_rows = test.x.rows(0, test.len().min(SAMPLES)).into_owned();
    let yardstick =
        GaussianMmd::scaled(GaussianMmd::median_distance(&test_rows)?, &[0.5, 1.0, 2.0]);
    let picks: Vec<usize> = (0..SAMPLES.min(train.len()))
        .map(|_| rng.random_range(0..train.len()))
        .collect();
    let train_rows = DMatrix::from_fn(picks.len(), d, |i, j| train.x[(picks[i], j)]);
    let mmd_train = yardstick.mmd2(&train_rows, &test_rows)?;
    let noise = DMatrix::from_fn(SAMPLES, d, |_, _| rng.random_range(0.0..1.0));
    let mmd_noise = yardstick.mmd2(&noise, &test_rows)?;
    println!(
        "MMD² to the test images: training images {mmd_train:.5}, uniform noise {mmd_noise:.5}\n"
    );

    let requested: Vec<u8> = (0..SAMPLES).map(|i| (i % classes) as u8).collect();
    let grid_labels: Vec<u8> = (0..10 * classes.min(10)).map(|i| (i / 10) as u8).collect();
    let mut models = Map::new();
    for name in names {
        let started = Instant::now();
        let mut store = ParamStore::new();
        let conditional = name.starts_with('c');
        let data = if conditional { &labelled } else { &train.x };
        let mut history = LossHistory {
            steps_per_epoch: per_epoch,
            sums: Vec::new(),
            epochs: Vec::new(),
        };
        let noise_dim = 16;
        let code = 8;
        let sampler: Sampler<'_> = match name.as_str() {
            "gan" | "cgan" => {
                let c = if conditional { classes } else { 0 };
                let network = mlp(
                    &mut store,
                    "generator",
                    &[noise_dim + c, 128, d],
                    Activation::Relu,
                    Activation::Sigmoid,
                    rng,
                )?;
                let discriminator = mlp(
                    &mut store,
                    "discriminator",
                    &[d + c, 128, 1],
                    Activation::LeakyRelu(0.2),
                    Activation::Identity,
                    rng,
                )?;
                let gan = Gan {
                    generator: Generator {
                        network,
                        noise: Noise::Normal,
                        classes: c,
                    },
                    discriminator,
                    loss: GanLoss::NonSaturating,
                };
                let groups = network_groups(&store, &["discriminator", "generator"], 1e-3, steps);
                run_engine(
                    (name, steps, BATCH, args.device),
                    &gan,
                    groups,
                    &mut store,
                    data,
                    rng,
                    Some(&mut history),
                )?;
                let series: Vec<(&str, Vec<(f64, f64)>)> = ["discriminator", "generator"]
                    .iter()
                    .enumerate()
                    .map(|(g, label)| {
                        (
                            *label,
                            history
                                .epochs
                                .iter()
                                .enumerate()
                                .map(|(e, l)| {
                                    ((e + 1) as f64, l.get(g).copied().unwrap_or(f64::NAN))
                                })
                                .collect(),
                        )
                    })
                    .collect();
                line_chart(
                    &out.join(format!("{name}_losses.png")),
                    &format!("{name}: losses per epoch"),
                    "epoch",
                    "mean loss",
                    &series,
                )?;
                let generator = gan.generator;
                let store = store;
                Box::new(move |labels: &[u8], rng: &mut Pcg64| {
                    let l = if generator.classes > 0 {
                        Some(one_hot::<f64>(labels, generator.classes)?)
                    } else {
                        None
                    };
                    generator.sample(&store, labels.len(), l.as_ref(), rng)
                })
            }
            "gmn" => {
                let network = mlp(
                    &mut store,
                    "generator",
                    &[noise_dim, 128, d],
                    Activation::Relu,
                    Activation::Sigmoid,
                    rng,
                )?;
                let gmn = MomentMatching {
                    generator: Generator {
                        network,
                        noise: Noise::Uniform,
                        classes: 0,
                    },
                    mmd: GaussianMmd::scaled(yardstick.bandwidths[1], &[0.25, 0.5, 1.0, 2.0]),
                };
                let groups = network_groups(&store, &["generator"], 1e-3, steps);
                run_engine(
                    (name, steps, BATCH, args.device),
                    &gmn,
                    groups,
                    &mut store,
                    data,
                    rng,
                    None,
                )?;
                let generator = gmn.generator;
                Box::new(move |labels: &[u8], rng: &mut Pcg64| {
                    generator.sample(&store, labels.len(), None, rng)
                })
            }
            "aae" | "wae-mmd" => {
                let config = AutoencoderConfig {
                    sizes: vec![d, 128, code],
                    hidden: Activation::Relu,
                    code: Activation::Identity,
                    output: Activation::Sigmoid,
                    tied: false,
                    init: Init::He,
                };
                let autoencoder = Autoencoder::new(&mut store, "autoencoder", &config, rng)?;
                let objective = Objective {
                    reconstruction: Reconstruction::CrossEntropy,
                    ..Objective::default()
                };
                let base = AutoencoderLoss {
                    autoencoder: &autoencoder,
                    objective,
                    range: (0.0, 1.0),
                };
                let prior = StandardNormal::new(code)?;
                if name == "aae" {
                    let discriminator = mlp(
                        &mut store,
                        "discriminator",
                        &[code, 64, 64, 1],
                        Activation::LeakyRelu(0.2),
                        Activation::Identity,
                        rng,
                    )?;
                    let model = AdversarialAutoencoder {
                        autoencoder: base,
                        discriminator,
                        prior,
                    };
                    let groups = network_groups(
                        &store,
                        &["autoencoder", "discriminator", "autoencoder.encoder"],
                        1e-3,
                        steps,
                    );
                    run_engine(
                        (name, steps, BATCH, args.device),
                        &model,
                        groups,
                        &mut store,
                        data,
                        rng,
                        None,
                    )?;
                } else {
                    let draws = prior
                        .sample(&Tape::<f64>::new(), SAMPLES, rng)?
                        .value()
                        .clone_owned();
                    let model = MmdAutoencoder {
                        autoencoder: base,
                        prior,
                        mmd: GaussianMmd::scaled(
                            GaussianMmd::median_distance(&draws)?,
                            &[0.5, 1.0, 2.0],
                        ),
                        weight: 100.0,
                    };
                    let groups = network_groups(&store, &["autoencoder"], 1e-3, steps);
                    run_engine(
                        (name, steps, BATCH, args.device),
                        &model,
                        groups,
                        &mut store,
                        data,
                        rng,
                        None,
                    )?;
                }
                Box::new(move |labels: &[u8], rng: &mut Pcg64| {
                    let tape = Tape::for_evaluation(&store);
                    let z = prior.sample(&tape, labels.len(), rng)?;
                    Ok(autoencoder.decode_parts(z).1.value().clone_owned())
                })
            }
            "cvae" => {
                let trunk: Box<dyn Network<f64>> = Box::new(mlp(
                    &mut store,
                    "encoder.trunk",
                    &[d + classes, 128],
                    Activation::Relu,
                    Activation::Relu,
                    rng,
                )?);
                let encoder =
                    GaussianEncoder::new(&mut store, "encoder", trunk, code, Init::Xavier, rng)?;
                let likelihood = ConditionalBernoulli {
                    network: mlp(
                        &mut store,
                        "decoder",
                        &[code + classes, 128, d],
                        Activation::Relu,
                        Activation::Identity,
                        rng,
                    )?,
                    classes,
                };
                let svi = Svi::new(StandardNormal::new(code)?, likelihood, encoder);
                let loss = svi.loss(elbo::infer::Objective::new(Estimator::ElboAnalyticKl, 1));
                let groups = vec![
                    ParamGroup::all("cvae", &store, Adam::default()).with_learning_rate(
                        LearningRate::Exponential {
                            start: 1e-3,
                            end: 1e-4,
                            steps,
                        },
                    ),
                ];
                run_engine(
                    (name, steps, BATCH, args.device),
                    &loss,
                    groups,
                    &mut store,
                    data,
                    rng,
                    None,
                )?;
                let likelihood = svi.likelihood;
                Box::new(move |labels: &[u8], rng: &mut Pcg64| {
                    let z = DMatrix::from_fn(labels.len(), code, |_, _| {
                        <f64 as elbo::Real>::standard_normal(rng)
                    });
                    likelihood.generate(&store, &z, &one_hot::<f64>(labels, classes)?)
                })
            }
            other => unreachable!("checked: {other}"),
        };
        let seconds = started.elapsed().as_secs_f64();
        let samples = sampler(&requested, rng)?;
        let grid = sampler(&grid_labels, rng)?;
        let rows: Vec<Vec<f64>> = grid
            .row_iter()
            .map(|r| r.iter().copied().collect())
            .collect();
        let title = if conditional {
            format!("{name}: one row per requested digit, 0 to 9")
        } else {
            format!("{name}: samples")
        };
        image_grid(
            &out.join(format!("{name}_samples.png")),
            &title,
            &rows,
            shape,
            10,
        )?;
        let (entropy, confidence, accuracy) = judge(
            &classifier,
            &judge_store,
            &samples,
            conditional.then_some(&requested[..]),
        )?;
        let mmd = yardstick.mmd2(&samples, &test_rows)?;
        println!(
            "{name:<8} class_entropy {entropy:.3}  mean_confidence {confidence:.3}  mmd_to_test {mmd:.5}{}  {seconds:.1} s",
            accuracy.map_or(String::new(), |a| format!("  conditional_accuracy {a:.3}"))
        );
        let mut entry = json!({ "class_entropy": entropy, "mean_confidence": confidence, "mmd_to_test": mmd, "seconds": seconds });
        if let Some(a) = accuracy {
            entry["conditional_accuracy"] = json!(a);
        }
        models.insert(name.clone(), entry);
    }
    Ok(json!({
        "models": Value::Object(models),
        "classifier_test_accuracy": classifier_accuracy,
        "mmd_train_to_test": mmd_train,
        "mmd_noise_to_test": mmd_noise,
    }))
}

fn run(args: &Args) -> elbo::Result<()> {
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let names: Vec<String> = if args.model == "all" {
        MODELS.iter().map(|s| s.to_string()).collect()
    } else {
        args.model
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    if let Some(bad) = names.iter().find(|n| !MODELS.contains(&n.as_str())) {
        return Err(elbo::Error::invalid(
            "model",
            bad,
            "all, or a comma list of: gan, gmn, aae, wae-mmd, cgan, cvae",
        ));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/generative"));
    check_writable_dir(&out)?;
    // Before anything is read or trained: a device that cannot be used is said at once.
    args.device.check()?;
    let mut report = match args.target.as_deref() {
        Some("gaussian1d") => {
            let names = if args.model == "all" {
                vec!["gan".to_string(), "gmn".to_string()]
            } else {
                names
            };
            gaussian1d(args, &names, &out, &mut rng)?
        }
        Some(other) => return Err(elbo::Error::invalid("target", other, "gaussian1d")),
        None => images(args, &names, &out, &mut rng)?,
    };
    report["device"] = json!(args.device.to_string());
    println!("pictures in {}", out.display());
    println!("{report}");
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
