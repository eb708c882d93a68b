//! Analytic KL divergences: non-negative, zero for equal arguments, and equal to a Monte Carlo
//! estimate within 4 standard errors.

use super::common;

use common::{normal_matrix, random_tril};
use elbo::autodiff::Tape;
use elbo::dist::{DiagNormal, Gaussian, MvNormal, kl_divergence};
use nalgebra::DMatrix;
use proptest::prelude::*;

const DRAWS: usize = 4000;

/// Checks KL(q‖p) ≥ 0, KL(q‖q) = 0 and agreement with the sample mean of log q − log p.
fn check<'t>(q: Gaussian<'t, f64>, p: Gaussian<'t, f64>, seed: u64) -> Result<(), TestCaseError> {
    let kl = kl_divergence(&q, &p).expect("closed form").value();
    let self_kl = kl_divergence(&q, &q).unwrap().value();
    prop_assert!(self_kl.abs().max() < 1e-10, "KL(q‖q) = {self_kl}");
    let mut rng = common::rng(seed);
    for r in 0..q.rows() {
        prop_assert!(kl[r] >= -1e-12, "negative KL {}", kl[r]);
    }
    // One distribution at a time for the Monte Carlo check.
    let z = q.rsample(DRAWS, &mut rng);
    let log_ratio = (q.log_prob(z) - p.log_prob(z)).value();
    let rows = q.rows();
    for r in 0..rows {
        let samples: Vec<f64> = (0..DRAWS).map(|s| log_ratio[s * rows + r]).collect();
        let mean = samples.iter().sum::<f64>() / DRAWS as f64;
        let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (DRAWS - 1) as f64;
        let se = (var / DRAWS as f64).sqrt();
        prop_assert!(
            (kl[r] - mean).abs() <= 4.0 * se + 1e-9,
            "row {r}: analytic {} vs MC {mean} ± {se}",
            kl[r]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config(32))]

    #[test]
    fn diag_against_diag(d in 1usize..5, rows in 1usize..4, seed in any::<u64>()) {
        let tape = Tape::new();
        let diag = |r, s| DiagNormal {
            mean: tape.constant(normal_matrix(r, d, s)),
            log_sd: tape.constant(normal_matrix(r, d, s ^ 7) * 0.4),
        };
        check(Gaussian::Diag(diag(rows, seed)), Gaussian::Diag(diag(rows, seed ^ 1)), seed)?;
        // A single p shared by every row of q.
        check(Gaussian::Diag(diag(rows, seed)), Gaussian::Diag(diag(1, seed ^ 2)), seed)?;
    }

    #[test]
    fn diag_against_standard_normal(d in 1usize..5, rows in 1usize..4, seed in any::<u64>()) {
        let tape = Tape::new();
        let q = DiagNormal {
            mean: tape.constant(normal_matrix(rows, d, seed)),
            log_sd: tape.constant(normal_matrix(rows, d, seed ^ 7) * 0.4),
        };
        let p = Gaussian::Diag(DiagNormal::standard(&tape, d));
        check(Gaussian::Diag(q), p, seed)?;
        // The familiar closed form ½ Σ (σ² + μ² − 1 − ln σ²).
        let kl = kl_divergence(&Gaussian::Diag(q), &p).unwrap().value();
        let (m, s) = (q.mean.value(), q.log_sd.value());
        for r in 0..rows {
            let want: f64 = (0..d).map(|j| 0.5 * ((2.0 * s[(r, j)]).exp() + m[(r, j)].powi(2) - 1.0 - 2.0 * s[(r, j)])).sum();
            prop_assert!((kl[r] - want).abs() < 1e-12 * (1.0 + want));
        }
    }

    #[test]
    fn full_against_full(d in 1usize..5, seed in any::<u64>()) {
        let tape = Tape::new();
        let full = |s| MvNormal { mean: tape.constant(normal_matrix(1, d, s)), scale_tril: tape.constant(random_tril(d, s ^ 3)) };
        check(Gaussian::Full(full(seed)), Gaussian::Full(full(seed ^ 1)), seed)?;
    }

    #[test]
    fn diag_against_full_agrees_with_the_diag_formula(d in 1usize..5, seed in any::<u64>()) {
        // A full-covariance p with a diagonal factor must give the diag-diag answer.
        let tape = Tape::new();
        let q = DiagNormal { mean: tape.constant(normal_matrix(1, d, seed)), log_sd: tape.constant(normal_matrix(1, d, seed ^ 1) * 0.3) };
        let p_log_sd = normal_matrix(1, d, seed ^ 2) * 0.3;
        let p_mean = normal_matrix(1, d, seed ^ 3);
        let p_diag = DiagNormal { mean: tape.constant(p_mean.clone()), log_sd: tape.constant(p_log_sd.clone()) };
        let p_full = MvNormal {
            mean: tape.constant(p_mean),
            scale_tril: tape.constant(DMatrix::from_diagonal(&p_log_sd.row(0).transpose().map(f64::exp))),
        };
        let a = kl_divergence(&Gaussian::Diag(q), &Gaussian::Diag(p_diag)).unwrap().scalar();
        let b = kl_divergence(&Gaussian::Diag(q), &Gaussian::Full(p_full)).unwrap().scalar();
        prop_assert!((a - b).abs() < 1e-10 * (1.0 + a));
    }
}
