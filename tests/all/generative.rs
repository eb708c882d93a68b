//! Generators without the ELBO: the MMD² estimator against its closed form, the alternating
//! updates of a GAN, 1-D GAN and moment matching reaching their target, divergence, and the
//! classifier's cross-entropy.

use super::common;

use elbo::ParamStore;
use elbo::autodiff::{GradCheck, Tape, check_gradients};
use elbo::backend::Placed;
use elbo::data::{Standardization, one_hot, with_one_hot};
use elbo::engine::{Batch, Loss, ParamGroup, Trainer, TrainerSettings};
use elbo::generative::{Gan, GanLoss, GaussianMmd, Generator, MomentMatching, Noise};
use elbo::nn::{Activation, Classifier, Identity, Init, Mlp};
use elbo::optim::{Adam, LearningRate};
use nalgebra::DMatrix;

/// E k(X, Y) for X ~ N(a, s_x² I), Y ~ N(b, s_y² I) in d dimensions and the Gaussian
/// covariance function k of bandwidth σ:
/// (σ² / (σ² + s_x² + s_y²))^{d/2} exp(−‖a − b‖² / (2 (σ² + s_x² + s_y²))).
fn expected_covariance(a: &[f64], sx: f64, b: &[f64], sy: f64, sigma: f64) -> f64 {
    let v = sigma * sigma + sx * sx + sy * sy;
    let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum();
    (sigma * sigma / v).powf(a.len() as f64 / 2.0) * (-d2 / (2.0 * v)).exp()
}

fn gaussian_sample(rows: usize, mean: &[f64], sd: f64, seed: u64) -> DMatrix<f64> {
    let z = common::normal_matrix(rows, mean.len(), seed);
    DMatrix::from_fn(rows, mean.len(), |i, j| mean[j] + sd * z[(i, j)])
}

/// The estimator's mean over many replicates equals the closed-form MMD² between two
/// Gaussians (within four standard errors), and is 0 when they agree — with replicates below
/// zero, as an unbiased estimator must have.
#[test]
fn mmd2_is_unbiased_and_matches_the_closed_form_for_two_gaussians() {
    let mmd = GaussianMmd {
        bandwidths: vec![0.5, 2.0],
    };
    let (a, sa, b, sb) = ([0.0, 0.0], 1.0, [0.5, -0.3], 1.5);
    let truth: f64 = mmd
        .bandwidths
        .iter()
        .map(|&s| {
            expected_covariance(&a, sa, &a, sa, s) + expected_covariance(&b, sb, &b, sb, s)
                - 2.0 * expected_covariance(&a, sa, &b, sb, s)
        })
        .sum();
    let replicates = 400;
    let estimates = |same: bool| -> Vec<f64> {
        (0..replicates)
            .map(|r| {
                let x = gaussian_sample(40, &a, sa, 1000 + r);
                let y = if same {
                    gaussian_sample(30, &a, sa, 5000 + r)
                } else {
                    gaussian_sample(30, &b, sb, 5000 + r)
                };
                mmd.mmd2(&x, &y).unwrap()
            })
            .collect()
    };
    for (same, expected) in [(false, truth), (true, 0.0)] {
        let e = estimates(same);
        let mean = e.iter().sum::<f64>() / replicates as f64;
        let sd =
            (e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (replicates - 1) as f64).sqrt();
        let se = sd / (replicates as f64).sqrt();
        println!("same {same}: mean {mean} (se {se}), closed form {expected}");
        assert!((mean - expected).abs() < 4.0 * se, "{mean} vs {expected}");
        if same {
            assert!(e.iter().any(|v| *v < 0.0));
        }
    }
    assert!(truth > 0.05);
}

#[test]
fn mmd2_gradients_match_finite_differences_and_bad_input_is_refused() {
    let mmd = GaussianMmd {
        bandwidths: vec![0.7, 1.9],
    };
    let x = common::normal_matrix(4, 3, 1);
    let y = common::normal_matrix(5, 3, 2);
    let report = check_gradients(&[x.clone(), y.clone()], GradCheck::default(), |v| {
        mmd.mmd2_unbiased(v[0], v[1])
    });
    assert!(report.passed(1e-6), "{report:?}");
    assert!(mmd.mmd2(&x, &y.columns(0, 2).into_owned()).is_err());
    assert!(mmd.mmd2(&x.rows(0, 1).into_owned(), &y).is_err());
    let bad = GaussianMmd {
        bandwidths: vec![1.0, -1.0],
    };
    assert!(bad.mmd2(&x, &y).is_err());
    assert!(GaussianMmd { bandwidths: vec![] }.validate().is_err());
    let median = GaussianMmd::median_distance(&x).unwrap();
    assert!(median > 0.0);
    assert!(GaussianMmd::median_distance(&DMatrix::<f64>::zeros(5, 2)).is_err());
}

/// The old name, `GaussianKernels`, still names the same type.
#[test]
#[allow(deprecated)]
fn the_old_name_of_gaussian_mmd_still_builds_it() {
    let old = elbo::generative::GaussianKernels::scaled(2.0, &[0.5, 1.0]);
    assert_eq!(
        old,
        GaussianMmd {
            bandwidths: vec![1.0, 2.0]
        }
    );
}

/// The 1-D generator network, 1 → 16 → 16 → 1 (tanh).
fn generator_1d(store: &mut ParamStore<f64>, rng: &mut rand_pcg::Pcg64) -> Mlp {
    Mlp::new(
        store,
        "generator",
        &[1, 16, 16, 1],
        Activation::Tanh,
        Activation::Identity,
        Init::Xavier,
        rng,
    )
    .unwrap()
}

/// A 1-D GAN: generator 1 → 16 → 16 → 1 from normal noise, discriminator 1 → 32 → 32 → 1.
fn gan_1d(store: &mut ParamStore<f64>, seed: u64) -> Gan<Mlp, Mlp> {
    let mut rng = common::rng(seed);
    let generator = generator_1d(store, &mut rng);
    let discriminator = Mlp::new(
        store,
        "discriminator",
        &[1, 32, 32, 1],
        Activation::LeakyRelu(0.2),
        Activation::Identity,
        Init::He,
        &mut rng,
    )
    .unwrap();
    Gan {
        generator: Generator {
            network: generator,
            noise: Noise::Normal,
            classes: 0,
        },
        discriminator,
        loss: GanLoss::NonSaturating,
    }
}

/// The discriminator's and the generator's groups (Adam with β₁ = 0.5), the generator's
/// every `every` steps.
fn groups<'o>(
    store: &ParamStore<f64>,
    learning_rate: LearningRate,
    every: usize,
) -> Vec<ParamGroup<'o, f64>> {
    let adam = || Adam::new(0.5, 0.999, 1e-8).unwrap();
    vec![
        ParamGroup::new("discriminator", store.ids_under("discriminator"), adam())
            .with_learning_rate(learning_rate),
        ParamGroup::new("generator", store.ids_under("generator"), adam())
            .with_learning_rate(learning_rate)
            .every(every),
    ]
}

fn settings() -> TrainerSettings {
    TrainerSettings {
        batch_size: Some(64),
        ..TrainerSettings::default()
    }
}

/// With the generator's group every 2nd step, step 1 moves the discriminator and leaves the
/// generator's parameters bit-identical; a frozen discriminator stays bit-identical while the
/// generator trains.
#[test]
fn an_alternating_step_leaves_the_frozen_network_bit_identical() {
    let data = gaussian_sample(200, &[0.0], 1.0, 3);
    let mut store = ParamStore::new();
    let gan = gan_1d(&mut store, 4);
    let snapshot = |store: &ParamStore<f64>, prefix: &str| -> Vec<DMatrix<f64>> {
        store
            .ids_under(prefix)
            .into_iter()
            .map(|id| store.get(id).clone())
            .collect()
    };
    let mut trainer =
        Trainer::new(settings(), groups(&store, LearningRate::Constant(1e-2), 2)).unwrap();
    let mut rng = common::rng(5);
    trainer
        .run(&gan, &mut store, &data, &mut rng, 1, &mut [])
        .unwrap();
    let (g0, d0) = (
        snapshot(&store, "generator"),
        snapshot(&store, "discriminator"),
    );
    trainer
        .run(&gan, &mut store, &data, &mut rng, 1, &mut [])
        .unwrap();
    assert_eq!(snapshot(&store, "generator"), g0);
    assert_ne!(snapshot(&store, "discriminator"), d0);

    let mut frozen = groups(&store, LearningRate::Constant(1e-2), 1);
    frozen[0] = ParamGroup::new(
        "discriminator",
        store.ids_under("discriminator"),
        Adam::default(),
    )
    .frozen(true);
    let mut trainer = Trainer::new(settings(), frozen).unwrap();
    let (g1, d1) = (
        snapshot(&store, "generator"),
        snapshot(&store, "discriminator"),
    );
    trainer
        .run(&gan, &mut store, &data, &mut rng, 5, &mut [])
        .unwrap();
    assert_eq!(snapshot(&store, "discriminator"), d1);
    assert_ne!(snapshot(&store, "generator"), g1);
    // A GAN has two groups; a third is refused by name.
    let tape = Tape::for_evaluation(&store);
    let x = Placed::from(data.clone());
    let batch = Batch {
        x: &x,
        scale: 1.0,
        step: 0,
        steps_per_epoch: 1,
        group: 2,
    };
    assert!(gan.loss(&tape, &batch, &mut rng).is_err());
}

/// Trains `name` on 10,000 draws of N(M, S²), standardised; maps 10,000 generated draws back
/// and checks their mean within 0.1 of M and their sd within 0.1·max(1, S) of S.
fn reaches_target(
    name: &str,
    train: impl Fn(&DMatrix<f64>, &mut ParamStore<f64>) -> Generator<Mlp>,
    mean: f64,
    sd: f64,
) {
    let data = gaussian_sample(10_000, &[mean], sd, 6);
    let units = Standardization::of(&data);
    let mut store = ParamStore::new();
    let generator = train(&units.apply(&data), &mut store);
    let draws = units.invert(
        generator
            .sample(&store, 10_000, None, &mut common::rng(7))
            .unwrap(),
    );
    let m = draws.mean();
    let s = (draws.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 9_999.0).sqrt();
    println!("{name}: mean {m} (target {mean}), sd {s} (target {sd})");
    assert!((m - mean).abs() < 0.1, "{name}: mean {m}");
    assert!((s - sd).abs() < 0.1 * sd.max(1.0), "{name}: sd {s}");
}

#[test]
fn a_1d_gan_reaches_its_target() {
    let (mean, sd) = (-3.0, 2.5);
    reaches_target(
        "GAN",
        |data, store| {
            let gan = gan_1d(store, 8);
            let steps = 4000;
            let decaying = LearningRate::Exponential {
                start: 2e-3,
                end: 1e-4,
                steps,
            };
            // The last iterate of a GAN wanders around the equilibrium; the average of the
            // second half's parameters sits nearer it (Polyak averaging, as for generators in
            // the literature).
            let averaged = TrainerSettings {
                average_from: Some(steps / 2),
                ..settings()
            };
            let mut trainer = Trainer::new(averaged, groups(store, decaying, 1)).unwrap();
            trainer
                .run(&gan, store, data, &mut common::rng(9), steps, &mut [])
                .unwrap();
            gan.generator
        },
        mean,
        sd,
    );
}

#[test]
fn a_1d_moment_matching_generator_reaches_its_target() {
    let (mean, sd) = (4.0, 0.3);
    reaches_target(
        "GMN",
        |data, store| {
            let mut rng = common::rng(10);
            let network = generator_1d(store, &mut rng);
            let model = MomentMatching {
                generator: Generator {
                    network,
                    noise: Noise::Uniform,
                    classes: 0,
                },
                mmd: GaussianMmd::scaled(1.0, &[0.2, 0.5, 1.0, 2.0]),
            };
            let group = ParamGroup::all("generator", store, Adam::default())
                .with_learning_rate(LearningRate::Constant(3e-3));
            let mut trainer = Trainer::new(settings(), vec![group]).unwrap();
            trainer
                .run(&model, store, data, &mut rng, 3000, &mut [])
                .unwrap();
            model.generator
        },
        mean,
        sd,
    );
}

/// A step size no network survives: the run ends with the typed divergence error.
#[test]
fn a_diverging_gan_ends_with_the_divergence_error() {
    let data = gaussian_sample(200, &[0.0], 1.0, 11);
    let mut store = ParamStore::new();
    let gan = gan_1d(&mut store, 12);
    let mut trainer =
        Trainer::new(settings(), groups(&store, LearningRate::Constant(1e300), 1)).unwrap();
    let result = trainer.run(&gan, &mut store, &data, &mut common::rng(13), 500, &mut []);
    assert!(
        matches!(result, Err(elbo::Error::Diverged { .. })),
        "{result:?}"
    );
}

/// The cross-entropy of logits equal to the features is Σ_i (ln Σ_k e^{x_ik} − x_{i,y_i}),
/// times N/B; labels out of range are refused.
#[test]
fn the_classifier_loss_is_the_cross_entropy() {
    let logits = common::normal_matrix(5, 3, 14);
    let labels = [0u8, 2, 1, 1, 0];
    let rows = Placed::from(with_one_hot(&logits, &labels, 3).unwrap());
    let classifier = Classifier {
        network: Identity { width: 3 },
    };
    let store = ParamStore::new();
    let tape = Tape::for_evaluation(&store);
    let batch = Batch {
        x: &rows,
        scale: 2.0,
        step: 0,
        steps_per_epoch: 1,
        group: 0,
    };
    let value = classifier
        .loss(&tape, &batch, &mut common::rng(0))
        .unwrap()
        .value()[(0, 0)];
    let expected: f64 = (0..5)
        .map(|i| {
            let lse = logits.row(i).iter().map(|v| v.exp()).sum::<f64>().ln();
            lse - logits[(i, labels[i] as usize)]
        })
        .sum::<f64>()
        * 2.0;
    assert!((value - expected).abs() < 1e-12);
    let p = classifier.probabilities(&store, &logits);
    assert!(p.row_iter().all(|r| (r.sum() - 1.0).abs() < 1e-12));
    let predicted = classifier.predict(&store, &logits);
    let accuracy = classifier.accuracy(&store, &logits, &predicted).unwrap();
    assert_eq!(accuracy, 1.0);
    assert!(classifier.validate(&logits).is_err());
    assert!(one_hot::<f64>(&[3], 3).is_err());
    assert!(with_one_hot(&logits, &labels[..4], 3).is_err());
}
