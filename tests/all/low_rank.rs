//! The low-rank-plus-diagonal Gaussian against the dense formula, and its gradients.

use super::common;

use elbo::autodiff::{GradCheck, Tape, check_gradients};
use elbo::dist::{LowRankNormal, MvNormal};
use nalgebra::DMatrix;

#[test]
fn low_rank_density_and_entropy_match_the_dense_gaussian() {
    for (d, r) in [(1, 1), (4, 1), (5, 3), (6, 6)] {
        let tape = Tape::<f64>::new();
        let mean = common::normal_matrix(1, d, 1);
        let factor = common::normal_matrix(d, r, 2);
        let log_sd = common::normal_matrix(1, d, 3).map(|v| 0.3 * v);
        let q = LowRankNormal {
            mean: tape.constant(mean.clone()),
            factor: tape.constant(factor),
            log_sd: tape.constant(log_sd),
        };
        let sigma = q.covariance();
        let dense = MvNormal::new(
            tape.constant(mean),
            tape.constant(sigma.cholesky().unwrap().l()),
        )
        .unwrap();
        let z = tape.constant(common::normal_matrix(7, d, 4));
        let (low, full) = (q.log_prob(z).value(), dense.log_prob(z).value());
        assert!(
            (&*low - &*full).abs().max() < 1e-10,
            "d {d} r {r}: {low} vs {full}"
        );
        let entropy = (q.entropy().scalar() - dense.entropy().scalar()).abs();
        assert!(entropy < 1e-10, "d {d} r {r}: entropy off by {entropy}");
    }
}

#[test]
fn low_rank_gradients_match_finite_differences() {
    let inputs = [
        common::normal_matrix(1, 4, 5),
        common::normal_matrix(4, 2, 6),
        common::normal_matrix(1, 4, 7).map(|v| 0.3 * v),
        common::normal_matrix(3, 4, 8),
    ];
    let report = check_gradients(&inputs, GradCheck::default(), |v| {
        let q = LowRankNormal {
            mean: v[0],
            factor: v[1],
            log_sd: v[2],
        };
        q.log_prob(v[3]).sum() + q.entropy()
    });
    assert!(report.passed(1e-6), "{report:?}");
}

#[test]
fn low_rank_draws_have_its_covariance() {
    let tape = Tape::<f64>::new();
    let q = LowRankNormal {
        mean: tape.constant(DMatrix::from_row_slice(1, 3, &[1.0, -2.0, 0.5])),
        factor: tape.constant(DMatrix::from_row_slice(3, 1, &[1.0, 0.5, -1.0])),
        log_sd: tape.constant(DMatrix::from_row_slice(1, 3, &[-1.0, 0.0, -0.5])),
    };
    let n = 40_000;
    let z = q.rsample(n, &mut common::rng(9)).value().clone_owned();
    let mean = z.row_mean();
    let centred = DMatrix::from_fn(n, 3, |i, j| z[(i, j)] - mean[j]);
    let covariance = centred.transpose() * &centred / (n as f64 - 1.0);
    // Each entry's standard error is at most about 2.3/√n ≈ 0.012: 0.05 is four of them.
    assert!((covariance - q.covariance()).abs().max() < 0.05);
}
