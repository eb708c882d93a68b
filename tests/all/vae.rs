//! The variational autoencoder: gradients, its KL term, learning, its bounds.

use super::common;

use elbo::autodiff::{GradCheck, check_param_gradients};
use elbo::dist::LN_SQRT_2PI;
use elbo::guide::GaussianEncoder;
use elbo::infer::{Estimator, Objective};
use elbo::likelihood::{GaussianDecoder, ObservationVariance};
use elbo::model::Guide;
use elbo::nn::{Activation, Init, Mlp};
use elbo::prior::StandardNormal;
use elbo::vae::{Vae, VaeArchitecture, VaeLikelihood, VaeTraining};
use elbo::{Error, ParamStore};
use nalgebra::DMatrix;

/// Points near a closed curve in 6 dimensions: data with a clear 1-D latent structure.
fn curve_data(n: usize, seed: u64) -> DMatrix<f64> {
    let noise = common::normal_matrix(n, 6, seed);
    let phase = common::normal_matrix(n, 1, seed ^ 1);
    DMatrix::from_fn(n, 6, |i, j| {
        let t = 2.0 * std::f64::consts::PI * (phase[i] * 0.4).tanh();
        let clean = [
            t.cos(),
            t.sin(),
            (2.0 * t).cos(),
            0.5 * t.sin(),
            0.3 * (3.0 * t).cos(),
            0.2,
        ][j];
        clean + 0.05 * noise[(i, j)]
    })
}

fn small_vae(seed: u64) -> Vae<f64> {
    let architecture = VaeArchitecture {
        hidden: vec![32],
        likelihood: VaeLikelihood::Gaussian(ObservationVariance::Fixed(0.01)),
        ..VaeArchitecture::new(6, 2)
    };
    let training = VaeTraining {
        batch_size: 32,
        learning_rate: 3e-3,
        ..VaeTraining::default()
    };
    Vae::new(architecture, training, seed).unwrap()
}

#[test]
fn whole_vae_loss_gradient_matches_finite_differences() {
    let mut rng = common::rng(1);
    let mut store = ParamStore::<f64>::new();
    let trunk = Mlp::new(
        &mut store,
        "enc.trunk",
        &[4, 3],
        Activation::Tanh,
        Activation::Tanh,
        Init::Xavier,
        &mut rng,
    )
    .unwrap();
    let encoder =
        GaussianEncoder::new(&mut store, "enc", trunk, 2, Init::Xavier, &mut rng).unwrap();
    let net = Mlp::new(
        &mut store,
        "dec",
        &[2, 3, 4],
        Activation::Tanh,
        Activation::Identity,
        Init::Xavier,
        &mut rng,
    )
    .unwrap();
    let decoder = GaussianDecoder::new(
        &mut store,
        "dec",
        net,
        ObservationVariance::LearnedPerDimension,
    )
    .unwrap();
    let prior = StandardNormal::new(2).unwrap();
    let x = common::normal_matrix(5, 4, 2);
    for estimator in [Estimator::Elbo, Estimator::ElboAnalyticKl, Estimator::Iwae] {
        let objective = Objective::new(estimator, 2);
        let report = check_param_gradients(&store, GradCheck::default(), |tape| {
            let mut rng = common::rng(3); // the same draws at every evaluation
            let xv = tape.constant(x.clone());
            let q = encoder.family(tape, xv);
            objective
                .estimate(&prior, &decoder, &q, xv, 1.0, &mut rng)
                .unwrap()
                .sum()
        });
        assert!(report.passed(1e-5), "{estimator:?}: {report:?}");
        assert_eq!(report.entries, store.num_scalars());
    }
}

#[test]
fn analytic_kl_elbo_agrees_with_the_monte_carlo_elbo() {
    let mut vae = small_vae(4);
    let data = curve_data(64, 5);
    for _ in 0..5 {
        vae.train_epoch(&data, |_| {}).unwrap();
    }
    let mut rng = common::rng(6);
    let (mut mc, mut analytic) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        mc.push(
            vae.bound(&data, Objective::new(Estimator::Elbo, 50), &mut rng)
                .unwrap(),
        );
        analytic.push(
            vae.bound(
                &data,
                Objective::new(Estimator::ElboAnalyticKl, 50),
                &mut rng,
            )
            .unwrap(),
        );
    }
    let (m1, se1) = common::mean_and_se(&mc);
    let (m2, se2) = common::mean_and_se(&analytic);
    assert!(
        (m1 - m2).abs() < 4.0 * (se1 * se1 + se2 * se2).sqrt(),
        "MC {m1} ± {se1} vs analytic {m2} ± {se2}"
    );
}

/// The best ELBO of any model whose decoder ignores z: with q = p(z) the KL is 0 and the
/// likelihood is maximised by the data's own column means, Σ_j log N(x_j; mean_j, c).
fn ignore_z_elbo(train: &DMatrix<f64>, test: &DMatrix<f64>, c: f64) -> f64 {
    let means: Vec<f64> = (0..train.ncols()).map(|j| train.column(j).mean()).collect();
    let sq: f64 = test
        .row_iter()
        .map(|r| {
            r.iter()
                .zip(&means)
                .map(|(x, m)| (x - m).powi(2))
                .sum::<f64>()
        })
        .sum();
    let d = test.ncols() as f64;
    -0.5 * sq / c / test.nrows() as f64 - d * (0.5 * c.ln() + LN_SQRT_2PI)
}

#[test]
fn training_raises_the_held_out_elbo_far_above_untrained_and_z_ignoring_models() {
    let (train, test) = (curve_data(512, 7), curve_data(128, 8));
    let mut vae = small_vae(9);
    let mut rng = common::rng(10);
    let untrained = vae.elbo(&test, &mut rng).unwrap();
    for _ in 0..150 {
        vae.train_epoch(&train, |_| {}).unwrap();
    }
    let trained = vae.elbo(&test, &mut rng).unwrap();
    let baseline = ignore_z_elbo(&train, &test, 0.01);
    // Per test row, in nats: the latent must explain most of the curve.
    assert!(
        trained > untrained + 50.0,
        "trained {trained} vs untrained {untrained}"
    );
    assert!(
        trained > baseline + 50.0,
        "trained {trained} vs z-ignoring {baseline}"
    );
    assert!(vae.active_units(&test) >= 1);
    // IWAE tightens the bound on held-out data.
    let iwae = vae.iwae(&test, 200, &mut rng).unwrap();
    assert!(iwae >= trained, "IWAE {iwae} below the ELBO {trained}");
}

#[test]
fn evaluation_gives_the_same_bits_on_any_number_of_threads() {
    // 400 rows with 2000 particles each are several chunks, evaluated in parallel. The VAE is
    // trained inside each pool (it is not Send); its minibatches of 32 rows are one shard on
    // any number of threads, so the trained parameters are the same.
    let data = curve_data(400, 21);
    let bounds = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut vae = small_vae(22);
            vae.train_epoch(&data, |_| {}).unwrap();
            let mut rng = common::rng(5);
            let iwae = vae.iwae(&data, 2000, &mut rng).unwrap();
            // 30,000 particles of 6 columns pass a tape's budget: each row's particles are
            // cut into chunks, whose bounds are combined.
            let rows = data.rows(0, 20).into_owned();
            let chunked = vae.iwae(&rows, 30_000, &mut rng).unwrap();
            let elbo = vae.elbo(&rows, &mut rng).unwrap();
            (iwae, vae.elbo(&data, &mut rng).unwrap(), chunked, elbo)
        })
    };
    let one = bounds(1);
    assert!(one.0.is_finite() && one.1.is_finite());
    // The IWAE bound with K = 30,000 lies above the ELBO of the same rows by far more than the
    // ELBO's Monte Carlo error here.
    assert!(one.2 > one.3 + 0.1, "{} vs {}", one.2, one.3);
    assert_eq!(one, bounds(3));
}

#[test]
fn same_seed_trains_to_identical_parameters() {
    let data = curve_data(64, 11);
    let run = || {
        let mut vae = small_vae(12);
        for _ in 0..3 {
            vae.train_epoch(&data, |_| {}).unwrap();
        }
        vae.params()
            .ids()
            .map(|id| vae.params().get(id).clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
    // Data prepared once for the three epochs trains to the same bits.
    let mut vae = small_vae(12);
    let prepared = vae.training_data(&data).unwrap();
    assert!(vae.standardization().is_some(), "the data went through one");
    for _ in 0..3 {
        vae.train_epoch_on(&prepared, |_| {}).unwrap();
    }
    let params: Vec<_> = vae
        .params()
        .ids()
        .map(|id| vae.params().get(id).clone())
        .collect();
    assert_eq!(params, run());
}

#[test]
fn data_prepared_under_another_standardisation_is_refused() {
    let mut first = small_vae(1);
    let data = curve_data(64, 2);
    let prepared = first.training_data(&data).unwrap();
    let mut other = small_vae(1);
    other
        .train_epoch(&curve_data(64, 3).scale(10.0), |_| {})
        .unwrap();
    let err = other.train_epoch_on(&prepared, |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParameter {
                name: "training data",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("this VAE's `training_data`"),
        "{err}"
    );
    // Its own VAE trains on it.
    first.train_epoch_on(&prepared, |_| {}).unwrap();
    assert!(matches!(
        first.training_data(&DMatrix::zeros(0, 6)),
        Err(Error::EmptyData { .. })
    ));
}

#[test]
fn encode_decode_sample_and_interpolate_have_the_right_shapes() {
    let vae = small_vae(13);
    let x = curve_data(5, 14);
    let (mean, sd) = vae.encode(&x);
    assert_eq!((mean.shape(), sd.shape()), ((5, 2), (5, 2)));
    assert!(sd.iter().all(|&s| s > 0.0));
    assert_eq!(vae.decode(&mean).shape(), (5, 6));
    assert_eq!(vae.reconstruct(&x).shape(), (5, 6));
    assert_eq!(vae.sample(7, &mut common::rng(15)).unwrap().shape(), (7, 6));
    let path = vae.interpolate(&x.rows(0, 1).into_owned(), &x.rows(1, 1).into_owned(), 4);
    assert_eq!(path.shape(), (4, 6));
    // The ends of the path are the two reconstructions.
    assert!(
        (path.row(0) - vae.reconstruct(&x.rows(0, 1).into_owned()).row(0))
            .abs()
            .max()
            < 1e-12
    );
}

#[test]
fn bernoulli_vae_rejects_data_outside_the_unit_interval_and_bad_settings() {
    let architecture = VaeArchitecture {
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(6, 2)
    };
    let training = VaeTraining::default();
    let mut vae = Vae::<f64>::new(architecture.clone(), training.clone(), 0).unwrap();
    let err = vae.train_epoch(&curve_data(8, 16), |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParameter {
                name: "Bernoulli data value",
                ..
            }
        ),
        "{err}"
    );
    let wrong_width = DMatrix::from_element(4, 5, 0.5);
    assert!(matches!(
        vae.train_epoch(&wrong_width, |_| {}),
        Err(Error::ShapeMismatch { .. })
    ));
    for bad in [
        VaeArchitecture {
            latent: 0,
            ..architecture.clone()
        },
        VaeArchitecture {
            hidden: vec![8, 0],
            ..architecture.clone()
        },
        VaeArchitecture {
            likelihood: VaeLikelihood::Gaussian(ObservationVariance::Fixed(0.0)),
            ..architecture.clone()
        },
    ] {
        assert!(matches!(
            Vae::<f64>::new(bad, training.clone(), 0),
            Err(Error::InvalidParameter { .. })
        ));
    }
    for bad in [
        VaeTraining {
            batch_size: 0,
            ..training.clone()
        },
        VaeTraining {
            learning_rate: 0.0,
            ..training.clone()
        },
        VaeTraining {
            beta: -1.0,
            ..training.clone()
        },
    ] {
        assert!(matches!(
            Vae::<f64>::new(architecture.clone(), bad, 0),
            Err(Error::InvalidParameter { .. })
        ));
    }
    assert!(matches!(
        vae.iwae(&DMatrix::from_element(2, 6, 0.5), 0, &mut common::rng(0)),
        Err(Error::InvalidParameter { .. })
    ));
}

/// A heavy-tailed prior with no closed-form KL: independent Student-t coordinates with ν = 4.
struct StudentT {
    dim: usize,
}

impl elbo::model::Prior<f64> for StudentT {
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_prob<'t>(&self, z: elbo::autodiff::Var<'t, f64>) -> elbo::autodiff::Var<'t, f64> {
        // log t₄(z) = log Γ(5/2) − log Γ(2) − ½ log(4π) − 5/2 log(1 + z²/4), per coordinate.
        let constant =
            (0.75 * std::f64::consts::PI.sqrt()).ln() - 0.5 * (4.0 * std::f64::consts::PI).ln();
        (z.square().scale(0.25).ln_1p().scale(-2.5) + constant).row_sums()
    }
    /// t₄ = N(0, 1) / √(χ²₄ / 4), with χ²₄ the sum of four squared normals.
    fn sample<'t, R: rand::Rng + ?Sized>(
        &self,
        tape: &'t elbo::autodiff::Tape<'t, f64>,
        n: usize,
        rng: &mut R,
    ) -> elbo::Result<elbo::autodiff::Var<'t, f64>> {
        let mut normal = || <f64 as elbo::Real>::standard_normal(rng);
        Ok(tape.constant(DMatrix::from_fn(n, self.dim, |_, _| {
            let chi2: f64 = (0..4).map(|_| normal().powi(2)).sum();
            normal() / (chi2 / 4.0).sqrt()
        })))
    }
}

#[test]
fn any_prior_is_accepted_and_a_non_gaussian_one_trains_by_the_monte_carlo_elbo() {
    let architecture = VaeArchitecture {
        hidden: vec![16],
        likelihood: VaeLikelihood::Gaussian(ObservationVariance::Fixed(0.05)),
        ..VaeArchitecture::new(6, 2)
    };
    let training = VaeTraining::default();
    let mut vae = Vae::with_prior(
        architecture.clone(),
        training.clone(),
        17,
        StudentT { dim: 2 },
    )
    .unwrap();
    let data = curve_data(128, 18);
    let mut rng = common::rng(19);
    let before = vae.elbo(&data, &mut rng).unwrap();
    for _ in 0..150 {
        vae.train_epoch(&data, |_| {}).unwrap();
    }
    let after = vae.elbo(&data, &mut rng).unwrap();
    assert!(
        after.is_finite() && after > before + 10.0,
        "{before} -> {after}"
    );
    // Any prior can be sampled from: decoded draws of the t prior.
    let samples = vae.sample(3, &mut rng).unwrap();
    assert_eq!(samples.shape(), (3, 6));
    assert!(samples.iter().all(|v| v.is_finite()));
    // A prior of the wrong dimension is refused.
    assert!(matches!(
        Vae::with_prior(architecture, training, 17, StudentT { dim: 3 }),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Mean test ELBO of a VAE trained for `epochs` on `train`, evaluated on `test` with eight
/// generators; returns (mean, standard deviation of one evaluation).
fn trained_test_elbo(train: &DMatrix<f32>, test: &DMatrix<f32>, epochs: usize) -> (f64, f64) {
    let architecture = VaeArchitecture {
        hidden: vec![64],
        ..VaeArchitecture::new(train.ncols(), 4)
    };
    let mut vae = Vae::<f32>::new(architecture, VaeTraining::default(), 3).unwrap();
    for _ in 0..epochs {
        vae.train_epoch(train, |_| {}).unwrap();
    }
    let values: Vec<f64> = (0..8)
        .map(|seed| vae.elbo(test, &mut common::rng(100 + seed)).unwrap())
        .collect();
    let mean = values.iter().sum::<f64>() / 8.0;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 7.0;
    (mean, variance.sqrt())
}

#[test]
fn gaussian_vae_trains_the_same_on_data_in_other_units_and_offsets() {
    let (train, test) = elbo::data::Dataset::<f32>::digits8x8();
    let (train, test) = (train.x.rows(0, 500).into_owned(), test.x);
    let (elbo, sd) = trained_test_elbo(&train, &test, 15);
    let d = train.ncols() as f64;
    for (scale, offset) in [(100.0f32, 0.0f32), (1e-3, -2.5)] {
        let shift = |x: &DMatrix<f32>| x.map(|v| v * scale + offset);
        let (moved, moved_sd) = trained_test_elbo(&shift(&train), &shift(&test), 15);
        // A density in units `scale` times larger is lower by ln(scale) per column.
        let expected = elbo - d * (scale as f64).ln();
        let tolerance = 4.0 * (sd * sd + moved_sd * moved_sd).sqrt();
        assert!(
            (moved - expected).abs() <= tolerance,
            "×{scale} {offset:+}: test ELBO {moved}, expected {expected} ± {tolerance}"
        );
    }
}
