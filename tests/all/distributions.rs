//! The distribution library on the tape: log densities against statrs, gradients against
//! finite differences, samplers against their moments, parameter validation.

use super::common;

use elbo::Error;
use elbo::autodiff::{GradCheck, Tape, Var, check_gradients};
use elbo::dist::{
    Bernoulli, Beta, Binomial, Categorical, Cauchy, Dirichlet, Distribution, Exponential, Gamma,
    HalfCauchy, HalfNormal, Laplace, LogNormal, Mixture, MvNormal, NegativeBinomial, Normal,
    Poisson, StudentT, Uniform,
};
use nalgebra::{DMatrix, DVector};
use statrs::distribution::{self as sr, Continuous, Discrete};

/// A model's log density of one point under one parameter set, built on a fresh tape.
type Build = for<'t> fn(&[Var<'t, f64>], Var<'t, f64>) -> Var<'t, f64>;

/// ln p(x) from our tape for each parameter set and point, against `reference`; relative
/// agreement to 1e-10.
fn agrees(
    name: &str,
    ours: Build,
    sets: &[&[f64]],
    points: &[f64],
    reference: impl Fn(&[f64], f64) -> f64,
) {
    for set in sets {
        for &x in points {
            let tape = Tape::<f64>::new();
            let params: Vec<_> = set.iter().map(|&v| tape.scalar(v)).collect();
            let value = ours(&params, tape.scalar(x)).scalar();
            let expected = reference(set, x);
            let ok = if expected.is_finite() {
                (value - expected).abs() <= 1e-10 * expected.abs().max(1.0)
            } else {
                value == expected
            };
            assert!(ok, "{name}{set:?} at {x}: ours {value}, statrs {expected}");
        }
    }
}

#[test]
fn continuous_log_densities_match_statrs() {
    let real = [-30.0, -2.5, -0.1, 0.0, 0.7, 4.0, 1e3];
    agrees(
        "Normal",
        |p, x| Normal::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[0.0, 1.0], &[-3.0, 0.01], &[1e3, 50.0]],
        &real,
        |p, x| sr::Normal::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
    agrees(
        "StudentT",
        |p, x| StudentT::new(p[0], p[1], p[2]).unwrap().log_prob(x),
        &[&[1.0, 0.0, 1.0], &[3.5, -1.0, 0.2], &[200.0, 2.0, 7.0]],
        &real,
        |p, x| sr::StudentsT::new(p[1], p[2], p[0]).unwrap().ln_pdf(x),
    );
    agrees(
        "Cauchy",
        |p, x| Cauchy::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[0.0, 1.0], &[5.0, 0.01]],
        &real,
        |p, x| sr::Cauchy::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
    // statrs's Laplace density underflows to −∞ at 1000 scales: compare where it does not.
    agrees(
        "Laplace",
        |p, x| Laplace::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[0.0, 1.0], &[-2.0, 3.0]],
        &real[..6],
        |p, x| sr::Laplace::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
    let positive = [-1.0, 0.0, 1e-6, 0.3, 1.0, 7.5, 400.0];
    agrees(
        "LogNormal",
        |p, x| LogNormal::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[0.0, 1.0], &[2.0, 0.3]],
        &positive,
        |p, x| sr::LogNormal::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
    agrees(
        "Exponential",
        |p, x| Exponential::new(p[0]).unwrap().log_prob(x),
        &[&[1.0], &[0.02], &[30.0]],
        &positive,
        |p, x| sr::Exp::new(p[0]).unwrap().ln_pdf(x),
    );
    agrees(
        "Gamma",
        |p, x| Gamma::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[1.0, 1.0], &[0.5, 2.0], &[40.0, 0.1]],
        // Not at 0: a boundary point of measure zero, where ours is −∞ and statrs's depends on
        // the shape (+∞, ln β or −∞).
        &[-1.0, 1e-6, 0.3, 1.0, 7.5, 400.0],
        |p, x| sr::Gamma::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
    // statrs has no half-normal or half-Cauchy: twice the symmetric density on x ≥ 0.
    agrees(
        "HalfNormal",
        |p, x| HalfNormal::new(p[0]).unwrap().log_prob(x),
        &[&[1.0], &[0.05], &[20.0]],
        &positive,
        |p, x| {
            if x < 0.0 {
                f64::NEG_INFINITY
            } else {
                std::f64::consts::LN_2 + sr::Normal::new(0.0, p[0]).unwrap().ln_pdf(x)
            }
        },
    );
    agrees(
        "HalfCauchy",
        |p, x| HalfCauchy::new(p[0]).unwrap().log_prob(x),
        &[&[1.0], &[5.0]],
        &positive,
        |p, x| {
            if x < 0.0 {
                f64::NEG_INFINITY
            } else {
                std::f64::consts::LN_2 + sr::Cauchy::new(0.0, p[0]).unwrap().ln_pdf(x)
            }
        },
    );
    let unit = [-0.5, 0.0, 1e-4, 0.25, 0.5, 0.9999, 1.0, 2.0];
    agrees(
        "Beta",
        |p, x| Beta::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[1.0, 1.0], &[0.5, 0.5], &[2.0, 8.0], &[30.0, 3.0]],
        &unit,
        |p, x| {
            if x <= 0.0 || x >= 1.0 {
                f64::NEG_INFINITY
            } else {
                sr::Beta::new(p[0], p[1]).unwrap().ln_pdf(x)
            }
        },
    );
    agrees(
        "Uniform",
        |p, x| Uniform::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[0.0, 1.0], &[-3.0, 10.0]],
        &unit,
        |p, x| sr::Uniform::new(p[0], p[1]).unwrap().ln_pdf(x),
    );
}

#[test]
fn discrete_log_masses_match_statrs() {
    let counts = [0.0, 1.0, 2.0, 7.0, 40.0];
    let off_support = [-1.0, 0.5, 2.5];
    agrees(
        "Bernoulli",
        |p, x| Bernoulli::new(p[0]).unwrap().log_prob(x),
        &[&[0.3], &[0.999], &[0.0], &[1.0]],
        &[0.0, 1.0],
        |p, x| sr::Bernoulli::new(p[0]).unwrap().ln_pmf(x as u64),
    );
    agrees(
        "Bernoulli (logits)",
        |p, x| Bernoulli::from_logits(p[0]).unwrap().log_prob(x),
        &[&[-2.0], &[0.0], &[3.5]],
        &[0.0, 1.0],
        |p, x| {
            let q = 1.0 / (1.0 + (-p[0]).exp());
            sr::Bernoulli::new(q).unwrap().ln_pmf(x as u64)
        },
    );
    // Where 1 − sigmoid(l) rounds (l = 35), the logit form stays exact: ln(1 − σ(l)) =
    // −l − ln(1 + e^−l).
    let tape = Tape::<f64>::new();
    let at_zero = Bernoulli::from_logits(tape.scalar(35.0))
        .unwrap()
        .log_prob(tape.scalar(0.0))
        .scalar();
    assert_eq!(at_zero, -35.0 - (-35f64).exp().ln_1p());
    agrees(
        "Binomial",
        |p, x| Binomial::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[10.0, 0.3], &[40.0, 0.9]],
        &counts,
        |p, x| {
            if x > p[0] {
                f64::NEG_INFINITY
            } else {
                sr::Binomial::new(p[1], p[0] as u64)
                    .unwrap()
                    .ln_pmf(x as u64)
            }
        },
    );
    agrees(
        "Poisson",
        |p, x| Poisson::new(p[0]).unwrap().log_prob(x),
        &[&[0.5], &[12.0], &[300.0]],
        &counts,
        |p, x| sr::Poisson::new(p[0]).unwrap().ln_pmf(x as u64),
    );
    agrees(
        "Poisson (log-rate)",
        |p, x| Poisson::from_log_rate(p[0]).unwrap().log_prob(x),
        &[&[-0.7], &[2.5]],
        &counts,
        |p, x| sr::Poisson::new(p[0].exp()).unwrap().ln_pmf(x as u64),
    );
    agrees(
        "NegativeBinomial",
        |p, x| NegativeBinomial::new(p[0], p[1]).unwrap().log_prob(x),
        &[&[1.0, 0.5], &[3.7, 0.2], &[0.4, 0.9]],
        &counts,
        |p, x| {
            sr::NegativeBinomial::new(p[0], p[1])
                .unwrap()
                .ln_pmf(x as u64)
        },
    );
    // Points that are not counts of the support have mass zero.
    for &x in &off_support {
        let tape = Tape::<f64>::new();
        let k = tape.scalar(x);
        for value in [
            Bernoulli::new(tape.scalar(0.4)).unwrap().log_prob(k),
            Poisson::new(tape.scalar(3.0)).unwrap().log_prob(k),
            NegativeBinomial::new(tape.scalar(2.0), tape.scalar(0.3))
                .unwrap()
                .log_prob(k),
            Binomial::new(tape.scalar(5.0), tape.scalar(0.3))
                .unwrap()
                .log_prob(k),
        ] {
            assert_eq!(value.scalar(), f64::NEG_INFINITY, "at {x}");
        }
    }
}

/// Gradients of Σ ln p(x) in every parameter (and in x for a continuous law) by finite
/// differences, with parameters and points that broadcast (a 1 x 1 scale, 1 x 3 points).
#[test]
fn log_density_gradients_match_finite_differences() {
    let opts = GradCheck::default();
    let row = |v: &[f64]| DMatrix::from_row_slice(1, v.len(), v);
    let points = row(&[-1.3, 0.2, 2.9]);
    let positive_points = row(&[0.2, 1.1, 3.4]);
    let unit_points = row(&[0.1, 0.45, 0.8]);
    let counts = DMatrix::from_row_slice(1, 3, &[0.0, 2.0, 5.0]);
    let check = |name: &str, report: elbo::autodiff::GradCheckReport| {
        assert!(report.passed(1e-6), "{name}: {report:?}");
    };
    let s = |v: f64| DMatrix::from_element(1, 1, v);
    check(
        "Normal",
        check_gradients(
            &[row(&[0.3, -0.2, 1.0]), s(1.7), points.clone()],
            opts,
            |v| Normal::new(v[0], v[1]).unwrap().log_prob(v[2]).sum(),
        ),
    );
    check(
        "StudentT",
        check_gradients(&[s(3.3), s(0.4), s(0.8), points.clone()], opts, |v| {
            StudentT::new(v[0], v[1], v[2])
                .unwrap()
                .log_prob(v[3])
                .sum()
        }),
    );
    check(
        "Cauchy",
        check_gradients(&[s(0.4), s(0.8), points.clone()], opts, |v| {
            Cauchy::new(v[0], v[1]).unwrap().log_prob(v[2]).sum()
        }),
    );
    check(
        "Laplace",
        // Points away from the kink at the location.
        check_gradients(&[s(0.5), s(1.3), points.clone()], opts, |v| {
            Laplace::new(v[0], v[1]).unwrap().log_prob(v[2]).sum()
        }),
    );
    for (name, f) in [
        (
            "HalfNormal",
            (|v: &[Var<'_, f64>]| HalfNormal::new(v[0]).unwrap().log_prob(v[2]).sum()) as Build2,
        ),
        ("HalfCauchy", |v| {
            HalfCauchy::new(v[0]).unwrap().log_prob(v[2]).sum()
        }),
        ("LogNormal", |v| {
            LogNormal::new(v[1], v[0]).unwrap().log_prob(v[2]).sum()
        }),
        ("Exponential", |v| {
            Exponential::new(v[0]).unwrap().log_prob(v[2]).sum()
        }),
        ("Gamma", |v| {
            Gamma::new(v[0], v[1]).unwrap().log_prob(v[2]).sum()
        }),
    ] {
        check(
            name,
            check_gradients(&[s(1.6), s(0.7), positive_points.clone()], opts, f),
        );
    }
    check(
        "Beta",
        check_gradients(&[s(2.5), s(1.4), unit_points.clone()], opts, |v| {
            Beta::new(v[0], v[1]).unwrap().log_prob(v[2]).sum()
        }),
    );
    check(
        "Uniform",
        check_gradients(&[s(-0.5), s(2.0), unit_points], opts, |v| {
            Uniform::new(v[0], v[1]).unwrap().log_prob(v[2]).sum()
        }),
    );
    // Discrete laws: gradients in the parameters, the counts held as data.
    let k = counts.clone();
    check(
        "Bernoulli",
        check_gradients(&[row(&[0.2, 0.6, 0.9])], opts, |v| {
            let x = v[0]
                .tape()
                .constant(DMatrix::from_row_slice(1, 3, &[0.0, 1.0, 1.0]));
            Bernoulli::new(v[0]).unwrap().log_prob(x).sum()
        }),
    );
    check(
        "Bernoulli (logits)",
        check_gradients(&[row(&[-1.2, 0.3, 4.0])], opts, |v| {
            let x = v[0]
                .tape()
                .constant(DMatrix::from_row_slice(1, 3, &[0.0, 1.0, 1.0]));
            Bernoulli::from_logits(v[0]).unwrap().log_prob(x).sum()
        }),
    );
    check(
        "Binomial",
        check_gradients(&[s(0.35)], opts, |v| {
            let tape = v[0].tape();
            Binomial::new(tape.scalar(6.0), v[0])
                .unwrap()
                .log_prob(tape.constant(k.clone()))
                .sum()
        }),
    );
    check(
        "Poisson",
        check_gradients(&[s(2.2)], opts, |v| {
            Poisson::new(v[0])
                .unwrap()
                .log_prob(v[0].tape().constant(counts.clone()))
                .sum()
        }),
    );
    check(
        "Poisson (log-rate)",
        check_gradients(&[row(&[-0.5, 0.3, 1.9])], opts, |v| {
            Poisson::from_log_rate(v[0])
                .unwrap()
                .log_prob(v[0].tape().constant(counts.clone()))
                .sum()
        }),
    );
    check(
        "NegativeBinomial",
        check_gradients(&[s(2.7), s(0.35)], opts, |v| {
            NegativeBinomial::new(v[0], v[1])
                .unwrap()
                .log_prob(v[0].tape().constant(counts.clone()))
                .sum()
        }),
    );
}

type Build2 = for<'a, 't> fn(&'a [Var<'t, f64>]) -> Var<'t, f64>;

/// Draws' mean and standard deviation.
fn moments(draws: &DMatrix<f64>) -> (f64, f64) {
    let n = draws.len() as f64;
    let mean = draws.sum() / n;
    let var = draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The sample mean of `n` draws is within 5 standard errors of `mean` (`sd` the law's own
/// standard deviation), and every draw is in the support.
fn sampler_matches(
    name: &str,
    draws: &DMatrix<f64>,
    mean: f64,
    sd: f64,
    support: impl Fn(f64) -> bool,
) {
    let (m, _) = moments(draws);
    let tolerance = 5.0 * sd / (draws.len() as f64).sqrt();
    assert!(
        (m - mean).abs() <= tolerance,
        "{name}: sample mean {m}, law's {mean} ± {tolerance}"
    );
    assert!(
        draws.iter().all(|&v| support(v)),
        "{name}: a draw outside the support"
    );
}

#[test]
fn samplers_draw_from_their_laws() {
    let n = 40_000;
    let mut rng = common::rng(71);
    let tape = Tape::<f64>::new();
    // One draw per entry of the parameters' broadcast shape: a 1 x n location gives n draws.
    let many = |v: f64| tape.constant(DMatrix::from_element(1, n, v));
    let one = |v: f64| tape.scalar(v);
    let real = |_: f64| true;
    let non_negative = |v: f64| v >= 0.0;
    let count = |v: f64| v >= 0.0 && v.fract() == 0.0;

    let d = Normal::new(many(2.0), one(3.0)).unwrap().sample(&mut rng);
    sampler_matches("Normal", &d, 2.0, 3.0, real);
    let (_, sd) = moments(&d);
    assert!((sd / 3.0 - 1.0).abs() < 0.03, "Normal sd {sd}");
    let d = StudentT::new(one(5.0), many(-1.0), one(2.0))
        .unwrap()
        .sample(&mut rng);
    sampler_matches("StudentT", &d, -1.0, 2.0 * (5.0f64 / 3.0).sqrt(), real);
    let d = Laplace::new(many(4.0), one(0.5)).unwrap().sample(&mut rng);
    sampler_matches("Laplace", &d, 4.0, 0.5 * 2f64.sqrt(), real);
    let d = LogNormal::new(many(0.2), one(0.4))
        .unwrap()
        .sample(&mut rng);
    let mean = (0.2f64 + 0.08).exp();
    sampler_matches(
        "LogNormal",
        &d,
        mean,
        mean * (0.16f64.exp() - 1.0).sqrt(),
        |v| v > 0.0,
    );
    let d = Exponential::new(many(0.25)).unwrap().sample(&mut rng);
    sampler_matches("Exponential", &d, 4.0, 4.0, non_negative);
    let d = Gamma::new(many(2.5), one(0.5)).unwrap().sample(&mut rng);
    sampler_matches("Gamma", &d, 5.0, 2.5f64.sqrt() / 0.5, |v| v > 0.0);
    let d = HalfNormal::new(many(2.0)).unwrap().sample(&mut rng);
    let hn = 2.0 * (2.0 / std::f64::consts::PI).sqrt();
    sampler_matches("HalfNormal", &d, hn, (4.0 - hn * hn).sqrt(), non_negative);
    let d = Beta::new(many(2.0), one(5.0)).unwrap().sample(&mut rng);
    sampler_matches(
        "Beta",
        &d,
        2.0 / 7.0,
        (10.0f64 / (49.0 * 8.0)).sqrt(),
        |v| v > 0.0 && v < 1.0,
    );
    let d = Uniform::new(many(-1.0), one(3.0)).unwrap().sample(&mut rng);
    sampler_matches("Uniform", &d, 1.0, 4.0 / 12f64.sqrt(), |v| {
        (-1.0..=3.0).contains(&v)
    });
    let d = Bernoulli::from_logits(many(-1.0)).unwrap().sample(&mut rng);
    let p = 1.0 / (1.0 + 1f64.exp());
    sampler_matches("Bernoulli", &d, p, (p * (1.0 - p)).sqrt(), |v| {
        v == 0.0 || v == 1.0
    });
    let d = Binomial::new(many(12.0), one(0.3))
        .unwrap()
        .sample(&mut rng);
    sampler_matches("Binomial", &d, 3.6, (12.0f64 * 0.21).sqrt(), |v| {
        count(v) && v <= 12.0
    });
    let d = Poisson::from_log_rate(many(1.5)).unwrap().sample(&mut rng);
    let rate = 1.5f64.exp();
    sampler_matches("Poisson", &d, rate, rate.sqrt(), count);
    let d = NegativeBinomial::new(many(3.0), one(0.4))
        .unwrap()
        .sample(&mut rng);
    sampler_matches(
        "NegativeBinomial",
        &d,
        4.5,
        (3.0f64 * 0.6 / 0.16).sqrt(),
        count,
    );
    // Heavy tails have no mean: the median, whose standard error is 1 / (2 f(median) √n).
    for (name, d, median, density_at_median) in [
        (
            "Cauchy",
            Cauchy::new(many(1.0), one(2.0)).unwrap().sample(&mut rng),
            1.0,
            1.0 / (2.0 * std::f64::consts::PI),
        ),
        (
            "HalfCauchy",
            HalfCauchy::new(many(2.0)).unwrap().sample(&mut rng),
            2.0,
            1.0 / (2.0 * std::f64::consts::PI),
        ),
    ] {
        let mut v: Vec<f64> = d.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let m = v[n / 2];
        let tolerance = 5.0 / (2.0 * density_at_median * (n as f64).sqrt());
        assert!(
            (m - median).abs() <= tolerance,
            "{name}: median {m}, law's {median} ± {tolerance}"
        );
    }
}

#[test]
fn bad_parameters_are_refused_with_their_name_and_value() {
    let tape = Tape::<f64>::new();
    let s = |v: f64| tape.scalar(v);
    let refused = |r: Result<(), Error>, name: &str| match r {
        Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{name}: {other:?}"),
    };
    refused(Normal::new(s(0.0), s(0.0)).map(drop), "Normal scale");
    refused(Normal::new(s(f64::NAN), s(1.0)).map(drop), "Normal loc");
    refused(
        StudentT::new(s(-1.0), s(0.0), s(1.0)).map(drop),
        "StudentT df",
    );
    refused(Gamma::new(s(1.0), s(f64::INFINITY)).map(drop), "Gamma rate");
    refused(Beta::new(s(0.0), s(1.0)).map(drop), "Beta alpha");
    refused(Uniform::new(s(2.0), s(1.0)).map(drop), "Uniform bounds");
    refused(Bernoulli::new(s(1.5)).map(drop), "Bernoulli p");
    refused(Binomial::new(s(2.5), s(0.5)).map(drop), "Binomial trials");
    refused(Poisson::new(s(0.0)).map(drop), "Poisson rate");
    refused(
        NegativeBinomial::new(s(2.0), s(1.0)).map(drop),
        "NegativeBinomial p",
    );
    refused(
        HalfCauchy::new(tape.constant(DMatrix::from_row_slice(1, 2, &[1.0, -2.0]))).map(drop),
        "HalfCauchy scale",
    );
    let message = Normal::new(s(0.0), s(-2.0)).unwrap_err().to_string();
    assert!(
        message.contains("-2") && message.contains("> 0"),
        "{message}"
    );
}

#[test]
fn categorical_matches_statrs_and_draws_its_frequencies() {
    let logits = [0.3, -1.2, 2.0];
    let weights: Vec<f64> = logits.iter().map(|l: &f64| l.exp()).collect();
    let total: f64 = weights.iter().sum();
    let probs: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let reference = sr::Categorical::new(&probs).unwrap();
    let tape = Tape::<f64>::new();
    let d = Categorical::new(tape.constant(DMatrix::from_row_slice(1, 3, &logits))).unwrap();
    let x = tape.constant(DMatrix::from_column_slice(5, 1, &[0.0, 1.0, 2.0, 3.0, 1.5]));
    let lp = d.log_prob(x).value();
    for k in 0..3 {
        assert!(
            (lp[k] - reference.ln_pmf(k as u64)).abs() < 1e-12,
            "category {k}"
        );
    }
    assert_eq!(lp[3], f64::NEG_INFINITY, "an index past the categories");
    assert_eq!(lp[4], f64::NEG_INFINITY, "an index that is not whole");
    // Gradients in the logits, one row of logits per point.
    let report = check_gradients(
        &[DMatrix::from_row_slice(
            2,
            3,
            &[0.3, -1.2, 2.0, 1.0, 0.0, -0.5],
        )],
        GradCheck::default(),
        |v| {
            let x = v[0]
                .tape()
                .constant(DMatrix::from_column_slice(2, 1, &[2.0, 0.0]));
            Categorical::new(v[0]).unwrap().log_prob(x).sum()
        },
    );
    assert!(report.passed(1e-6), "{report:?}");
    // Frequencies of 30,000 draws within 5 standard errors.
    let n = 30_000;
    let many = Categorical::new(tape.constant(DMatrix::from_fn(n, 3, |_, j| logits[j]))).unwrap();
    let draws = many.sample(&mut common::rng(5));
    for (k, &p) in probs.iter().enumerate() {
        let share = draws.iter().filter(|&&v| v == k as f64).count() as f64 / n as f64;
        let tolerance = 5.0 * (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (share - p).abs() <= tolerance,
            "category {k}: {share} vs {p}"
        );
    }
}

#[test]
fn dirichlet_matches_statrs_and_draws_its_means() {
    let alpha = [0.7, 2.0, 5.5];
    let reference = sr::Dirichlet::new(alpha.to_vec()).unwrap();
    let points = DMatrix::from_row_slice(3, 3, &[0.2, 0.3, 0.5, 0.01, 0.01, 0.98, 0.5, 0.6, -0.1]);
    let tape = Tape::<f64>::new();
    let d = Dirichlet::new(tape.constant(DMatrix::from_row_slice(1, 3, &alpha))).unwrap();
    let lp = d.log_prob(tape.constant(points.clone())).value();
    for i in 0..2 {
        let x = DVector::from_iterator(3, points.row(i).iter().copied());
        let expected = reference.ln_pdf(&x);
        assert!(
            (lp[i] - expected).abs() < 1e-10 * expected.abs().max(1.0),
            "row {i}: {} vs {expected}",
            lp[i]
        );
    }
    assert_eq!(lp[2], f64::NEG_INFINITY, "a point off the simplex");
    let report = check_gradients(
        &[DMatrix::from_row_slice(1, 3, &alpha)],
        GradCheck::default(),
        |v| {
            let x = v[0].tape().constant(points.rows(0, 2).into_owned());
            Dirichlet::new(v[0]).unwrap().log_prob(x).sum()
        },
    );
    assert!(report.passed(1e-6), "{report:?}");
    assert!(Dirichlet::new(tape.constant(DMatrix::from_element(1, 1, 1.0))).is_err());
    let n = 20_000;
    let many = Dirichlet::new(tape.constant(DMatrix::from_fn(n, 3, |_, j| alpha[j]))).unwrap();
    let draws = many.sample(&mut common::rng(9));
    let a0: f64 = alpha.iter().sum();
    for (k, &a) in alpha.iter().enumerate() {
        let (mean, sd) = (a / a0, (a * (a0 - a) / (a0 * a0 * (a0 + 1.0))).sqrt());
        sampler_matches(
            "Dirichlet",
            &DMatrix::from_iterator(n, 1, draws.column(k).iter().copied()),
            mean,
            sd,
            |v| v > 0.0 && v < 1.0,
        );
    }
    assert!(draws.row_iter().all(|r| (r.sum() - 1.0).abs() < 1e-12));
}

#[test]
fn mixture_of_normals_is_the_weighted_sum_of_its_components() {
    let (w, locs, scales): ([f64; 2], [f64; 2], [f64; 2]) = ([0.3, 0.7], [-2.0, 1.5], [0.5, 1.2]);
    let logits = [w[0].ln(), w[1].ln()];
    let points = [-40.0, -2.1, 0.0, 1.0, 3.7];
    let tape = Tape::<f64>::new();
    let components: Vec<_> = (0..2)
        .map(|k| Normal::new(tape.scalar(locs[k]), tape.scalar(scales[k])).unwrap())
        .collect();
    let mixture = Mixture::new(
        tape.constant(DMatrix::from_row_slice(1, 2, &logits)),
        components,
    )
    .unwrap();
    let lp = mixture
        .log_prob(tape.constant(DMatrix::from_column_slice(5, 1, &points)))
        .value();
    for (i, &x) in points.iter().enumerate() {
        let parts: Vec<f64> = (0..2)
            .map(|k| w[k].ln() + sr::Normal::new(locs[k], scales[k]).unwrap().ln_pdf(x))
            .collect();
        // Log-sum-exp by hand: far in the tails the densities themselves underflow.
        let top = parts[0].max(parts[1]);
        let expected = top + parts.iter().map(|p| (p - top).exp()).sum::<f64>().ln();
        assert!(
            (lp[i] - expected).abs() < 1e-10 * expected.abs().max(1.0),
            "at {x}: {} vs {expected}",
            lp[i]
        );
    }
    let report = check_gradients(
        &[
            DMatrix::from_row_slice(1, 2, &logits),
            DMatrix::from_row_slice(1, 2, &locs),
            DMatrix::from_row_slice(1, 2, &scales),
            DMatrix::from_column_slice(3, 1, &[-1.0, 0.2, 2.5]),
        ],
        GradCheck::default(),
        |v| {
            let parts = (0..2)
                .map(|k| Normal::new(v[1].columns(k, 1), v[2].columns(k, 1)).unwrap())
                .collect();
            Mixture::new(v[0], parts).unwrap().log_prob(v[3]).sum()
        },
    );
    assert!(report.passed(1e-6), "{report:?}");
    let n = 40_000;
    let many = |k: usize| {
        Normal::new(
            tape.constant(DMatrix::from_element(n, 1, locs[k])),
            tape.scalar(scales[k]),
        )
        .unwrap()
    };
    let draws = Mixture::new(
        tape.constant(DMatrix::from_row_slice(1, 2, &logits)),
        vec![many(0), many(1)],
    )
    .unwrap()
    .sample(&mut common::rng(13));
    let mean = w[0] * locs[0] + w[1] * locs[1];
    let second =
        w[0] * (scales[0].powi(2) + locs[0].powi(2)) + w[1] * (scales[1].powi(2) + locs[1].powi(2));
    sampler_matches(
        "Mixture",
        &draws,
        mean,
        (second - mean * mean).sqrt(),
        |v| v.is_finite(),
    );
    assert!(Mixture::<f64, Normal<'_, f64>>::new(tape.scalar(0.0), vec![]).is_err());
}

#[test]
fn mv_normal_is_validated_and_scores_rows_like_statrs() {
    let tape = Tape::<f64>::new();
    let mean = tape.constant(DMatrix::from_row_slice(1, 2, &[1.0, -1.0]));
    let tril = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.6, 0.5]);
    let d = MvNormal::new(mean, tape.constant(tril.clone())).unwrap();
    let x = DMatrix::from_row_slice(2, 2, &[0.0, 0.0, 3.0, -2.0]);
    let lp = Distribution::log_prob(&d, tape.constant(x.clone())).value();
    let cov = &tril * tril.transpose();
    let reference =
        sr::MultivariateNormal::new(vec![1.0, -1.0], cov.iter().copied().collect()).unwrap();
    for i in 0..2 {
        let row = DVector::from_iterator(2, x.row(i).iter().copied());
        assert!((lp[i] - reference.ln_pdf(&row)).abs() < 1e-10);
    }
    assert_eq!(
        Distribution::sample(&d, &mut common::rng(1)).shape(),
        (1, 2)
    );
    let bad = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.6, -0.5]);
    assert!(matches!(
        MvNormal::new(mean, tape.constant(bad)),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        MvNormal::new(mean, tape.constant(DMatrix::identity(3, 3))),
        Err(Error::ShapeMismatch { .. })
    ));
}
