//! Pareto-smoothed importance sampling: k̂ against known tail shapes, and the estimates.

use super::common;

use elbo::infer::Psis;
use rand::RngExt;

/// Log weights whose weights are exactly generalized-Pareto with shape k (σ = 1).
fn pareto_log_weights(k: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = common::rng(seed);
    (0..n)
        .map(|_| {
            let u: f64 = rng.random::<f64>();
            ((1.0 - u).powf(-k) - 1.0) / k
        })
        .map(|w: f64| (1.0 + w).ln())
        .collect()
}

#[test]
fn khat_recovers_the_tail_shape_of_pareto_weights() {
    // 20,000 draws leave M = 425 in the tail; the estimate's sd there is about (1 + k)/√M ≈
    // 0.07, so 0.2 is about three of them.
    for k in [0.2, 0.5, 0.9] {
        let psis = Psis::new(&pareto_log_weights(k, 20_000, 1)).unwrap();
        assert!((psis.khat - k).abs() < 0.2, "k = {k}: k̂ = {}", psis.khat);
    }
}

#[test]
fn khat_reads_a_proposal_narrower_than_the_target() {
    // q = N(0, 1) against p = N(0, s²) in 2 dimensions: the weights' tail has k = 1 − 1/s²,
    // 0.09 for s = 1.05 and 0.89 for s = 3.
    let mut rng = common::rng(2);
    let verdicts: Vec<&str> = [1.05, 3.0]
        .iter()
        .map(|&s: &f64| {
            let lw: Vec<f64> = (0..10_000)
                .map(|_| {
                    let r2: f64 = (0..2)
                        .map(|_| <f64 as elbo::Real>::standard_normal(&mut rng).powi(2))
                        .sum();
                    -0.5 * r2 / (s * s) - 2.0 * s.ln() + 0.5 * r2
                })
                .collect();
            Psis::new(&lw).unwrap().verdict()
        })
        .collect();
    assert_eq!(verdicts, ["good", "bad"]);
}

#[test]
fn equal_weights_give_the_plain_average_and_the_exact_evidence() {
    let psis = Psis::new(&[-3.0; 100]).unwrap();
    assert!((psis.log_mean_weight + 3.0).abs() < 1e-12);
    let values: Vec<f64> = (0..100).map(f64::from).collect();
    assert!((psis.expectation(values) - 49.5).abs() < 1e-9);
}

#[test]
fn bad_weights_are_refused() {
    assert!(Psis::new(&[0.0; 4]).is_err());
    assert!(Psis::new(&[0.0, 1.0, f64::NAN, 0.0, 0.0]).is_err());
    assert!(Psis::new(&[f64::NEG_INFINITY; 10]).is_err());
}
