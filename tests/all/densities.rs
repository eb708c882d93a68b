//! The tape's log densities against statrs, over random inputs.

use super::common;

use common::{normal_matrix, random_tril, row};
use elbo::autodiff::Tape;
use elbo::dist::{DiagNormal, MvNormal};
use elbo::model::Prior;
use elbo::prior::{GaussianPrior, StandardNormal};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use statrs::distribution::{Continuous, MultivariateNormal, Normal};

proptest! {
    #![proptest_config(common::proptest_config(64))]

    #[test]
    fn diagonal_normal_matches_statrs(d in 1usize..6, n in 1usize..5, seed in any::<u64>()) {
        let mean = normal_matrix(1, d, seed);
        let log_sd = normal_matrix(1, d, seed ^ 1) * 0.5;
        let z = normal_matrix(n, d, seed ^ 2) * 2.0;
        let tape = Tape::new();
        let q = DiagNormal { mean: tape.constant(mean.clone()), log_sd: tape.constant(log_sd.clone()) };
        let got = q.log_prob(tape.constant(z.clone())).value();
        for i in 0..n {
            let want: f64 = (0..d)
                .map(|j| Normal::new(mean[j], log_sd[j].exp()).unwrap().ln_pdf(z[(i, j)]))
                .sum();
            prop_assert!((got[i] - want).abs() < 1e-10 * (1.0 + want.abs()), "{} vs {}", got[i], want);
        }
    }

    #[test]
    fn full_covariance_normal_matches_statrs(d in 1usize..6, n in 1usize..5, seed in any::<u64>()) {
        let mean = normal_matrix(1, d, seed);
        let l = random_tril(d, seed ^ 1);
        let cov = &l * l.transpose();
        let z = normal_matrix(n, d, seed ^ 2) * 2.0;
        let tape = Tape::new();
        let q = MvNormal { mean: tape.constant(mean.clone()), scale_tril: tape.constant(l) };
        let got = q.log_prob(tape.constant(z.clone())).value();
        let reference = MultivariateNormal::new(mean.as_slice().to_vec(), cov.transpose().as_slice().to_vec()).unwrap();
        for i in 0..n {
            let want = reference.ln_pdf(&DVector::from_iterator(d, z.row(i).iter().copied()));
            prop_assert!((got[i] - want).abs() < 1e-9 * (1.0 + want.abs()), "{} vs {}", got[i], want);
        }
        // The prior type built from a covariance agrees too.
        let prior = GaussianPrior::new(DVector::from_column_slice(mean.as_slice()), cov).unwrap();
        let via_prior = prior.log_prob(tape.constant(z)).value();
        prop_assert!((&*via_prior - &*got).abs().max() < 1e-9);
    }

    #[test]
    fn standard_normal_prior_matches_statrs(d in 1usize..6, seed in any::<u64>()) {
        let z = normal_matrix(1, d, seed);
        let tape = Tape::new();
        let got = Prior::<f64>::log_prob(&StandardNormal::new(d).unwrap(), tape.constant(z.clone())).scalar();
        let n01 = Normal::new(0.0, 1.0).unwrap();
        let want: f64 = z.iter().map(|&v| n01.ln_pdf(v)).sum();
        prop_assert!((got - want).abs() < 1e-10 * (1.0 + want.abs()));
    }

    #[test]
    fn entropies_match_the_sample_average_of_minus_log_density(d in 1usize..4, seed in any::<u64>()) {
        let l = random_tril(d, seed);
        let tape = Tape::new();
        let q = MvNormal { mean: tape.constant(row(&DVector::zeros(d))), scale_tril: tape.constant(l) };
        let mut rng = common::rng(seed);
        let n = 20_000;
        let lp = q.log_prob(q.rsample(n, &mut rng)).value();
        let mean = -lp.mean();
        let se = lp.map(|v| (v + mean).powi(2)).sum().sqrt() / n as f64;
        prop_assert!((q.entropy().scalar() - mean).abs() < 4.0 * se + 1e-12, "{} vs {mean} ± {se}", q.entropy().scalar());
    }
}

#[test]
fn diagonal_normal_draws_have_the_right_moments() {
    let tape = Tape::new();
    let mean = DMatrix::from_row_slice(1, 2, &[1.0, -2.0]);
    let log_sd = DMatrix::from_row_slice(1, 2, &[0.0, (0.5f64).ln()]);
    let q = DiagNormal {
        mean: tape.constant(mean),
        log_sd: tape.constant(log_sd),
    };
    let n = 40_000;
    let z = q.rsample(n, &mut common::rng(3)).value();
    for (j, (m, s)) in [(1.0, 1.0), (-2.0, 0.5)].into_iter().enumerate() {
        let col = z.column(j);
        let got_mean = col.mean();
        let got_sd = col.variance().sqrt();
        // 4 standard errors of the mean and of the sd (≈ s / sqrt(2n)).
        assert!(
            (got_mean - m).abs() < 4.0 * s / (n as f64).sqrt(),
            "{got_mean}"
        );
        assert!(
            (got_sd - s).abs() < 4.0 * s / (2.0 * n as f64).sqrt(),
            "{got_sd}"
        );
    }
}

#[test]
#[should_panic(expected = "DiagNormal::log_prob: shapes 1x1 and 4x8 differ in dimension")]
fn a_density_scored_against_points_of_another_width_panics_naming_both_shapes() {
    let tape = elbo::autodiff::Tape::<f64>::new();
    // One column of mean and log sd against eight-column points: broadcasting would have used
    // dimension 1 in the normalising constant and reported an ELBO above the evidence.
    let q = elbo::dist::DiagNormal {
        mean: tape.constant(nalgebra::DMatrix::zeros(1, 1)),
        log_sd: tape.constant(nalgebra::DMatrix::zeros(1, 1)),
    };
    q.log_prob(tape.constant(nalgebra::DMatrix::zeros(4, 8)));
}

#[test]
#[should_panic(expected = "MvNormal::log_prob: a mean of 1x3 needs a 3x3 scale_tril, got 2x2")]
fn a_full_gaussian_with_a_factor_of_another_size_panics() {
    let tape = elbo::autodiff::Tape::<f64>::new();
    let p = elbo::dist::MvNormal {
        mean: tape.constant(nalgebra::DMatrix::zeros(1, 3)),
        scale_tril: tape.constant(nalgebra::DMatrix::identity(2, 2)),
    };
    p.log_prob(tape.constant(nalgebra::DMatrix::zeros(4, 3)));
}
