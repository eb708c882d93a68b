//! The optimizers, the fitting loop's safeguards, and the errors users meet.

use super::common;

use elbo::autodiff::Tape;
use elbo::conjugate::{GaussianMean, LinearRegression};
use elbo::data::parse_csv;
use elbo::engine::TrainerSettings;
use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::infer::{Estimator, GradientEstimator, Objective, Svi, SviConfig};
use elbo::likelihood::GaussianLikelihood;
use elbo::model::GaussianGuide;
use elbo::optim::{Adam, LearningRate, Optimizer, Sgd};
use elbo::prior::{GaussianPrior, StandardNormal};
use elbo::{Error, ParamStore};
use nalgebra::{DMatrix, DVector};
use std::path::Path;

/// Minimises Σ (w − target)² with an optimizer and returns the final w.
fn minimise(optimizer: &mut dyn Optimizer<f64>, lr: f64, steps: usize) -> DMatrix<f64> {
    let target = DMatrix::from_row_slice(1, 3, &[1.0, -2.0, 0.5]);
    let mut store = ParamStore::new();
    let w = store.add("w", DMatrix::zeros(1, 3)).unwrap();
    for _ in 0..steps {
        let grads = {
            let tape = Tape::with_params(&store);
            let loss = (tape.param(w) - tape.constant(target.clone()))
                .square()
                .sum();
            tape.backward(loss)
        };
        optimizer.step(&mut store, &grads, lr).unwrap();
    }
    store.get(w) - target
}

#[test]
fn optimizers_reach_the_minimum_of_a_quadratic() {
    assert!(minimise(&mut Sgd::new(0.0).unwrap(), 0.1, 200).abs().max() < 1e-9);
    assert!(minimise(&mut Sgd::new(0.9).unwrap(), 0.02, 500).abs().max() < 1e-6);
    assert!(minimise(&mut Adam::default(), 0.05, 2000).abs().max() < 1e-3);
}

#[test]
fn optimizer_settings_are_validated() {
    assert!(matches!(
        Sgd::<f64>::new(1.0),
        Err(Error::InvalidParameter {
            name: "momentum",
            ..
        })
    ));
    assert!(matches!(
        Adam::<f64>::new(0.9, 1.5, 1e-8),
        Err(Error::InvalidParameter { name: "beta2", .. })
    ));
    assert!(matches!(
        Adam::<f64>::new(0.9, 0.99, 0.0),
        Err(Error::InvalidParameter {
            name: "epsilon",
            ..
        })
    ));
    assert!(LearningRate::Constant(-0.1).validate().is_err());
    assert!(LearningRate::Constant(f64::NAN).validate().is_err());
}

#[test]
fn exponential_schedule_decays_geometrically_then_holds() {
    let lr = LearningRate::Exponential {
        start: 0.01,
        end: 0.0001,
        steps: 100,
    };
    assert!((lr.at(0) - 0.01).abs() < 1e-15);
    assert!((lr.at(50) - 0.001).abs() < 1e-12);
    assert!((lr.at(100) - 0.0001).abs() < 1e-15);
    assert_eq!(lr.at(1000), lr.at(100));
}

#[test]
fn clipping_bounds_the_joint_gradient_norm() {
    let mut store = ParamStore::<f64>::new();
    let a = store.add("a", DMatrix::from_element(1, 2, 3.0)).unwrap();
    let b = store.add("b", DMatrix::from_element(1, 1, 4.0)).unwrap();
    let tape = Tape::with_params(&store);
    // Gradient (6, 6) for a and 8 for b: norm √136.
    let loss = tape.param(a).square().sum() + tape.param(b).square().sum();
    let mut grads = tape.backward(loss);
    let before = grads.clip_norm(1.0);
    assert!((before - 136f64.sqrt()).abs() < 1e-12);
    assert!((grads.norm() - 1.0).abs() < 1e-12);
    assert!((grads.param(b).unwrap()[0] - 8.0 / 136f64.sqrt()).abs() < 1e-12);
}

fn mean_model_fit(
    data: &DMatrix<f64>,
    config: &SviConfig,
) -> Result<elbo::infer::FitReport, Error> {
    let model = GaussianMean::new(1.0).unwrap();
    let d = data.ncols().max(1);
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", d, 0.1).unwrap();
    let svi = Svi::new(model.prior(d).unwrap(), model.likelihood(d).unwrap(), guide);
    svi.fit(
        &mut store,
        data,
        &mut Adam::default(),
        config,
        &mut common::rng(0),
    )
}

#[test]
fn bad_data_and_settings_are_typed_errors() {
    let data = common::normal_matrix(10, 2, 1);
    let ok = SviConfig {
        steps: 5,
        ..SviConfig::default()
    };
    assert!(mean_model_fit(&data, &ok).is_ok());
    assert!(matches!(
        mean_model_fit(&DMatrix::zeros(0, 2), &ok),
        Err(Error::EmptyData { .. })
    ));
    let mut nan = data.clone();
    nan[(3, 1)] = f64::NAN;
    assert!(matches!(
        mean_model_fit(&nan, &ok),
        Err(Error::NonFiniteData { row: 3, col: 1, .. })
    ));
    let wrong_width = common::normal_matrix(10, 3, 1);
    let model = GaussianMean::new(1.0).unwrap();
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 2, 0.1).unwrap();
    let svi = Svi::new(model.prior(2).unwrap(), model.likelihood(2).unwrap(), guide);
    let fit = svi.fit(
        &mut store,
        &wrong_width,
        &mut Adam::default(),
        &ok,
        &mut common::rng(0),
    );
    assert!(matches!(fit, Err(Error::ShapeMismatch { .. })), "{fit:?}");

    let bad = |config: SviConfig| mean_model_fit(&data, &config).unwrap_err();
    assert!(matches!(
        bad(SviConfig {
            steps: 0,
            ..ok.clone()
        }),
        Error::InvalidParameter { name: "steps", .. }
    ));
    assert!(matches!(
        bad(SviConfig {
            trainer: TrainerSettings {
                batch_size: Some(0),
                ..ok.trainer.clone()
            },
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "batch size",
            ..
        }
    ));
    assert!(matches!(
        bad(SviConfig {
            trainer: TrainerSettings {
                batch_size: Some(11),
                ..ok.trainer.clone()
            },
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "batch size",
            ..
        }
    ));
    let zero_particles = Objective {
        particles: 0,
        ..Objective::default()
    };
    assert!(matches!(
        bad(SviConfig {
            objective: zero_particles,
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "particles",
            ..
        }
    ));
    let stl_iwae = Objective {
        estimator: Estimator::Iwae,
        particles: 4,
        gradient: GradientEstimator::PathDerivative,
        kl_weight: 1.0,
    };
    let weighted_iwae = Objective {
        kl_weight: 0.5,
        ..Objective::new(Estimator::Iwae, 4)
    };
    assert!(matches!(
        bad(SviConfig {
            objective: weighted_iwae,
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "KL weight",
            ..
        }
    ));
    let negative_beta = Objective {
        kl_weight: -1.0,
        ..Objective::default()
    };
    assert!(matches!(
        bad(SviConfig {
            objective: negative_beta,
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "KL weight",
            ..
        }
    ));
    assert!(matches!(
        bad(SviConfig {
            objective: stl_iwae,
            ..ok.clone()
        }),
        Error::InvalidParameter { .. }
    ));
    assert!(matches!(
        bad(SviConfig {
            learning_rate: LearningRate::Constant(0.0),
            ..ok.clone()
        }),
        Error::InvalidParameter { .. }
    ));
    assert!(matches!(
        bad(SviConfig {
            clip_norm: Some(-1.0),
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "clip norm",
            ..
        }
    ));
    assert!(matches!(
        bad(SviConfig {
            trainer: TrainerSettings {
                tolerance: Some(0.0),
                ..ok.trainer.clone()
            },
            ..ok.clone()
        }),
        Error::InvalidParameter {
            name: "tolerance",
            ..
        }
    ));

    // Model constructors.
    assert!(matches!(
        StandardNormal::new(0),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        GaussianMean::new(0.0),
        Err(Error::InvalidParameter {
            name: "noise sd",
            ..
        })
    ));
    assert!(matches!(
        LinearRegression::new(f64::INFINITY),
        Err(Error::InvalidParameter { .. })
    ));
    let not_pd = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
    assert!(matches!(
        GaussianLikelihood::new(not_pd.clone()),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        GaussianPrior::new(DVector::zeros(2), not_pd),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        GaussianPrior::<f64>::new(DVector::zeros(3), DMatrix::identity(2, 2)),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut store = ParamStore::<f64>::new();
    assert!(matches!(
        DiagGaussianGuide::new(&mut store, "q", 2, -1.0),
        Err(Error::InvalidParameter { .. })
    ));
    DiagGaussianGuide::new(&mut store, "q", 2, 0.1).unwrap();
    assert!(matches!(
        DiagGaussianGuide::new(&mut store, "q", 2, 0.1),
        Err(Error::Parameter { .. })
    ));
}

#[test]
fn analytic_kl_without_a_closed_form_is_an_error_not_a_panic() {
    // Local diagonal rows against a full-covariance prior have no closed form here.
    let tape = Tape::<f64>::new();
    let q = elbo::dist::Gaussian::Diag(elbo::dist::DiagNormal {
        mean: tape.constant(DMatrix::zeros(3, 2)),
        log_sd: tape.constant(DMatrix::zeros(3, 2)),
    });
    let prior = GaussianPrior::new(DVector::zeros(2), DMatrix::identity(2, 2)).unwrap();
    assert!(elbo::model::VariationalFamily::kl_to_prior(&q, &prior).is_none());
}

#[test]
fn a_diverging_fit_stops_with_an_error_naming_the_culprit_and_keeps_finite_parameters() {
    // A step size of 1e6 with plain SGD overshoots to infinity within a few steps.
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(3, 50, 0.5, &mut common::rng(2)).unwrap();
    let mut store = ParamStore::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 3, 0.1).unwrap();
    let svi = Svi::new(model.prior(3).unwrap(), model.likelihood().unwrap(), guide);
    let config = SviConfig {
        steps: 200,
        learning_rate: LearningRate::Constant(1e6),
        trainer: TrainerSettings {
            max_skipped_in_row: 5,
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    let err = svi
        .fit(
            &mut store,
            &data,
            &mut Sgd::new(0.0).unwrap(),
            &config,
            &mut common::rng(3),
        )
        .unwrap_err();
    match &err {
        Error::Diverged {
            consecutive,
            culprit,
            ..
        } => {
            assert_eq!(*consecutive, 5);
            assert!(
                culprit == "loss" || culprit.starts_with("gradient of parameter `q."),
                "{culprit}"
            );
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert!(err.to_string().contains("lower the learning rate"));
    assert!(
        store
            .ids()
            .all(|id| store.get(id).iter().all(|v| v.is_finite()))
    );
}

#[test]
fn clipping_lets_the_same_fit_recover() {
    let model = GaussianMean::new(1.0).unwrap();
    let (_, data) = model.simulate(2, 50, &mut common::rng(4)).unwrap();
    let exact = model.posterior(&data).unwrap();
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 2, 0.1).unwrap();
    let svi = Svi::new(model.prior(2).unwrap(), model.likelihood(2).unwrap(), guide);
    let config = SviConfig {
        steps: 3000,
        learning_rate: LearningRate::Exponential {
            start: 0.05,
            end: 0.0005,
            steps: 3000,
        },
        clip_norm: Some(10.0),
        ..SviConfig::default()
    };
    let report = svi
        .fit(
            &mut store,
            &data,
            &mut Sgd::new(0.5).unwrap(),
            &config,
            &mut common::rng(5),
        )
        .unwrap();
    assert_eq!(report.skipped, 0);
    let err = (svi.guide.mean(&store) - &exact.mean).abs().max();
    assert!(err < 1e-3, "{err}");
}

#[test]
fn tolerance_stops_a_settled_fit_early_and_same_seed_repeats_exactly() {
    let model = GaussianMean::new(1.0).unwrap();
    let (_, data) = model.simulate(3, 100, &mut common::rng(6)).unwrap();
    let config = SviConfig {
        steps: 20_000,
        trainer: TrainerSettings {
            tolerance: Some(0.01),
            batch_size: Some(25),
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    let run = || {
        let mut store = ParamStore::new();
        let guide = DiagGaussianGuide::new(&mut store, "q", 3, 0.1).unwrap();
        let svi = Svi::new(model.prior(3).unwrap(), model.likelihood(3).unwrap(), guide);
        let report = svi
            .fit(
                &mut store,
                &data,
                &mut Adam::default(),
                &config,
                &mut common::rng(7),
            )
            .unwrap();
        (report, svi.guide.mean(&store))
    };
    let (a, mean_a) = run();
    assert!(
        a.converged && a.steps < 20_000 && a.steps % 100 == 0,
        "{} steps",
        a.steps
    );
    let (b, mean_b) = run();
    assert_eq!(a, b);
    assert_eq!(mean_a, mean_b);
}

#[test]
fn full_rank_guide_round_trips_its_factor() {
    let mut store = ParamStore::<f64>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 4, 0.1).unwrap();
    let l = common::random_tril(4, 9);
    let mean = DVector::from_fn(4, |i, _| i as f64 - 1.5);
    guide.set(&mut store, &mean, &l).unwrap();
    assert!((guide.scale_tril(&store) - &l).abs().max() < 1e-14);
    assert_eq!(guide.mean(&store), mean);
    assert!((guide.covariance(&store) - &l * l.transpose()).abs().max() < 1e-14);
    // What the tape builds is the same factor.
    let tape = Tape::with_params(&store);
    let q = elbo::model::Guide::family(&guide, &tape, tape.constant(DMatrix::zeros(1, 1)));
    match q {
        elbo::dist::Gaussian::Full(g) => assert!((&*g.scale_tril.value() - &l).abs().max() < 1e-14),
        _ => panic!("full-rank guide made a diagonal family"),
    }
    assert!(guide.set(&mut store, &mean, &(-l)).is_err());
}

#[test]
fn csv_reader_reads_good_files_and_names_the_line_and_column_of_bad_ones() {
    let p = Path::new("data.csv");
    let t = parse_csv::<f64>("a, b\n1, 2\n\n3.5,-4e-1\n", p).unwrap();
    assert_eq!(t.header, vec!["a", "b"]);
    assert_eq!(
        t.data,
        DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.5, -0.4])
    );
    let problem = |text: &str| match parse_csv::<f64>(text, p).unwrap_err() {
        Error::Csv { line, problem, .. } => (line, problem),
        other => panic!("{other:?}"),
    };
    assert!(problem("").1.contains("empty"));
    assert!(problem("a,b\n").1.contains("no data rows"));
    let (line, msg) = problem("a,b\n1,2\n3\n");
    assert_eq!(line, 3);
    assert!(
        msg.contains("1 fields") && msg.contains("2 columns"),
        "{msg}"
    );
    let (line, msg) = problem("a,b\n1,x\n");
    assert_eq!(line, 2);
    assert!(
        msg.contains("column 2 (`b`)") && msg.contains("`x`"),
        "{msg}"
    );
    let (_, msg) = problem("a,b\n1,NaN\n");
    assert!(msg.contains("not finite"), "{msg}");
    // A header of numbers is almost always a first data row: warned of, not refused.
    assert!(t.header_warning().is_none());
    let headless = parse_csv::<f64>("1.5, -2\n3, 4\n", p).unwrap();
    let warning = headless
        .header_warning()
        .expect("a numeric header is warned of");
    assert!(
        warning.contains("1.5, -2") && warning.contains("add a header row"),
        "{warning}"
    );
    let mixed = parse_csv::<f64>("x1, 2\n3, 4\n", p).unwrap();
    assert!(mixed.header_warning().is_none());
    let missing = elbo::data::read_csv::<f64>("/no/such/file.csv").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
    assert!(missing.to_string().contains("/no/such/file.csv"));
}

#[test]
fn frozen_parameters_get_no_gradient_and_do_not_move() {
    let mut store = ParamStore::<f64>::new();
    let a = store.add("a", DMatrix::from_element(1, 2, 1.0)).unwrap();
    let b = store.add("b", DMatrix::from_element(1, 2, 2.0)).unwrap();
    store.set_frozen(b, true);
    let grads = {
        let tape = Tape::with_params(&store);
        let loss = (tape.param(a) * tape.param(b)).sum();
        tape.backward(loss)
    };
    assert_eq!(grads.param(a).unwrap().as_slice(), &[2.0, 2.0]);
    assert!(grads.param(b).is_none());
    Adam::default().step(&mut store, &grads, 0.1).unwrap();
    assert_eq!(store.get(b).as_slice(), &[2.0, 2.0]);
    assert!(store.get(a)[0] < 1.0);
    store.set_frozen(b, false);
    assert!(!store.is_frozen(b));
}

#[test]
fn the_laplace_approximation_of_a_gaussian_posterior_is_exact() {
    let model = LinearRegression::new(0.3).unwrap();
    let (_, data) = model.simulate(6, 80, 0.5, &mut common::rng(21)).unwrap();
    // Data in units a thousand times smaller: the answer must not care.
    let data = data.map(|v| 1e3 * v);
    let model = LinearRegression::new(300.0).unwrap();
    let mut store = ParamStore::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 6, 1.0).unwrap();
    let svi = Svi::new(model.prior(6).unwrap(), model.likelihood().unwrap(), guide);
    let laplace = svi.start_at_laplace(&mut store, &data).unwrap();
    let exact = model.posterior(&data).unwrap();
    assert!(laplace.converged);
    assert!((laplace.log_evidence - exact.log_evidence).abs() < 1e-6 * exact.log_evidence.abs());
    let cmp = exact
        .compare(
            &svi.guide.mean(&store),
            &svi.guide.covariance(&store),
            false,
        )
        .unwrap();
    assert!(cmp.kl_to_exact < 1e-8, "{cmp:?}");
}

#[test]
fn a_laplace_start_with_a_bad_precision_is_refused() {
    let mut store = ParamStore::<f64>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 2, 1.0).unwrap();
    let mean = DVector::zeros(2);
    let indefinite = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
    assert!(matches!(
        guide.start_at(&mut store, &mean, &indefinite),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        guide.start_at(&mut store, &mean, &DMatrix::identity(3, 3)),
        Err(Error::ShapeMismatch { .. })
    ));
}
