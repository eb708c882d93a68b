//! PCA, probabilistic PCA and factor analysis in closed form, and the linear VAE that must
//! reach them by SGVB.

use super::common;

use elbo::Error;
use elbo::engine::TrainerSettings;
use elbo::infer::SviConfig;
use elbo::optim::LearningRate;
use elbo::reduction::{FactorAnalysis, Pca, Ppca, largest_principal_angle};
use elbo::vae::{LinearVae, LinearVaeStart};
use nalgebra::DMatrix;
use statrs::distribution::{Continuous, MultivariateNormal, Normal};

/// n rows of x = W z + μ + noise with loadings of clearly separated scales (a spectral gap).
fn linear_gaussian_data(n: usize, d: usize, q: usize, noise_sd: f64, seed: u64) -> DMatrix<f64> {
    let scales = [3.0, 2.0, 1.5, 1.2];
    let w = DMatrix::from_fn(d, q, |i, j| {
        common::normal_matrix(d, q, seed)[(i, j)] * scales[j % 4]
    });
    let z = common::normal_matrix(n, q, seed ^ 1);
    let noise = common::normal_matrix(n, d, seed ^ 2) * noise_sd;
    let mut x = &z * w.transpose() + noise;
    for (j, mut col) in x.column_iter_mut().enumerate() {
        col.add_scalar_mut(0.1 * j as f64);
    }
    x
}

#[test]
fn pca_reproduces_a_hand_checked_table() {
    // Five 2-D points; covariance [[2, 0.4], [0.4, 0.8]], leading eigenvalue (2.8 + √2.08) / 2.
    let x = DMatrix::from_row_slice(
        5,
        2,
        &[-2.0, -1.0, -1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 2.0, 1.0],
    );
    let pca = Pca::fit(&x, 1).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-5;
    assert!(
        close(pca.components[(0, 0)], 0.957092) && close(pca.components[(1, 0)], 0.289785),
        "{}",
        pca.components
    );
    assert!(close(pca.variances[0], 2.121110));
    assert!(close(pca.explained_variance_ratio()[0], 0.757540));
    let codes = pca.encode(&x);
    for (got, want) in codes
        .iter()
        .zip([-2.203969, -0.667307, 0.0, 0.667307, 2.203969])
    {
        assert!(close(*got, want), "{codes}");
    }
    let back = pca.reconstruct(&x);
    assert!(
        close(back[(1, 0)], -0.638673) && close(back[(1, 1)], -0.193377),
        "{back}"
    );
    // With as many components as columns nothing is lost.
    assert!((Pca::fit(&x, 2).unwrap().reconstruct(&x) - &x).abs().max() < 1e-12);
}

#[test]
fn ppca_log_likelihood_is_the_gaussian_marginal_density() {
    let x = linear_gaussian_data(50, 5, 2, 0.3, 1);
    let ppca = Ppca::fit(&x, 2).unwrap();
    let cov =
        &ppca.loadings * ppca.loadings.transpose() + DMatrix::identity(5, 5) * ppca.noise_variance;
    assert!((ppca.covariance() - &cov).abs().max() < 1e-12);
    let mvn =
        MultivariateNormal::new(ppca.mean.as_slice().to_vec(), cov.as_slice().to_vec()).unwrap();
    let want = x
        .row_iter()
        .map(|r| mvn.ln_pdf(&r.transpose()))
        .sum::<f64>()
        / 50.0;
    let got = ppca.log_likelihood(&x).unwrap();
    assert!((got - want).abs() < 1e-10, "{got} vs {want}");
}

#[test]
fn ppca_is_the_maximum_likelihood_fit() {
    // Any small change of W or σ² lowers the likelihood.
    let x = linear_gaussian_data(200, 6, 2, 0.4, 2);
    let ppca = Ppca::fit(&x, 2).unwrap();
    let best = ppca.log_likelihood(&x).unwrap();
    for k in 0..8 {
        let mut other = ppca.clone();
        let bump = common::normal_matrix(6, 2, 10 + k) * 0.02;
        other.loadings += bump;
        other.noise_variance *= 1.0 + 0.02 * (k as f64 - 3.5);
        assert!(other.log_likelihood(&x).unwrap() < best);
    }
}

#[test]
fn ppca_posterior_matches_bayes_rule_on_a_grid() {
    // One latent dimension: p(z | x) ∝ p(z) p(x | z) evaluated on a fine grid.
    let x = linear_gaussian_data(30, 3, 1, 0.5, 3);
    let ppca = Ppca::fit(&x, 1).unwrap();
    let (means, cov) = ppca.posterior(&x);
    let sd = ppca.noise_variance.sqrt();
    let n01 = Normal::new(0.0, 1.0).unwrap();
    let grid: Vec<f64> = (0..8001).map(|k| -8.0 + k as f64 * 0.002).collect();
    for i in 0..5 {
        let log_post: Vec<f64> = grid
            .iter()
            .map(|&z| {
                let lik: f64 = (0..3)
                    .map(|j| {
                        Normal::new(ppca.mean[j] + ppca.loadings[(j, 0)] * z, sd)
                            .unwrap()
                            .ln_pdf(x[(i, j)])
                    })
                    .sum();
                n01.ln_pdf(z) + lik
            })
            .collect();
        let top = log_post.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = log_post.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mean = grid.iter().zip(&weights).map(|(z, w)| z * w).sum::<f64>() / total;
        let var = grid
            .iter()
            .zip(&weights)
            .map(|(z, w)| (z - mean).powi(2) * w)
            .sum::<f64>()
            / total;
        assert!(
            (means[(i, 0)] - mean).abs() < 1e-6,
            "row {i}: {} vs {mean}",
            means[(i, 0)]
        );
        assert!(
            (cov[(0, 0)] - var).abs() < 1e-6,
            "row {i}: {} vs {var}",
            cov[(0, 0)]
        );
    }
}

#[test]
fn factor_analysis_em_never_lowers_the_likelihood_and_beats_ppca() {
    // Noise of different size per column: what factor analysis models and PPCA cannot.
    let mut x = linear_gaussian_data(300, 6, 2, 0.2, 4);
    let extra = common::normal_matrix(300, 6, 5);
    for (j, mut col) in x.column_iter_mut().enumerate() {
        col.axpy(0.3 * j as f64, &extra.column(j), 1.0);
    }
    let fit = FactorAnalysis::fit(&x, 2, 300, 1e-10).unwrap();
    for pair in fit.log_likelihoods.windows(2) {
        assert!(
            pair[1] >= pair[0] - 1e-9,
            "EM lowered the likelihood: {pair:?}"
        );
    }
    let final_ll = *fit.log_likelihoods.last().unwrap();
    assert!((fit.model.log_likelihood(&x).unwrap() - final_ll).abs() < 1e-12);
    assert!(final_ll > Ppca::fit(&x, 2).unwrap().log_likelihood(&x).unwrap() + 0.1);
    // Its posterior is Bayes' rule for the fitted model: the precision identity holds.
    let (_, g) = fit.model.posterior(&x);
    let psi_inv = DMatrix::from_diagonal(&fit.model.noise.map(|v| 1.0 / v));
    let precision =
        DMatrix::identity(2, 2) + fit.model.loadings.transpose() * psi_inv * &fit.model.loadings;
    assert!((g * precision - DMatrix::identity(2, 2)).abs().max() < 1e-9);
}

#[test]
fn linear_vae_reaches_the_closed_form_likelihood_and_subspace_from_a_random_start() {
    let x = linear_gaussian_data(1000, 10, 3, 0.3, 6);
    let ppca = Ppca::fit(&x, 3).unwrap();
    let exact = ppca.log_likelihood(&x).unwrap();
    let mut rng = common::rng(7);
    let mut vae = LinearVae::with_start(10, 3, LinearVaeStart::Random, &mut rng).unwrap();
    let steps = 20_000;
    let config = SviConfig {
        steps,
        learning_rate: LearningRate::Exponential {
            start: 0.05,
            end: 5e-4,
            steps,
        },
        trainer: TrainerSettings {
            batch_size: Some(100),
            average_from: Some(steps / 2),
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    vae.fit(&x, &config, &mut rng).unwrap();
    let elbo = vae.exact_elbo(&x);
    // The generic Monte Carlo estimator agrees with the exact value.
    let estimate = vae.elbo(&x, 200, &mut rng).unwrap();
    assert!(
        (estimate - elbo).abs() < 0.01,
        "estimate {estimate} vs exact {elbo}"
    );
    let angle = largest_principal_angle(&vae.loadings(), &ppca.loadings);
    assert!(
        exact - elbo < 0.05 && exact - elbo > -0.01,
        "ELBO {elbo} vs exact {exact}"
    );
    assert!(angle <= 2.0, "{angle}°");
    assert!((vae.noise_variance() / ppca.noise_variance - 1.0).abs() < 0.02);
    assert!(vae.iwae(&x, 100, &mut rng).unwrap() >= elbo - 0.002);
    // The encoder is as good as a free Gaussian per point (the exact posterior is reachable).
    let local = SviConfig {
        steps: 1000,
        learning_rate: LearningRate::Exponential {
            start: 0.01,
            end: 1e-4,
            steps: 1000,
        },
        trainer: TrainerSettings {
            average_from: Some(500),
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    let gap = vae.amortization_gap(&x, &local, &mut rng).unwrap();
    assert!((-1e-3..0.02).contains(&gap), "amortization gap {gap}");
}

#[test]
fn subspace_angles_and_invalid_settings() {
    let a = DMatrix::from_row_slice(3, 1, &[1.0, 0.0, 0.0]);
    let b = DMatrix::from_row_slice(3, 1, &[1.0, 1.0, 0.0]);
    assert!((largest_principal_angle(&a, &b) - 45.0).abs() < 1e-9);
    assert!(largest_principal_angle(&b, &(b.clone() * -3.0)) < 1e-6);
    let x = linear_gaussian_data(10, 3, 1, 0.1, 8);
    assert!(matches!(
        Ppca::fit(&x, 3),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Pca::fit(&x, 0),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Pca::fit(&x, 4),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Ppca::fit(&DMatrix::zeros(1, 3), 1),
        Err(Error::EmptyData { .. })
    ));
    let mut nan = x.clone();
    nan[(2, 1)] = f64::NAN;
    assert!(matches!(
        FactorAnalysis::fit(&nan, 1, 10, 1e-6),
        Err(Error::NonFiniteData { .. })
    ));
    // Data in a 1-D subspace leave PPCA no noise to fit: a clear error.
    let flat = DMatrix::from_fn(6, 2, |i, j| (i as f64) * (j as f64 + 1.0));
    assert!(matches!(
        Ppca::fit(&flat, 1),
        Err(Error::NotPositiveDefinite { .. })
    ));
}

#[test]
fn linear_vae_from_the_principal_axes_converges_to_ppca_on_low_noise_factors_of_mixed_sizes() {
    // Factors 0.1, 1 and 10 in size under noise of variance 0.01, in 20 offset columns: from a
    // random start the codes drift along the scale valley and the ELBO stays 0.7 nats short.
    let (n, d, q) = (1000, 20, 3);
    let w = common::normal_matrix(d, q, 31).map_with_location(|_, j, v| v * [0.1, 1.0, 10.0][j]);
    let z = common::normal_matrix(n, q, 32);
    let x = (&z * w.transpose() + common::normal_matrix(n, d, 33) * 0.1)
        .map_with_location(|_, j, v| v + 3.0 - 0.4 * j as f64);
    let ppca = Ppca::fit(&x, q).unwrap();
    let exact = ppca.log_likelihood(&x).unwrap();
    let mut rng = common::rng(34);
    let mut vae = LinearVae::new(d, q, &mut rng).unwrap();
    let steps = 20_000;
    let config = SviConfig {
        steps,
        learning_rate: LearningRate::Exponential {
            start: 1e-3,
            end: 1e-5,
            steps,
        },
        trainer: TrainerSettings {
            batch_size: Some(100),
            average_from: Some(steps / 2),
            parameter_tolerance: None,
            ..SviConfig::default().trainer
        },
        ..SviConfig::default()
    };
    let fit = vae.fit(&x, &config, &mut rng).unwrap();
    assert!(fit.converged, "ran out of {} steps", fit.steps);
    let gap = exact - vae.exact_elbo(&x);
    assert!((-0.01..0.05).contains(&gap), "gap {gap} nats per row");
    let angle = largest_principal_angle(&vae.loadings(), &ppca.loadings);
    assert!(angle <= 2.0, "{angle}°");
    assert!((vae.noise_variance() / ppca.noise_variance - 1.0).abs() < 0.05);
}
