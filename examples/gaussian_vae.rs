//! Trains a variational autoencoder on handwritten digits and draws what it learned.
//!
//! ```text
//! cargo run --release --example gaussian_vae
//! cargo run --release --example gaussian_vae -- --data path/to/mnist --likelihood bernoulli \
//!     --latent 20 --hidden 400 --batch 128 --lr 0.001 --epochs 10
//! ```
//!
//! Without `--data` it uses the 8x8 digits shipped inside the crate (1500 training and 297 test
//! images), so it runs on a fresh machine with nothing downloaded. It shows a progress bar,
//! prints a summary and, as its last line, one JSON object with the figures, and writes PNG
//! pictures into `--out`.

use clap::{Parser, ValueEnum};
use elbo::Real;
use elbo::backend::Transfers;
use elbo::data::Dataset;
use elbo::engine::Trend;
use elbo::io::{check_writable_dir, check_writable_file};
use elbo::likelihood::ObservationVariance;
use elbo::nn::{Activation, Init};
use elbo::plot::{image_grid, labelled_scatter, line_chart};
use elbo::vae::{Vae, VaeArchitecture, VaeLikelihood, VaeTraining};
use indicatif::{ProgressBar, ProgressStyle};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InitArg {
    /// U(±1/√fan_in)
    Uniform,
    /// N(0, 2/fan_in)
    He,
    /// N(0, 2/(fan_in + fan_out))
    Xavier,
    /// N(0, 1/fan_in)
    Lecun,
    /// By each layer's activation (He for ReLU)
    Matched,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LikelihoodArg {
    /// p(x | z) = N(f(z), c I)
    Gaussian,
    /// p(x | z) = Bernoulli(sigmoid(f(z)))
    Bernoulli,
}

/// Train a VAE on digits (shipped 8x8 digits by default, or MNIST-format files).
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Args {
    /// Directory with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
    /// and t10k-labels-idx1-ubyte (optionally .gz); default: the digits shipped in the crate.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Dimension of the latent z.
    #[arg(long, default_value_t = 8)]
    latent: usize,
    /// Hidden layer widths of the encoder, comma-separated (the decoder mirrors them).
    #[arg(long, default_value = "256", value_parser = parse_hidden)]
    hidden: LayerSizes,
    /// Passes over the training data. The held-out ELBO's trend over the last quarter of them
    /// is then judged: a run that ends with it still rising says so (`warning:`,
    /// `"converged": false`).
    #[arg(long, default_value_t = 800)]
    epochs: usize,
    /// Rows per minibatch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam's step size.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// The observation model.
    #[arg(long, value_enum, default_value = "gaussian")]
    likelihood: LikelihoodArg,
    /// Gaussian observation variance as a fraction c of the images' mean pixel variance s²
    /// (the model is fitted on images centred and divided by s; C = 1/(2c) weighs
    /// reconstruction against KL), or `learned` (one variance) or `learned-per-dim`.
    #[arg(long, default_value = "0.7", value_parser = parse_variance)]
    obs_var: ObservationVariance,
    /// Final KL weight β (1: the ELBO).
    #[arg(long, default_value_t = 1.0)]
    beta: f64,
    /// Epochs of linear KL warm-up from 0 to β.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Initialisation of the weights.
    #[arg(long, value_enum, default_value = "uniform")]
    init: InitArg,
    /// Seed of the weights, the shuffling and every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Importance samples for the test log-likelihood estimate.
    #[arg(long, default_value_t = 1000)]
    iwae_k: usize,
    /// Where the pictures go (default: the crate's target/gaussian_vae).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compute in f64 instead of f32.
    #[arg(long)]
    f64: bool,
    /// Save the trained model, its optimizer and generator states here when training ends
    /// (atomically: a crash mid-save keeps the previous file).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Continue the training saved in this checkpoint (same network flags; training flags may
    /// change; --epochs is the total and must exceed the epochs already trained).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Threads for training and the matrix products (default: all cores). With k threads a
    /// training batch is cut into k shards, so results depend on it as on the seed.
    #[arg(long)]
    threads: Option<usize>,
    /// Where training and evaluation run: cpu, cuda (the first GPU; needs a build with
    /// `--features cuda`), cuda:N, or emulated (the device code path on the CPU, for testing).
    #[arg(long, default_value = "cpu")]
    device: elbo::backend::Device,
    /// Further devices that each train on a shard of every minibatch (comma-separated, e.g.
    /// `cuda:1,cuda:2`); the parameters and the optimizer stay on --device, and each step
    /// copies them to these and their gradients back, through the host.
    #[arg(long, value_delimiter = ',')]
    data_parallel: Vec<elbo::backend::Device>,
}

/// The smallest rise of the held-out ELBO, in nats per image per window, that counts as still
/// training.
const SETTLED_RISE: f64 = 0.01;

/// The trend of the held-out ELBO over the run's last five windows of epochs (each a twentieth
/// of the run, at least one epoch): (window length, trend); `None` under five epochs.
fn held_out_trend(curve: &[(f64, f64)]) -> Option<(usize, Trend)> {
    let window = (curve.len() / 20).max(1);
    if curve.len() < 5 * window {
        return None;
    }
    let last = &curve[curve.len() - 5 * window..];
    let means: Vec<f64> = last
        .chunks(window)
        .map(|c| c.iter().map(|(_, v)| v).sum::<f64>() / window as f64)
        .collect();
    Trend::of(&means).map(|t| (window, t))
}

/// The convergence rule of the engine, on a bound that rises.
fn converged(trend: &Trend) -> bool {
    trend.flat_within(1.0, SETTLED_RISE)
}

/// Hidden layer widths as one comma-separated flag value.
#[derive(Clone, Debug)]
struct LayerSizes(Vec<usize>);

fn parse_hidden(s: &str) -> Result<LayerSizes, String> {
    s.split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(0) | Err(_) => Err(format!("`{w}` is not a layer width (a whole number >= 1)")),
            Ok(v) => Ok(v),
        })
        .collect::<Result<_, _>>()
        .map(LayerSizes)
}

fn parse_variance(s: &str) -> Result<ObservationVariance, String> {
    match s {
        "learned" => Ok(ObservationVariance::LearnedScalar),
        "learned-per-dim" => Ok(ObservationVariance::LearnedPerDimension),
        _ => match s.parse::<f64>() {
            Ok(c) if c > 0.0 && c.is_finite() => Ok(ObservationVariance::Fixed(c)),
            _ => Err(format!(
                "`{s}` is not a variance > 0, `learned` or `learned-per-dim`"
            )),
        },
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(threads) = args.threads {
        if threads == 0 {
            eprintln!("error: invalid --threads = 0: at least 1");
            return ExitCode::from(2);
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
        if let Err(e) = pool.build_global() {
            eprintln!("error: invalid --threads = {threads}: {e}");
            return ExitCode::from(2);
        }
    }
    let result = if args.f64 {
        run::<f64>(&args)
    } else {
        run::<f32>(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run<T: Real>(args: &Args) -> elbo::Result<()> {
    let (train, test, dataset) = match &args.data {
        Some(dir) => (
            Dataset::<T>::read_idx_dir(dir, "train")?,
            Dataset::<T>::read_idx_dir(dir, "t10k")?,
            dir.display().to_string(),
        ),
        None => {
            let (train, test) = Dataset::<T>::digits8x8();
            (train, test, "digits8x8 (bundled)".to_string())
        }
    };
    if train.dim() != test.dim() {
        return Err(elbo::Error::shape(
            "test images (pixels per image)",
            (test.len(), train.dim()),
            (test.len(), test.dim()),
        ));
    }
    let likelihood = match args.likelihood {
        LikelihoodArg::Gaussian => VaeLikelihood::Gaussian(args.obs_var),
        LikelihoodArg::Bernoulli => VaeLikelihood::Bernoulli,
    };
    let architecture = VaeArchitecture {
        input_dim: train.dim(),
        latent: args.latent,
        hidden: args.hidden.0.clone(),
        activation: Activation::Relu,
        init: match args.init {
            InitArg::Uniform => Init::Uniform,
            InitArg::He => Init::He,
            InitArg::Xavier => Init::Xavier,
            InitArg::Lecun => Init::LeCun,
            InitArg::Matched => Init::ForActivation,
        },
        likelihood,
        // Gaussian observations are fitted on the data centred and scaled to unit mean
        // variance, so that the same flags fit data in any units (ignored for Bernoulli).
        standardize: true,
    };
    let training = VaeTraining {
        batch_size: args.batch,
        learning_rate: args.lr,
        beta: args.beta,
        warmup_epochs: args.warmup,
        device: args.device,
        data_parallel: args.data_parallel.clone(),
    };
    // Before anything is read or trained: a device that cannot be used is said at once.
    for device in std::iter::once(&args.device).chain(&args.data_parallel) {
        device.check()?;
    }
    for (flag, value) in [("--iwae-k", args.iwae_k), ("--epochs", args.epochs)] {
        if value == 0 {
            return Err(elbo::Error::invalid(flag, 0, "at least 1"));
        }
    }
    // Where the results go is checked before training, so that a long run is never lost to
    // an unwritable path at its end.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/gaussian_vae"));
    check_writable_dir(&out)?;
    if let Some(path) = &args.save {
        check_writable_file(path)?;
    }
    let mut vae = match &args.resume {
        Some(path) => {
            let mut vae = Vae::<T>::load(path)?;
            let refuse = |problem: String| elbo::Error::Checkpoint {
                path: path.clone(),
                problem,
            };
            if vae.architecture() != Some(&architecture) {
                return Err(refuse(format!(
                    "it holds the networks {:?}; resume with the same --latent, --hidden, \
                     --likelihood, --obs-var and --init (training flags may change)",
                    vae.architecture()
                )));
            }
            if args.epochs <= vae.epochs_done() {
                return Err(refuse(format!(
                    "it has already trained {} epochs and --epochs is the total: give more than {}",
                    vae.epochs_done(),
                    vae.epochs_done()
                )));
            }
            vae.set_training(training)?;
            vae
        }
        None => Vae::<T>::new(architecture, training, args.seed)?,
    };
    vae.check_evaluation_size(args.iwae_k, test.dim())?;
    // Evaluation draws come from generators seeded by the epoch, so that a resumed run
    // evaluates exactly as an uninterrupted one.
    let eval_rng = |epoch: usize| {
        Pcg64::seed_from_u64(args.seed ^ 0x9e37_79b9_7f4a_7c15 ^ (epoch as u64) << 32)
    };
    // The training curve is measured on at most 5000 training rows, so that it stays cheap on MNIST.
    let monitor = train.x.rows(0, train.len().min(5000)).into_owned();

    let first_epoch = vae.epochs_done() + 1;
    let bar =
        ProgressBar::new((args.epochs.saturating_sub(vae.epochs_done()) * train.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {msg}  [{elapsed_precise} < {eta_precise}]")
            .expect("a valid template"),
    );
    let (mut curve_train, mut curve_test) = (Vec::new(), Vec::new());
    let mut epoch_seconds = Vec::new();
    let mut training_seconds = 0.0;
    // What the training (with its per-epoch test ELBOs) copies between the host and a device.
    let copies_before = Transfers::so_far();
    // Checked once, and on a device copied there once, for every epoch.
    let train_data = vae.training_data(&train.x)?;
    for epoch in first_epoch..=args.epochs {
        let start = Instant::now();
        let done = bar.position();
        let report =
            vae.train_epoch_on(&train_data, |rows| bar.set_position(done + rows as u64))?;
        let seconds = start.elapsed().as_secs_f64();
        epoch_seconds.push(seconds);
        training_seconds += seconds;
        let mut rng = eval_rng(epoch);
        let (train_elbo, test_elbo) = (vae.elbo(&monitor, &mut rng)?, vae.elbo(&test.x, &mut rng)?);
        curve_train.push((epoch as f64, train_elbo));
        curve_test.push((epoch as f64, test_elbo));
        bar.set_message(format!(
            "{epoch}/{}  train ELBO {train_elbo:.2}  test ELBO {test_elbo:.2}  β {:.2}  {:.0} samples/s",
            args.epochs,
            report.beta,
            train.len() as f64 * (epoch + 1 - first_epoch) as f64 / training_seconds
        ));
    }
    bar.finish_and_clear();
    let copies = Transfers::so_far().since(copies_before);
    if let Some(path) = &args.save {
        vae.save(path)?;
    }
    let mut rng = eval_rng(0);

    let test_elbo = vae.elbo(&test.x, &mut rng)?;
    let iwae_start = Instant::now();
    let test_iwae = vae.iwae(&test.x, args.iwae_k, &mut rng)?;
    let iwae_seconds = iwae_start.elapsed().as_secs_f64();
    let recon = vae.reconstruction_error(&test.x);
    let active = vae.active_units(&test.x);
    let trained_epochs = (args.epochs + 1).saturating_sub(first_epoch);
    let samples_per_sec = if trained_epochs > 0 {
        (trained_epochs * train.len()) as f64 / training_seconds
    } else {
        0.0
    };
    let figures = draw(&out, &vae, &test, &curve_train, &curve_test, &mut rng)?;

    let scale = vae.standardization().map_or(1.0, |s| s.scale);
    let likelihood_name = match (args.likelihood, args.obs_var) {
        (LikelihoodArg::Bernoulli, _) => "bernoulli".to_string(),
        (_, ObservationVariance::Fixed(c)) => {
            format!("gaussian(variance {c} s² = {:.3e})", c * scale * scale)
        }
        (_, ObservationVariance::LearnedScalar) => "gaussian(learned variance)".to_string(),
        (_, ObservationVariance::LearnedPerDimension) => {
            "gaussian(learned per-pixel variance)".to_string()
        }
    };
    println!(
        "VAE on {dataset}: {} training and {} test images of {} pixels",
        train.len(),
        test.len(),
        train.dim()
    );
    println!(
        "  encoder {} -> {:?} -> {} (mean, log-variance), decoder mirrored, {likelihood_name}{}",
        train.dim(),
        args.hidden.0,
        args.latent,
        vae.standardization().map_or(String::new(), |s| format!(
            "; fitted on the images centred and divided by s = {:.4}",
            s.scale
        ))
    );
    // A resumed run times only the epochs it trained itself.
    let trained = if first_epoch > 1 {
        format!("epochs {first_epoch}-{} (resumed)", args.epochs)
    } else {
        format!("{} epochs", args.epochs)
    };
    println!("  {trained} in {training_seconds:.2} s ({samples_per_sec:.0} samples/s)");
    println!(
        "  test ELBO {test_elbo:.3} nats per image; IWAE (K = {}) {test_iwae:.3} ({iwae_seconds:.2} s)",
        args.iwae_k
    );
    println!(
        "  reconstruction error {recon:.4} (squared, per image); active latent units {active} of {}",
        args.latent
    );
    println!("  pictures in {}", out.display());
    let trend = held_out_trend(&curve_test);
    match &trend {
        Some((window, t)) => println!(
            "  test ELBO over the last 5 x {window} epochs: {:+.3} ± {:.3} nats per image per {window} epochs ({})",
            t.slope,
            t.standard_error,
            if converged(t) {
                "settled"
            } else {
                "still rising"
            }
        ),
        None => println!("  too few epochs in this run (under 5) to judge whether it has settled"),
    }
    let settled = trend.as_ref().is_some_and(|(_, t)| converged(t));
    let summary = json!({
        "dataset": dataset,
        "n_train": train.len(),
        "n_test": test.len(),
        "dim": train.dim(),
        "latent": args.latent,
        "hidden": args.hidden.0,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "likelihood": likelihood_name,
        "beta": args.beta,
        "warmup": args.warmup,
        "seed": args.seed,
        "init": format!("{:?}", args.init).to_lowercase(),
        "precision": if args.f64 { "f64" } else { "f32" },
        "seconds": training_seconds,
        "median_epoch_seconds": median_after_first(&epoch_seconds),
        "train_samples_per_sec": samples_per_sec,
        "test_elbo": test_elbo,
        "test_iwae": test_iwae,
        "iwae_k": args.iwae_k,
        "iwae_seconds": iwae_seconds,
        "reconstruction_error": recon,
        "active_units": active,
        "converged": settled,
        "test_elbo_trend": trend.as_ref().map(|(window, t)| json!({
            "window_epochs": window,
            "per_window": t.slope,
            "standard_error": t.standard_error,
        })),
        "figures": figures,
        "device": args.device.to_string(),
        "data_parallel": args.data_parallel.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "device_memory_mib": args.device.memory_used().map(|bytes| bytes as f64 / 1048576.0),
        "training_copies_to_device_mib": copies.uploaded_bytes as f64 / 1048576.0,
        "training_copies_from_device_mib": copies.downloaded_bytes as f64 / 1048576.0,
    });
    println!("{summary}");
    if !settled {
        eprintln!(
            "warning: the test ELBO had not settled by the last epoch (see the trend above and \
             elbo.png): the VAE is not fully trained. Run more --epochs (--save, then --resume, \
             continues this run)"
        );
    }
    Ok(())
}

/// Draws the five pictures into `out` (created and checked before training) and returns their
/// paths.
fn draw<T: Real>(
    out: &Path,
    vae: &Vae<T>,
    test: &Dataset<T>,
    curve_train: &[(f64, f64)],
    curve_test: &[(f64, f64)],
    rng: &mut Pcg64,
) -> elbo::Result<Vec<String>> {
    let shape = test.image_shape.unwrap_or((1, test.dim()));
    let rows = |m: &DMatrix<T>| -> Vec<Vec<f64>> {
        m.row_iter()
            .map(|r| r.iter().map(|v| v.to_f64()).collect())
            .collect()
    };
    let mut written = Vec::new();
    let mut path = |name: &str| {
        let p = out.join(name);
        written.push(p.display().to_string());
        p
    };

    line_chart(
        &path("elbo.png"),
        "ELBO per image during training",
        "epoch",
        "ELBO (nats)",
        &[
            ("train", curve_train.to_vec()),
            ("test", curve_test.to_vec()),
        ],
    )?;

    let means = vae.encode(&test.x).0.map(|v| v.to_f64());
    let (points, axes) = project_2d(&means);
    let labels = test.labels.clone().unwrap_or_else(|| vec![0; test.len()]);
    labelled_scatter(
        &path("latent.png"),
        "Test images' latent means, by digit",
        axes,
        &points,
        &labels,
    )?;

    let shown = test.len().min(10);
    let originals = test.x.rows(0, shown).into_owned();
    let mut pairs = rows(&originals);
    pairs.extend(rows(&vae.reconstruct(&originals)));
    image_grid(
        &path("reconstructions.png"),
        "Test images (top) and their reconstructions (bottom)",
        &pairs,
        shape,
        shown,
    )?;

    image_grid(
        &path("samples.png"),
        "New images: z ~ N(0, I), decoded",
        &rows(&vae.sample(64, rng)?),
        shape,
        8,
    )?;

    // From the first test image to the one among the first hundred whose latent mean lies
    // farthest from it: the longest path shows the most change.
    let distance = |i: usize| (means.row(i) - means.row(0)).norm();
    let other = (1..test.len().min(100))
        .max_by(|&a, &b| distance(a).total_cmp(&distance(b)))
        .unwrap_or(0);
    let path_images = vae.interpolate(
        &test.x.rows(0, 1).into_owned(),
        &test.x.rows(other, 1).into_owned(),
        10,
    );
    image_grid(
        &path("interpolation.png"),
        "Decoding a straight line in latent space between two test images",
        &rows(&path_images),
        shape,
        10,
    )?;
    Ok(written)
}

/// The points in 2-D: the coordinates themselves for one or two latent dimensions, otherwise
/// the projection on the two leading principal axes of the means.
fn project_2d(means: &DMatrix<f64>) -> (Vec<(f64, f64)>, (&'static str, &'static str)) {
    match means.ncols() {
        1 => (
            means.column(0).iter().map(|&v| (v, 0.0)).collect(),
            ("z₁", ""),
        ),
        2 => (
            means.row_iter().map(|r| (r[0], r[1])).collect(),
            ("z₁", "z₂"),
        ),
        _ => {
            let centered = means
                - DMatrix::from_fn(means.nrows(), means.ncols(), |_, j| means.column(j).mean());
            let cov = centered.transpose() * &centered;
            let eig = cov.symmetric_eigen();
            let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
            order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
            let project = |k: usize| &centered * eig.eigenvectors.column(order[k]);
            let (a, b) = (project(0), project(1));
            (
                a.iter().zip(b.iter()).map(|(&x, &y)| (x, y)).collect(),
                ("first principal axis", "second principal axis"),
            )
        }
    }
}

/// The median of `seconds` after the first entry (the whole list if it has one entry; 0 if
/// none): an epoch's time, without the first epoch's warm-up.
fn median_after_first(seconds: &[f64]) -> f64 {
    let mut timed = seconds
        .get(1..)
        .filter(|s| !s.is_empty())
        .unwrap_or(seconds)
        .to_vec();
    timed.sort_by(f64::total_cmp);
    timed.get(timed.len() / 2).copied().unwrap_or(0.0)
}
