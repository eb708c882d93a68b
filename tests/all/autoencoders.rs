//! Autoencoders: penalties against their formulas, the contractive Jacobian against finite
//! differences, corruptions at their rates, and a linear autoencoder against PCA.

use super::common;

use elbo::ParamStore;
use elbo::autodiff::Tape;
use elbo::autoencoder::{
    Autoencoder, AutoencoderConfig, AutoencoderLoss, Corruption, Objective, Reconstruction,
    Sparsity, jacobian_frobenius,
};
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::nn::{Activation, Init};
use elbo::optim::{Adam, LearningRate};
use nalgebra::DMatrix;
use rand::RngExt;

fn train(
    autoencoder: &Autoencoder,
    store: &mut ParamStore<f64>,
    objective: Objective,
    data: &DMatrix<f64>,
    steps: usize,
    seed: u64,
) {
    let range = (data.min(), data.max());
    let loss = AutoencoderLoss {
        autoencoder,
        objective,
        range,
    };
    let group = ParamGroup::all("all", store, Adam::default()).with_learning_rate(
        LearningRate::Exponential {
            start: 0.01,
            end: 1e-4,
            steps,
        },
    );
    let mut trainer = Trainer::new(TrainerSettings::default(), vec![group]).unwrap();
    let mut rng = common::rng(seed);
    trainer
        .run(&loss, store, data, &mut rng, steps, &mut [])
        .unwrap();
}

#[test]
fn a_linear_autoencoder_reconstructs_as_pca_does() {
    // The lecture's five points and PCA's reconstructions from its first component.
    let data = DMatrix::from_row_slice(
        5,
        2,
        &[-0.5, -0.4, -0.4, -0.1, 0.1, 0.0, 0.3, 0.3, 0.5, 0.2],
    );
    let pca = [
        (-0.54, -0.33),
        (-0.34, -0.20),
        (0.07, 0.04),
        (0.35, 0.21),
        (0.46, 0.27),
    ];
    let mut store = ParamStore::new();
    let mut rng = common::rng(1);
    let config = AutoencoderConfig::shallow(2, 1, Activation::Identity);
    let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut rng).unwrap();
    train(
        &autoencoder,
        &mut store,
        Objective::default(),
        &data,
        20_000,
        2,
    );
    let r = autoencoder.reconstruct(&store, &data);
    for (i, (a, b)) in pca.iter().enumerate() {
        assert!(
            (r[(i, 0)] - a).abs() < 0.005 && (r[(i, 1)] - b).abs() < 0.005,
            "row {i}: {r}"
        );
    }
}

#[test]
fn the_contractive_jacobian_matches_finite_differences_for_any_depth() {
    let x = common::normal_matrix(5, 4, 3);
    for (sizes, activation) in [
        (vec![4, 3], Activation::Sigmoid),
        (vec![4, 6, 3], Activation::Tanh),
        (vec![4, 5, 5, 2], Activation::Selu),
    ] {
        let mut store = ParamStore::new();
        let mut rng = common::rng(4);
        let config = AutoencoderConfig {
            sizes,
            hidden: activation,
            code: activation,
            output: Activation::Identity,
            tied: false,
            init: Init::Xavier,
        };
        let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut rng).unwrap();
        let exact = jacobian_frobenius(&autoencoder, &store, &x);
        let h = 1e-5;
        let mut numeric = 0.0;
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                let (mut up, mut down) = (x.rows(i, 1).into_owned(), x.rows(i, 1).into_owned());
                up[(0, j)] += h;
                down[(0, j)] -= h;
                let d =
                    (autoencoder.codes(&store, &up) - autoencoder.codes(&store, &down)) / (2.0 * h);
                numeric += d.iter().map(|v| v * v).sum::<f64>();
            }
        }
        numeric /= x.nrows() as f64;
        assert!(
            (exact - numeric).abs() < 1e-6 * numeric.max(1.0),
            "{activation}: {exact} vs {numeric}"
        );
    }
}

#[test]
fn the_penalties_equal_their_formulas() {
    // One row, a 2-unit logistic code: hand-computed terms.
    let mut store = ParamStore::new();
    let mut rng = common::rng(5);
    let config = AutoencoderConfig {
        sizes: vec![3, 2],
        hidden: Activation::Sigmoid,
        code: Activation::Sigmoid,
        output: Activation::Identity,
        tied: true,
        init: Init::Xavier,
    };
    let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut rng).unwrap();
    let x = DMatrix::from_row_slice(2, 3, &[0.2, -0.5, 1.0, 0.7, 0.1, -0.3]);
    let codes = autoencoder.codes(&store, &x);
    let r = autoencoder.reconstruct(&store, &x);
    let evaluate = |objective: Objective| {
        let loss = AutoencoderLoss {
            autoencoder: &autoencoder,
            objective,
            range: (-1.0, 1.0),
        };
        let tape = Tape::for_evaluation(&store);
        let batch_x = elbo::backend::Placed::from(x.clone());
        let batch = elbo::engine::Batch {
            x: &batch_x,
            scale: 1.0,
            step: 0,
            steps_per_epoch: 1,
            group: 0,
        };
        elbo::engine::Loss::loss(&loss, &tape, &batch, &mut common::rng(0))
            .unwrap()
            .scalar()
    };
    let squared: f64 = (&x - &r).iter().map(|v| v * v).sum();
    assert!((evaluate(Objective::default()) - squared).abs() < 1e-12);
    // Sparsity: β Σ_i KL(ρ ‖ ρ̂_i) with ρ̂ the column means, times N = 2.
    let rho = 0.05;
    let kl: f64 = (0..2)
        .map(|i| {
            let p = (codes[(0, i)] + codes[(1, i)]) / 2.0;
            rho * (rho / p).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - p)).ln()
        })
        .sum();
    let sparse = Objective {
        sparsity: Some(Sparsity {
            target: rho,
            weight: 3.0,
        }),
        ..Objective::default()
    };
    assert!((evaluate(sparse) - squared - 2.0 * 3.0 * kl).abs() < 1e-10);
    // Weight decay: λ Σ w² over the encoder's weights (tied: the decoder's are the same).
    let w = store.get(store.id("ae.encoder.0.weight").unwrap()).clone();
    let decay = Objective {
        weight_decay: 0.5,
        ..Objective::default()
    };
    assert!((evaluate(decay) - squared - 0.5 * w.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-12);
    // Contractive, one layer: Σ_i σ'(a_i)² Σ_j W_ji², σ' = h (1 − h).
    let contractive: f64 = (0..2)
        .map(|b| {
            (0..2)
                .map(|i| {
                    let s = codes[(b, i)] * (1.0 - codes[(b, i)]);
                    s * s * (0..3).map(|j| w[(j, i)] * w[(j, i)]).sum::<f64>()
                })
                .sum::<f64>()
        })
        .sum();
    let objective = Objective {
        contractive: 0.1,
        ..Objective::default()
    };
    assert!((evaluate(objective) - squared - 0.1 * contractive).abs() < 1e-12);
    // Correntropy: −Σ K_σ(x − r).
    let sigma = 0.5;
    let density: f64 = (&x - &r)
        .iter()
        .map(|a| {
            (-a * a / (2.0 * sigma * sigma)).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sigma)
        })
        .sum();
    let robust = Objective {
        reconstruction: Reconstruction::Correntropy { bandwidth: sigma },
        ..Objective::default()
    };
    assert!((evaluate(robust) + density).abs() < 1e-12);
}

#[test]
fn corruptions_hit_their_rates() {
    let x = DMatrix::from_element(2000, 50, 0.5);
    let mut rng = common::rng(6);
    let masked = Corruption::Masking(0.3).apply(&x, (0.0, 1.0), &mut rng);
    for row in masked.row_iter() {
        assert_eq!(row.iter().filter(|v| **v == 0.0).count(), 15);
    }
    let salted = Corruption::SaltAndPepper(0.2).apply(&x, (-1.0, 2.0), &mut rng);
    let (low, high) = (
        salted.iter().filter(|v| **v == -1.0).count(),
        salted.iter().filter(|v| **v == 2.0).count(),
    );
    assert_eq!(low + high, 2000 * 10);
    // Each is Binomial(20,000, ½): sd 71; 300 is over four of them.
    assert!((low as f64 - 10_000.0).abs() < 300.0, "{low} {high}");
    let noisy = Corruption::Gaussian(0.1).apply(&x, (0.0, 1.0), &mut rng);
    let n = noisy.len() as f64;
    let var = noisy.iter().map(|v| (v - 0.5) * (v - 0.5)).sum::<f64>() / n;
    // The variance's relative sd is √(2/n) ≈ 0.0045.
    assert!((var / 0.01 - 1.0).abs() < 0.02, "{var}");
    assert!(Corruption::Masking(1.5).validate().is_err());
}

#[test]
fn the_binary_step_passes_gradients_straight_through() {
    let tape = Tape::<f64>::new();
    let x = tape.input(DMatrix::from_row_slice(1, 3, &[-0.5, 0.0, 2.0]));
    let y = x.step_straight_through();
    assert_eq!(y.value().as_slice(), &[0.0, 0.0, 1.0]);
    let grads =
        tape.backward((y * tape.constant(DMatrix::from_row_slice(1, 3, &[1.0, 2.0, 3.0]))).sum());
    assert_eq!(grads.wrt(x).unwrap().as_slice(), &[1.0, 2.0, 3.0]);
}

#[test]
fn sparse_denoising_and_contractive_do_what_they_are_for_on_small_data() {
    // 300 rows of 16 features in [0, 1] from 3 factors.
    let z = common::normal_matrix(300, 3, 7);
    let mix = common::normal_matrix(3, 16, 8);
    let data = (z * mix).map(|v| 1.0 / (1.0 + (-v).exp()));
    let fit = |objective: Objective, code: Activation| {
        let mut store = ParamStore::new();
        let mut rng = common::rng(9);
        let config = AutoencoderConfig {
            sizes: vec![16, 8],
            hidden: code,
            code,
            output: Activation::Sigmoid,
            tied: false,
            init: Init::Xavier,
        };
        let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut rng).unwrap();
        train(&autoencoder, &mut store, objective, &data, 3000, 10);
        let codes = autoencoder.codes(&store, &data);
        let mse = (autoencoder.reconstruct(&store, &data) - &data)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 300.0;
        let corrupted = Corruption::Masking(0.3).apply(&data, (0.0, 1.0), &mut common::rng(11));
        let mse_corrupted = (autoencoder.reconstruct(&store, &corrupted) - &data)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 300.0;
        (
            mse,
            codes.mean(),
            jacobian_frobenius(&autoencoder, &store, &data),
            mse_corrupted,
        )
    };
    let basic = fit(Objective::default(), Activation::Sigmoid);
    let sparse = fit(
        Objective {
            sparsity: Some(Sparsity {
                target: 0.05,
                weight: 0.1,
            }),
            ..Objective::default()
        },
        Activation::Sigmoid,
    );
    let contractive = fit(
        Objective {
            contractive: 0.1,
            ..Objective::default()
        },
        Activation::Sigmoid,
    );
    let denoising = fit(
        Objective {
            corruption: Corruption::Masking(0.3),
            ..Objective::default()
        },
        Activation::Sigmoid,
    );
    println!(
        "basic {basic:?}\nsparse {sparse:?}\ncontractive {contractive:?}\ndenoising {denoising:?}"
    );
    assert!(sparse.1 < basic.1, "mean activation");
    assert!(contractive.2 < basic.2, "Jacobian");
    assert!(denoising.3 < basic.3, "corrupted inputs");
}

#[test]
fn layerwise_pretraining_builds_the_deep_autoencoder_from_its_shallow_ones() {
    use elbo::autoencoder::pretrain_layerwise;
    let z = common::normal_matrix(200, 3, 12);
    let data = (z * common::normal_matrix(3, 12, 13)).map(|v| 1.0 / (1.0 + (-v).exp()));
    let mut store = ParamStore::new();
    let mut rng = common::rng(14);
    let config = AutoencoderConfig {
        sizes: vec![12, 8, 4],
        hidden: Activation::Sigmoid,
        code: Activation::Sigmoid,
        output: Activation::Sigmoid,
        tied: false,
        init: Init::Xavier,
    };
    let deep = Autoencoder::new(&mut store, "deep", &config, &mut rng).unwrap();
    let mse = |store: &ParamStore<f64>| {
        (deep.reconstruct(store, &data) - &data)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 200.0
    };
    let before = mse(&store);
    let mut shallow_inputs = Vec::new();
    pretrain_layerwise(
        &deep,
        &mut store,
        Objective::default(),
        &data,
        &mut rng,
        |loss, shallow_store, input, rng| {
            shallow_inputs.push(input.ncols());
            let group = ParamGroup::all("all", shallow_store, Adam::default()).with_learning_rate(
                LearningRate::Exponential {
                    start: 0.01,
                    end: 1e-3,
                    steps: 2000,
                },
            );
            let mut trainer = Trainer::new(TrainerSettings::default(), vec![group])?;
            trainer.run(loss, shallow_store, input, rng, 2000, &mut [])?;
            Ok(())
        },
    )
    .unwrap();
    // Layer 2 learned the 8 codes of layer 1.
    assert_eq!(shallow_inputs, vec![12, 8]);
    // Each decoder layer starts at the transpose of its mirror encoder layer's weights.
    for k in 0..2 {
        let encoder = store.get(deep.encoder_layers()[k].params().0).clone();
        let decoder = store
            .get(deep.decoder_layer_params(1 - k).0.unwrap())
            .clone();
        assert_eq!(decoder, encoder.transpose());
    }
    let after = mse(&store);
    println!("mse {before} at random initialisation, {after} after pretraining");
    // The assembled stack reconstructs far better than the random one (1.08 -> 0.71 here), before
    // any fine-tuning.
    assert!(after < 0.8 * before, "{before} -> {after}");
}

#[test]
fn any_two_networks_make_an_autoencoder_without_a_contractive_penalty() {
    use elbo::autoencoder::NetworkAutoencoder;
    use elbo::engine::Loss;
    use elbo::nn::Linear;
    let data = (common::normal_matrix(100, 2, 15) * common::normal_matrix(2, 6, 16))
        .map(|v| 1.0 / (1.0 + (-v).exp()));
    let mut store = ParamStore::new();
    let mut rng = common::rng(17);
    let autoencoder = NetworkAutoencoder {
        encoder: Linear::new(&mut store, "e", 6, 2, Init::Xavier, &mut rng).unwrap(),
        decoder: Linear::new(&mut store, "d", 2, 6, Init::Xavier, &mut rng).unwrap(),
        code: Activation::Tanh,
        output: Activation::Sigmoid,
        weights: Vec::new(),
    };
    let contractive = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective: Objective {
            contractive: 0.1,
            ..Objective::default()
        },
        range: (0.0, 1.0),
    };
    assert!(contractive.validate(&data).is_err());
    let mse = |store: &ParamStore<f64>| {
        use elbo::autoencoder::Codec;
        (autoencoder.reconstruct(store, &data) - &data)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 100.0
    };
    let before = mse(&store);
    let objective = Objective {
        reconstruction: Reconstruction::CrossEntropy,
        ..Objective::default()
    };
    let loss = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective,
        range: (0.0, 1.0),
    };
    let group = ParamGroup::all("all", &store, Adam::default()).with_learning_rate(
        LearningRate::Exponential {
            start: 0.01,
            end: 1e-3,
            steps: 3000,
        },
    );
    let mut trainer = Trainer::new(TrainerSettings::default(), vec![group]).unwrap();
    trainer
        .run(&loss, &mut store, &data, &mut rng, 3000, &mut [])
        .unwrap();
    let after = mse(&store);
    // Two codes for data made from two factors: the error falls by an order of magnitude.
    assert!(after < 0.1 * before, "{before} -> {after}");
}

/// A tenth of the training rows replaced by saturated random entries: the correntropy
/// autoencoder, started from the least-squares fit as the example starts it, discounts them and
/// reconstructs clean held-out rows better than the squared-error one trained on the same rows.
#[test]
fn the_robust_autoencoder_discounts_outliers_that_pull_the_basic_one() {
    let mix = common::normal_matrix(3, 16, 8);
    let rows =
        |seed| (common::normal_matrix(300, 3, seed) * &mix).map(|v| 1.0 / (1.0 + (-v).exp()));
    let mut train_x = rows(7);
    let test = rows(17);
    let mut rng = common::rng(12);
    for i in 0..30 {
        for v in train_x.row_mut(i).iter_mut() {
            *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
        }
    }
    let fit = |robust: bool| {
        let mut store = ParamStore::new();
        let config = AutoencoderConfig {
            sizes: vec![16, 4],
            hidden: Activation::Sigmoid,
            code: Activation::Sigmoid,
            output: Activation::Sigmoid,
            tied: false,
            init: Init::Xavier,
        };
        let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut common::rng(9)).unwrap();
        train(
            &autoencoder,
            &mut store,
            Objective::default(),
            &train_x,
            1000,
            10,
        );
        let last = Objective {
            reconstruction: if robust {
                Reconstruction::Correntropy { bandwidth: 0.3 }
            } else {
                Reconstruction::SquaredError
            },
            ..Objective::default()
        };
        train(&autoencoder, &mut store, last, &train_x, 2000, 11);
        (autoencoder.reconstruct(&store, &test) - &test)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 300.0
    };
    let (basic, robust) = (fit(false), fit(true));
    println!("clean held-out error: basic {basic}, robust {robust}");
    // Over three draws of the data and outliers the ratio was 0.73, 0.82 and 0.86.
    assert!(robust < 0.9 * basic, "basic {basic}, robust {robust}");
}
