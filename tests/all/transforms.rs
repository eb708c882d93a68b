//! Supports and their transforms: round trips, log-Jacobians against finite differences,
//! gradients, refused points.

use super::common;

use elbo::Error;
use elbo::autodiff::{GradCheck, Tape, check_gradients};
use elbo::dist::{Support, Transform};
use nalgebra::DMatrix;

/// x = f(u) and each row's ln |J| off the tape.
fn forward(support: Support, u: &DMatrix<f64>) -> (DMatrix<f64>, Vec<f64>) {
    let tape = Tape::<f64>::new();
    let (x, log_j) = support.forward(tape.constant(u.clone()));
    assert_eq!(log_j.shape(), (u.nrows(), 1), "{support:?}");
    (
        (*x.value()).clone(),
        log_j.value().iter().copied().collect(),
    )
}

/// Each row's ln |det ∂x_row/∂u_row| by central differences, on the first `width(u)`
/// coordinates of each constrained row (all of them, but for the simplex's last, which the
/// others determine).
fn numeric_log_jacobian(support: Support, u: &DMatrix<f64>) -> Vec<f64> {
    let h = 1e-6;
    let m = u.ncols();
    (0..u.nrows())
        .map(|i| {
            let mut jacobian = DMatrix::zeros(m, m);
            for j in 0..m {
                let (mut up, mut down) = (u.clone(), u.clone());
                up[(i, j)] += h;
                down[(i, j)] -= h;
                let (xu, xd) = (forward(support, &up).0, forward(support, &down).0);
                for r in 0..m {
                    jacobian[(r, j)] = (xu[(i, r)] - xd[(i, r)]) / (2.0 * h);
                }
            }
            jacobian.determinant().abs().ln()
        })
        .collect()
}

fn supports() -> Vec<(Support, usize)> {
    vec![
        (Support::Real, 3),
        (Support::Positive, 3),
        (Support::GreaterThan(-4.0), 3),
        (Support::LessThan(250.0), 3),
        (Support::Interval(-1.0, 3.0), 3),
        (Support::Interval(1e3, 1e3 + 0.01), 3),
        (Support::Ordered, 4),
        (Support::Simplex, 3),
    ]
}

#[test]
fn transforms_round_trip_and_their_log_jacobians_match_finite_differences() {
    for (support, width) in supports() {
        let u = common::normal_matrix(2, width, 17).map(|v| 0.8 * v);
        let (x, log_j) = forward(support, &u);
        assert_eq!(
            x.shape(),
            support.constrained_shape(u.shape()),
            "{support:?}"
        );
        let back = support.inverse("x", &x).unwrap();
        assert!(
            (&back - &u).abs().max() < 1e-8,
            "{support:?}: {back} vs {u}"
        );
        for (row, numeric) in numeric_log_jacobian(support, &u).into_iter().enumerate() {
            assert!(
                (log_j[row] - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
                "{support:?}: ln |J| of row {row} {}, by differences {numeric}",
                log_j[row]
            );
        }
        let report = check_gradients(std::slice::from_ref(&u), GradCheck::default(), |v| {
            let (x, log_j) = support.forward(v[0]);
            // Linear in x (a square of x near 1e3 would lose the differences to rounding), with
            // unequal weights (the simplex's entries sum to a constant).
            let (r, c) = x.shape();
            let weights = DMatrix::from_fn(r, c, |i, j| 0.1 * (1 + i + 2 * j) as f64);
            (x * v[0].tape().constant(weights)).sum() + log_j.sum()
        });
        assert!(report.passed(1e-6), "{support:?}: {report:?}");
    }
}

#[test]
fn forward_values_lie_in_their_supports() {
    let u = common::normal_matrix(3, 4, 5).map(|v| 6.0 * v);
    let (x, _) = forward(Support::Positive, &u);
    assert!(x.iter().all(|&v| v > 0.0));
    let (x, _) = forward(Support::Interval(2.0, 5.0), &u);
    assert!(x.iter().all(|&v| v > 2.0 && v < 5.0));
    let (x, _) = forward(Support::Ordered, &u);
    assert!(
        x.row_iter()
            .all(|r| r.iter().zip(r.iter().skip(1)).all(|(a, b)| b > a))
    );
    let (x, _) = forward(Support::Simplex, &u);
    assert!(
        x.row_iter()
            .all(|r| (r.sum() - 1.0).abs() < 1e-12 && r.iter().all(|&v| v > 0.0))
    );
}

#[test]
fn points_outside_a_support_and_bad_supports_are_refused() {
    let row = |v: &[f64]| DMatrix::from_row_slice(1, v.len(), v);
    for (support, x) in [
        (Support::Positive, row(&[1.0, -0.5])),
        (Support::GreaterThan(2.0), row(&[2.0])),
        (Support::Interval(0.0, 1.0), row(&[0.5, 1.0])),
        (Support::Ordered, row(&[1.0, 3.0, 3.0])),
        (Support::Simplex, row(&[0.5, 0.6])),
        (Support::Simplex, row(&[1.0])),
        (Support::Real, row(&[f64::NAN])),
    ] {
        match support.inverse("tau", &x) {
            Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, "tau"),
            other => panic!("{support:?} at {x}: {other:?}"),
        }
    }
    assert!(Support::Interval(1.0, 1.0).validate().is_err());
    assert!(Support::LessThan(f64::INFINITY).validate().is_err());
    assert!(Support::Interval(-1.0, 1.0).validate().is_ok());
}
