//! The identities that tie the bounds to the exact evidence of the conjugate models.

use super::common;

use common::{mean_and_se, normal_matrix, random_tril, set_diag, set_full};
use elbo::ParamStore;
use elbo::autodiff::{GradCheck, Tape, check_param_gradients};
use elbo::conjugate::{GaussianMean, GaussianPosterior, LinearRegression};
use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::infer::{Estimator, Objective, Svi};
use elbo::likelihood::LinearRegressionLikelihood;
use elbo::model::Guide;
use elbo::prior::StandardNormal;
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use statrs::distribution::{Continuous, MultivariateNormal};

fn elbo(particles: usize) -> Objective {
    Objective::new(Estimator::Elbo, particles)
}

/// A regression of `n` rows and `p` features, its exact posterior, and an `Svi` whose
/// full-rank guide is set to the (mean, covariance) that `q` picks given the posterior.
struct Regression {
    data: DMatrix<f64>,
    exact: GaussianPosterior,
    store: ParamStore<f64>,
    svi: Svi<StandardNormal, LinearRegressionLikelihood<f64>, FullRankGaussianGuide>,
}

fn regression(
    p: usize,
    n: usize,
    rng: &mut rand_pcg::Pcg64,
    q: impl FnOnce(&GaussianPosterior) -> (DVector<f64>, DMatrix<f64>),
) -> Regression {
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(p, n, 0.5, rng).unwrap();
    let exact = model.posterior(&data).unwrap();
    let (mean, cov) = q(&exact);
    let mut store = ParamStore::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", p, 0.1).unwrap();
    set_full(&mut store, &guide, &mean, &cov);
    let svi = Svi::new(model.prior(p).unwrap(), model.likelihood().unwrap(), guide);
    Regression {
        data,
        exact,
        store,
        svi,
    }
}

#[test]
fn at_the_exact_posterior_every_elbo_and_iwae_estimate_equals_the_evidence() {
    // Linear regression with a full-rank q and the Gaussian mean with both families.
    let mut rng = common::rng(1);
    let Regression {
        data,
        exact,
        store,
        svi,
    } = regression(4, 30, &mut rng, |e| (e.mean.clone(), e.covariance.clone()));
    for objective in [elbo(1), elbo(7), Objective::new(Estimator::Iwae, 5)] {
        for _ in 0..20 {
            let got = svi.evaluate(&store, &data, &objective, &mut rng).unwrap();
            assert!(
                (got - exact.log_evidence).abs() < 1e-8,
                "{objective:?}: {got} vs {}",
                exact.log_evidence
            );
        }
    }

    let mean = GaussianMean::new(0.7).unwrap();
    let (_, data) = mean.simulate(3, 12, &mut rng).unwrap();
    let exact = mean.posterior(&data).unwrap();
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 3, 0.1).unwrap();
    set_diag(&mut store, &guide, &exact.mean, &exact.sd());
    let svi = Svi::new(mean.prior(3).unwrap(), mean.likelihood(3).unwrap(), guide);
    for objective in [elbo(1), elbo(3), Objective::new(Estimator::Iwae, 9)] {
        for _ in 0..20 {
            let got = svi.evaluate(&store, &data, &objective, &mut rng).unwrap();
            assert!(
                (got - exact.log_evidence).abs() < 1e-8,
                "{objective:?}: {got} vs {}",
                exact.log_evidence
            );
        }
    }
}

#[test]
fn exact_evidence_matches_the_marginal_density_computed_directly() {
    // Gaussian mean: vec(x) ~ N(0, s² I + 1 1ᵀ ⊗ I_d), coordinate blocks independent.
    let mut rng = common::rng(2);
    let (s, d, n) = (0.8, 2, 5);
    let model = GaussianMean::new(s).unwrap();
    let (_, x) = model.simulate(d, n, &mut rng).unwrap();
    let cov = DMatrix::from_fn(n, n, |i, j| if i == j { s * s + 1.0 } else { 1.0 });
    let marginal = MultivariateNormal::new(vec![0.0; n], cov.as_slice().to_vec()).unwrap();
    let want: f64 = (0..d)
        .map(|j| marginal.ln_pdf(&x.column(j).into_owned()))
        .sum();
    let got = model.posterior(&x).unwrap().log_evidence;
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");

    // Linear regression: y ~ N(0, X Xᵀ + s² I).
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(3, 8, 0.5, &mut rng).unwrap();
    let x = data.columns(0, 3);
    let cov = x * x.transpose() + DMatrix::identity(8, 8) * 0.25;
    let marginal = MultivariateNormal::new(vec![0.0; 8], cov.as_slice().to_vec()).unwrap();
    let want = marginal.ln_pdf(&data.column(3).into_owned());
    let got = model.posterior(&data).unwrap().log_evidence;
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");
}

/// A random full-rank q near the posterior of a small regression, as (mean, covariance).
fn random_q(exact_mean: &DVector<f64>, seed: u64) -> (DVector<f64>, DMatrix<f64>) {
    let d = exact_mean.len();
    let shift = normal_matrix(d, 1, seed).column(0).into_owned() * 0.1;
    let l = random_tril(d, seed ^ 5) * 0.1;
    (exact_mean + shift, &l * l.transpose())
}

proptest! {
    #![proptest_config(common::proptest_config(12))]

    #[test]
    fn elbo_is_below_the_evidence_by_exactly_kl_to_the_posterior(seed in any::<u64>()) {
        let mut rng = common::rng(seed);
        let Regression { data, exact, store, svi } = regression(3, 20, &mut rng, |e| random_q(&e.mean, seed));
        let (q_mean, q_cov) = random_q(&exact.mean, seed);
        let draws: Vec<f64> = (0..2000).map(|_| svi.evaluate(&store, &data, &elbo(1), &mut rng).unwrap()).collect();
        let (estimate, se) = mean_and_se(&draws);
        let kl = exact.kl_from(&q_mean, &q_cov).unwrap();
        prop_assert!(estimate <= exact.log_evidence + 4.0 * se, "ELBO {estimate} ± {se} above log p(x) {}", exact.log_evidence);
        let gap = exact.log_evidence - estimate;
        prop_assert!((gap - kl).abs() <= 4.0 * se + 1e-9, "gap {gap} vs KL {kl} ± {se}");
    }

    #[test]
    fn analytic_kl_and_entropy_forms_estimate_the_same_elbo(seed in any::<u64>()) {
        let mut rng = common::rng(seed);
        let model = GaussianMean::new(1.0).unwrap();
        let (_, data) = model.simulate(2, 10, &mut rng).unwrap();
        let exact = model.posterior(&data).unwrap();
        let mut store = ParamStore::new();
        let guide = DiagGaussianGuide::new(&mut store, "q", 2, 0.1).unwrap();
        let sd = exact.sd().map(|s| s * 1.7);
        set_diag(&mut store, &guide, &(exact.mean.clone() + DVector::from_element(2, 0.2)), &sd);
        let svi = Svi::new(model.prior(2).unwrap(), model.likelihood(2).unwrap(), guide);
        let mut means = Vec::new();
        for estimator in [Estimator::Elbo, Estimator::ElboAnalyticKl, Estimator::ElboAnalyticEntropy] {
            let draws: Vec<f64> = (0..1000).map(|_| svi.evaluate(&store, &data, &Objective::new(estimator, 1), &mut rng).unwrap()).collect();
            means.push(mean_and_se(&draws));
        }
        for &(m, se) in &means[1..] {
            let (m0, se0) = means[0];
            prop_assert!((m - m0).abs() <= 4.0 * (se * se + se0 * se0).sqrt(), "{means:?}");
        }
    }
}

#[test]
fn iwae_rises_with_k_towards_the_evidence() {
    let mut rng = common::rng(4);
    let Regression {
        data,
        exact,
        store,
        svi,
    } = regression(3, 20, &mut rng, |e| random_q(&e.mean, 4));
    let (q_mean, q_cov) = random_q(&exact.mean, 4);
    let kl = exact.kl_from(&q_mean, &q_cov).unwrap();
    let mut previous = (f64::NEG_INFINITY, 0.0);
    for k in [1, 10, 100, 1000] {
        let draws: Vec<f64> = (0..200)
            .map(|_| {
                svi.evaluate(&store, &data, &Objective::new(Estimator::Iwae, k), &mut rng)
                    .unwrap()
            })
            .collect();
        let (m, se) = mean_and_se(&draws);
        assert!(
            m + 4.0 * se >= previous.0 - 4.0 * previous.1,
            "K = {k}: {m} ± {se} below {previous:?}"
        );
        assert!(
            m <= exact.log_evidence + 4.0 * se,
            "K = {k}: {m} above log p(x)"
        );
        previous = (m, se);
    }
    // K = 1 is the ELBO, KL(q‖p) below log p(x); 1000 importance samples close most of that gap.
    let gap = exact.log_evidence - previous.0;
    assert!(gap < 0.2 * kl, "gap {gap} with K = 1000 vs {kl} with K = 1");
}

#[test]
fn minibatch_estimates_average_to_the_full_data_estimate() {
    let mut rng = common::rng(5);
    let model = GaussianMean::new(1.0).unwrap();
    let (_, data) = model.simulate(2, 40, &mut rng).unwrap();
    let exact = model.posterior(&data).unwrap();
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 2, 0.1).unwrap();
    set_diag(&mut store, &guide, &exact.mean, &exact.sd());
    let svi = Svi::new(model.prior(2).unwrap(), model.likelihood(2).unwrap(), guide);
    // Every batch of 8 rows, scaled by N/B = 5, estimates the full-data ELBO (= log p(x) here).
    let draws: Vec<f64> = (0..4000)
        .map(|k| {
            let rows: Vec<usize> = (0..8).map(|i| (k * 8 + i) % 40).collect();
            let batch = data.select_rows(&rows);
            let tape = Tape::with_params(&store);
            let x = tape.constant(batch);
            let q = svi.guide.family(&tape, x);
            elbo(1)
                .estimate(&svi.prior, &svi.likelihood, &q, x, 5.0, &mut rng)
                .unwrap()
                .scalar()
        })
        .collect();
    let (m, se) = mean_and_se(&draws);
    assert!(
        (m - exact.log_evidence).abs() < 4.0 * se,
        "{m} ± {se} vs {}",
        exact.log_evidence
    );
}

#[test]
fn gradients_of_every_estimator_match_finite_differences() {
    let mut rng = common::rng(6);
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(3, 10, 0.5, &mut rng).unwrap();
    let exact = model.posterior(&data).unwrap();
    let (q_mean, q_cov) = random_q(&exact.mean, 6);
    for estimator in [
        Estimator::Elbo,
        Estimator::ElboAnalyticKl,
        Estimator::ElboAnalyticEntropy,
        Estimator::Iwae,
    ] {
        let objective = Objective::new(estimator, 3);
        let mut store = ParamStore::new();
        let full = FullRankGaussianGuide::new(&mut store, "full", 3, 0.1).unwrap();
        set_full(&mut store, &full, &q_mean, &q_cov);
        let diag = DiagGaussianGuide::new(&mut store, "diag", 3, 0.1).unwrap();
        set_diag(&mut store, &diag, &q_mean, &q_cov.diagonal().map(f64::sqrt));
        let (prior, likelihood) = (model.prior(3).unwrap(), model.likelihood::<f64>().unwrap());
        let report = check_param_gradients(&store, GradCheck::default(), |tape| {
            // The same draws at every evaluation: the generator is seeded inside.
            let mut rng = common::rng(7);
            let x = tape.constant(data.clone());
            let a = objective
                .estimate(&prior, &likelihood, &full.family(tape, x), x, 1.0, &mut rng)
                .unwrap();
            let b = objective
                .estimate(&prior, &likelihood, &diag.family(tape, x), x, 1.0, &mut rng)
                .unwrap();
            (a + b).sum()
        });
        assert!(report.passed(1e-5), "{estimator:?}: {report:?}");
    }
}
