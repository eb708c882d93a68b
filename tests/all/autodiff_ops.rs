//! Every operation's vector-Jacobian product against central finite differences, over random
//! shapes and values (f64).

use super::common;

use elbo::autodiff::{GradCheck, Tape, Var, check_gradients};
use elbo::backend::Device;
use elbo::dist::{DiagNormal, kl_diag};
use nalgebra::DMatrix;
use proptest::prelude::*;

const TOL: f64 = 1e-6;

use common::normal_matrix as random;

/// Weights the output with fixed pseudo-random numbers so that every output entry's gradient
/// differs, then sums to a scalar.
fn weighted_sum<'t>(y: Var<'t, f64>) -> Var<'t, f64> {
    let (r, c) = y.shape();
    let w = DMatrix::from_fn(r, c, |i, j| 0.3 + ((i * 7 + j * 3) as f64).sin());
    (y * y.tape().constant(w)).sum()
}

/// The gradients against finite differences on every device of `common::devices` (the emulated
/// one takes the device code path), and the values the same as the CPU's on each.
fn assert_grads(inputs: &[DMatrix<f64>], f: impl for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>) {
    for device in common::devices() {
        let check = GradCheck {
            device,
            ..GradCheck::default()
        };
        let report = check_gradients(inputs, check, |x| weighted_sum(f(x)));
        assert!(report.passed(TOL), "{device}: {report:?}");
    }
    let value = |device| {
        let tape = Tape::new().on_device(device).unwrap();
        let vars: Vec<_> = inputs.iter().map(|m| tape.input(m.clone())).collect();
        f(&vars).value().as_ref().clone()
    };
    let host = value(Device::Cpu);
    let scale = host.abs().max().max(1.0);
    for device in common::devices() {
        let there = value(device);
        assert!(
            (&host - &there).abs().max() <= 1e-12 * scale,
            "{host} against {there} on {device}"
        );
    }
}

/// `particles` reparameterised draws from N(v[0], diag e^(2 v[1])) with noise from `seed`: by
/// `DiagNormal::rsample` (one fused op), or `unfused`, by the ops it fuses.
fn draw<'t>(v: &[Var<'t, f64>], particles: usize, seed: u64, unfused: bool) -> Var<'t, f64> {
    if !unfused {
        let normal = DiagNormal {
            mean: v[0],
            log_sd: v[1],
        };
        return normal.rsample(particles, &mut common::rng(seed));
    }
    let (rows, d) = v[0].shape();
    let n = particles * rows;
    let eps = v[0].tape().standard_normal(n, d, &mut common::rng(seed));
    let spread = |x: Var<'t, f64>| match x.shape().0 {
        m if m == 1 || m == n => x,
        m => x.tile_rows(n / m),
    };
    spread(v[0]) + spread(v[1]).exp() * eps
}

fn positive(m: DMatrix<f64>) -> DMatrix<f64> {
    m.map(|v| 0.5 + v.abs())
}

/// A shape and a seed.
fn shape() -> impl Strategy<Value = (usize, usize, u64)> {
    (1usize..5, 1usize..5, any::<u64>())
}

proptest! {
    #![proptest_config(common::proptest_config(24))]

    #[test]
    fn unary_maps((r, c, seed) in shape()) {
        let x = random(r, c, seed);
        assert_grads(std::slice::from_ref(&x), |v| -v[0]);
        assert_grads(std::slice::from_ref(&x), |v| v[0].exp());
        assert_grads(std::slice::from_ref(&x), |v| v[0].softplus());
        assert_grads(std::slice::from_ref(&x), |v| v[0].sigmoid());
        assert_grads(std::slice::from_ref(&x), |v| v[0].tanh());
        assert_grads(std::slice::from_ref(&x), |v| v[0].relu());
        assert_grads(std::slice::from_ref(&x), |v| v[0].leaky_relu(0.1));
        assert_grads(std::slice::from_ref(&x), |v| v[0].selu());
        assert_grads(std::slice::from_ref(&x), |v| v[0].square());
        assert_grads(std::slice::from_ref(&x), |v| v[0].scale(-1.7).shift(0.4));
        assert_grads(std::slice::from_ref(&x), |v| (v[0] * 2.5 + 1.0 - 0.5) / 4.0);
        assert_grads(&[x.map(f64::abs)], |v| v[0].ln_1p());
        assert_grads(&[positive(x.clone())], |v| v[0].ln());
        assert_grads(&[positive(x.clone())], |v| v[0].sqrt());
        assert_grads(std::slice::from_ref(&x), |v| 2.0 * v[0] + (1.0 - v[0]) * 3.0 - (0.5 + v[0]));
        assert_grads(&[positive(x.clone())], |v| 1.5 / v[0]);
        assert_grads(&[positive(x.clone())], |v| v[0].recip());
        // |x| away from its kink.
        assert_grads(&[x.map(|v| if v.abs() < 0.05 { 0.3 } else { v })], |v| v[0].abs());
        assert_grads(std::slice::from_ref(&x), |v| v[0].powi(3));
        assert_grads(std::slice::from_ref(&x), |v| v[0].powi(-2) * 0.0 + v[0].powi(0));
        assert_grads(&[positive(x.clone())], |v| v[0].powi(-2));
        assert_grads(&[positive(x.clone())], |v| v[0].powf(2.7));
        assert_grads(&[positive(x.clone())], |v| v[0].powf(-0.5));
        // ln Γ and ψ on both sides of zero, away from the poles.
        assert_grads(&[positive(x.clone()) * 3.0], |v| v[0].ln_gamma());
        assert_grads(&[positive(x.clone()) * 3.0], |v| v[0].digamma());
        assert_grads(&[x.map(|v| -0.5 + 0.3 * v.tanh())], |v| v[0].ln_gamma());
        assert_grads(&[x.map(|v| -1.5 + 0.3 * v.tanh())], |v| v[0].digamma());
    }

    #[test]
    fn binary_ops_with_broadcasting((r, c, seed) in shape(), which in 0usize..4) {
        let a = random(r, c, seed);
        let bshape = [(r, c), (1, c), (r, 1), (1, 1)][which];
        let b = random(bshape.0, bshape.1, seed ^ 1);
        for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            // The values, entry by entry, against the broadcast written out.
            let tape = Tape::<f64>::new();
            let (vx, vy) = (tape.constant(x.clone()), tape.constant(y.clone()));
            let at = |m: &DMatrix<f64>, i: usize, j: usize| {
                m[(if m.nrows() == 1 { 0 } else { i }, if m.ncols() == 1 { 0 } else { j })]
            };
            let (difference, quotient) = ((vx - vy).value(), (vx / vy).value());
            for i in 0..r {
                for j in 0..c {
                    prop_assert_eq!(difference[(i, j)], at(&x, i, j) - at(&y, i, j));
                    prop_assert_eq!(quotient[(i, j)], at(&x, i, j) / at(&y, i, j));
                }
            }
            assert_grads(&[x.clone(), y.clone()], |v| v[0] + v[1]);
            assert_grads(&[x.clone(), y.clone()], |v| v[0] - v[1]);
            assert_grads(&[x.clone(), y.clone()], |v| v[0] * v[1]);
            assert_grads(&[x.clone(), positive(y.clone())], |v| v[0] / v[1]);
        }
    }

    #[test]
    fn matrix_products(m in 1usize..6, k in 1usize..6, n in 1usize..6, seed in any::<u64>()) {
        let a = random(m, k, seed);
        let b = random(k, n, seed ^ 1);
        assert_grads(&[a.clone(), b.clone()], |v| v[0].matmul(v[1]));
        assert_grads(&[a.clone(), b.transpose()], |v| v[0].matmul_t(v[1]));
        assert_grads(&[a.transpose(), b.clone()], |v| v[0].t_matmul(v[1]));
        assert_grads(std::slice::from_ref(&a), |v| v[0].transpose());
        let bias = random(1, n, seed ^ 2);
        assert_grads(&[a.clone(), b.clone(), bias.clone()], |v| v[0].affine(v[1], v[2]));
        // The same as the product plus the broadcast bias, up to the order of the additions.
        let tape = Tape::<f64>::new();
        let (x, w, c) = (tape.constant(a), tape.constant(b), tape.constant(bias));
        let fused = x.affine(w, c).value();
        let apart = (x.matmul(w) + c).value();
        prop_assert!((&*fused - &*apart).amax() <= 1e-12 * (1.0 + apart.amax()));
    }

    #[test]
    fn large_products_take_the_blocked_kernel(seed in any::<u64>()) {
        // 20x20x20 is above the small-product threshold, so matrixmultiply does the work.
        let a = random(20, 20, seed);
        let b = random(20, 20, seed ^ 1);
        assert_grads(&[a.clone(), b.clone()], |v| v[0].matmul(v[1]));
        assert_grads(&[a.clone(), b.clone(), random(1, 20, seed ^ 2)], |v| v[0].affine(v[1], v[2]));
        assert_grads(&[a, b], |v| v[0].t_matmul(v[1]).tanh());
    }

    #[test]
    fn reductions((r, c, seed) in shape()) {
        let x = random(r, c, seed);
        assert_grads(std::slice::from_ref(&x), |v| v[0].sum());
        assert_grads(std::slice::from_ref(&x), |v| v[0].row_sums());
        assert_grads(std::slice::from_ref(&x), |v| v[0].col_sums());
        assert_grads(std::slice::from_ref(&x), |v| v[0].mean());
        assert_grads(std::slice::from_ref(&x), |v| v[0].row_means());
        assert_grads(std::slice::from_ref(&x), |v| v[0].col_means());
        assert_grads(std::slice::from_ref(&x), |v| v[0].row_logsumexp());
        assert_grads(&[x], |v| v[0].col_logsumexp());
    }

    #[test]
    fn triangular_and_diagonal(d in 1usize..6, n in 1usize..4, seed in any::<u64>()) {
        let a = random(d, d, seed);
        // A well-conditioned lower-triangular factor: diagonal bounded away from zero.
        let l = DMatrix::from_fn(d, d, |i, j| if i == j { 1.0 + a[(i, j)].abs() } else { a[(i, j)] });
        let b = random(d, n, seed ^ 2);
        assert_grads(std::slice::from_ref(&a), |v| v[0].lower_triangle(true));
        assert_grads(std::slice::from_ref(&a), |v| v[0].lower_triangle(false));
        assert_grads(std::slice::from_ref(&a), |v| v[0].diagonal());
        assert_grads(&[random(d, 1, seed ^ 3)], |v| v[0].diagonal_matrix());
        assert_grads(&[random(1, d, seed ^ 4)], |v| v[0].diagonal_matrix());
        assert_grads(&[l, b], |v| v[0].lower_triangle(true).solve_lower(v[1]));
        // A positive-definite input, A Aᵀ + I, not symmetric itself (its upper triangle is
        // perturbed) so that every entry's gradient is checked.
        let spd = &a * a.transpose() + DMatrix::identity(d, d) + random(d, d, seed ^ 5).scale(0.1);
        assert_grads(&[spd], |v| v[0].cholesky());
    }

    #[test]
    fn slicing_and_joining((r, c, seed) in shape(), times in 1usize..4) {
        let x = random(r, c, seed);
        let y = random(r, c + 1, seed ^ 1);
        let z = random(r + 1, c, seed ^ 2);
        assert_grads(std::slice::from_ref(&x), |v| v[0].columns(c / 2, c - c / 2));
        assert_grads(std::slice::from_ref(&x), |v| v[0].rows(r / 2, r - r / 2));
        assert_grads(&[x.clone(), y], |v| Var::concat_columns(&[v[0], v[1], v[0]]));
        assert_grads(&[x.clone(), z], |v| Var::concat_rows(&[v[1], v[0]]));
        assert_grads(std::slice::from_ref(&x), |v| v[0].reshape(c, r));
        assert_grads(&[x], |v| v[0].tile_rows(times));
    }
}

proptest! {
    #![proptest_config(common::proptest_config(24))]

    #[test]
    fn fused_bernoulli_log_prob_matches_its_unfused_form((r, c, seed) in shape()) {
        let logits = random(r, c, seed) * 3.0;
        let targets = random(r, c, seed ^ 1).map(|v| 1.0 / (1.0 + (-v).exp()));
        assert_grads(&[logits.clone(), targets.clone()], |v| v[0].bernoulli_log_prob(v[1]));
        let tape = Tape::<f64>::new();
        let (l, x) = (tape.constant(logits), tape.constant(targets));
        let fused = l.bernoulli_log_prob(x).value();
        let plain = (x * l - l.softplus()).row_sums().value();
        prop_assert!((&*fused - &*plain).abs().max() < 1e-12);
    }

    #[test]
    fn a_reparameterised_draw_is_its_unfused_form_to_the_bit(
        (r, d, seed) in shape(), shared in 0usize..3, particles in 1usize..3,
    ) {
        // μ and ℓ both R x d, ℓ shared (1 x d), or both shared; `particles` draws each.
        let (mean_rows, sd_rows) = [(r, r), (r, 1), (1, 1)][shared];
        let mean = random(mean_rows, d, seed);
        let log_sd = random(sd_rows, d, seed ^ 1) * 0.5;
        assert_grads(&[mean.clone(), log_sd.clone()], |v| draw(v, particles, seed, false));
        // The ops it fuses, on the same noise: the same bits forward and back, on the CPU.
        let run = |unfused: bool| {
            let tape = Tape::<f64>::new();
            let v = [tape.input(mean.clone()), tape.input(log_sd.clone())];
            let z = draw(&v, particles, seed, unfused);
            let grads = tape.backward(weighted_sum(z));
            let bits = |m: &DMatrix<f64>| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (bits(&z.value()), bits(grads.wrt(v[0]).unwrap()), bits(grads.wrt(v[1]).unwrap()))
        };
        prop_assert_eq!(run(false), run(true));
    }

    #[test]
    fn fused_diagonal_gaussian_kl_matches_its_unfused_form((r, d, seed) in shape(), shared in 0usize..16) {
        // Each of μq, ln σq, μp, ln σp is R x d, or 1 x d shared by every row (bit k of `shared`).
        let params: Vec<DMatrix<f64>> = (0..4)
            .map(|k| {
                let rows = if shared >> k & 1 == 1 { 1 } else { r };
                random(rows, d, seed ^ k as u64) * if k % 2 == 1 { 0.5 } else { 2.0 }
            })
            .collect();
        fn normal<'t>(v: &[Var<'t, f64>], k: usize) -> DiagNormal<'t, f64> {
            DiagNormal { mean: v[k], log_sd: v[k + 1] }
        }
        assert_grads(&params, |v| kl_diag(&normal(v, 0), &normal(v, 2)));
        let tape = Tape::<f64>::new();
        let v: Vec<_> = params.iter().map(|m| tape.constant(m.clone())).collect();
        let fused = kl_diag(&normal(&v, 0), &normal(&v, 2)).value();
        let log_ratio = v[1] - v[3];
        let u = (v[0] - v[2]) * (-v[3]).exp();
        let plain = (((log_ratio.scale(2.0)).exp() + u.square()).shift(-1.0).scale(0.5) - log_ratio)
            .row_sums()
            .value();
        prop_assert!((&*fused - &*plain).abs().max() < 1e-12 * (1.0 + plain.abs().max()));
    }
}

#[test]
fn stop_gradient_blocks_the_flow() {
    // d/dx (x * stop(x)) = stop(x): the detached factor contributes nothing.
    let tape = Tape::<f64>::new();
    let x = tape.input(DMatrix::from_row_slice(1, 3, &[1.0, -2.0, 3.0]));
    let y = (x * x.detach()).sum();
    let grads = tape.backward(y);
    assert_eq!(grads.wrt(x).unwrap().as_slice(), &[1.0, -2.0, 3.0]);
}

#[test]
fn logsumexp_is_stable_for_huge_and_minus_infinite_entries() {
    for device in common::devices() {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let x = tape.input(DMatrix::from_row_slice(
            2,
            3,
            &[
                1000.0,
                1000.0,
                f64::NEG_INFINITY,
                0.0,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ],
        ));
        let y = x.row_logsumexp();
        let v = y.value();
        assert!((v[0] - (1000.0 + 2f64.ln())).abs() < 1e-9, "{device}");
        assert!(v[1].abs() < 1e-12, "{device}");
        // A row of −∞ only has log-sum-exp −∞ and passes no gradient (not NaN).
        let all_minus_infinite = x.columns(2, 1).row_logsumexp();
        assert_eq!(all_minus_infinite.value()[1], f64::NEG_INFINITY, "{device}");
        let loss = y.sum() + all_minus_infinite.rows(0, 1).sum();
        let grads = tape.backward(loss);
        let g = grads.wrt(x).unwrap();
        for (got, want) in g.iter().zip([0.5, 1.0, 0.5, 0.0, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-12, "{device}: {g}");
        }
    }
}

#[test]
fn softplus_and_sigmoid_do_not_overflow() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(DMatrix::from_row_slice(1, 3, &[-200.0f32, 0.0, 200.0]));
    let sp = x.softplus().value();
    assert_eq!(sp[0], 0.0);
    assert!((sp[1] - 2f32.ln()).abs() < 1e-6);
    assert_eq!(sp[2], 200.0);
    let s = x.sigmoid().value();
    assert_eq!((s[0], s[1], s[2]), (0.0, 0.5, 1.0));
}

#[test]
fn a_singular_triangular_solve_gives_nan_not_a_panic() {
    for device in common::devices() {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        // Zero only in the last pivot: the first entry alone would solve.
        let l = tape.input(DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 1.0, 0.0]));
        let b = tape.input(DMatrix::from_element(2, 1, 1.0));
        let x = l.solve_lower(b);
        assert!(x.value().iter().all(|v| v.is_nan()), "{device}");
        // The gradients are NaN too, but for L's entries above the diagonal, which the solve
        // does not read.
        let grads = tape.backward(x.sum());
        let gb = grads.wrt(b).expect("a gradient");
        assert!(gb.iter().all(|v| v.is_nan()), "{device}: {gb}");
        let gl = grads.wrt(l).expect("a gradient");
        assert!(gl[(0, 0)].is_nan() && gl[(1, 0)].is_nan() && gl[(1, 1)].is_nan());
        assert_eq!(gl[(0, 1)], 0.0, "{device}: {gl}");
    }
}

#[test]
fn cholesky_factors_the_symmetric_part_and_gives_nan_where_not_positive_definite() {
    for device in common::devices() {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let a = DMatrix::from_row_slice(2, 2, &[4.0, 1.0, 3.0, 5.0]);
        let l = tape.constant(a.clone()).cholesky().value().as_ref().clone();
        let symmetric = (&a + a.transpose()) / 2.0;
        assert!(
            (&l * l.transpose() - symmetric).abs().max() < 1e-12,
            "{device}"
        );
        assert_eq!(l[(0, 1)], 0.0, "{device}");
        let indefinite = tape.input(DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]));
        let factor = indefinite.cholesky();
        assert!(factor.value().iter().all(|v| v.is_nan()), "{device}");
        // Its gradient is NaN too: a fit sees it and skips the step.
        let grads = tape.backward(factor.sum());
        let g = grads.wrt(indefinite).expect("a gradient");
        assert!(g.iter().all(|v| v.is_nan()), "{device}: {g}");
    }
}

#[test]
fn an_evaluation_tape_gives_the_same_values_and_no_gradients() {
    let mut store = elbo::params::ParamStore::<f64>::new();
    let w = store
        .add("w", DMatrix::from_row_slice(1, 3, &[0.5, -1.0, 2.0]))
        .unwrap();
    let x = DMatrix::from_row_slice(2, 3, &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    let loss = |tape: &Tape<f64>| {
        let logits = tape.constant(x.clone()) * tape.param(w);
        let v = logits.bernoulli_log_prob(tape.constant(x.clone())).sum();
        (v.scalar(), tape.backward(v))
    };
    let (trained, grads) = loss(&Tape::with_params(&store));
    let (evaluated, none) = loss(&Tape::for_evaluation(&store));
    assert_eq!(trained, evaluated);
    assert!(grads.param(w).is_some());
    assert!(none.param(w).is_none());
}

#[test]
fn special_functions_agree_with_statrs_and_their_identities() {
    use elbo::special::{digamma, ln_gamma, trigamma};
    for &x in &[
        1e-8, 0.01, 0.3, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 57.3, 1e4, 1e8,
    ] {
        let want = statrs::function::gamma::ln_gamma(x);
        assert!(
            (ln_gamma(x) - want).abs() <= 1e-13 * want.abs().max(1.0),
            "lgamma({x})"
        );
        let want = statrs::function::gamma::digamma(x);
        assert!(
            (digamma(x) - want).abs() <= 1e-12 * want.abs().max(1.0),
            "digamma({x})"
        );
        // ψ'(x) against a central difference of ψ.
        let h = 1e-4 * x;
        let fd = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
        assert!((trigamma(x) - fd).abs() <= 1e-5 * fd.abs(), "trigamma({x})");
    }
    // Γ(n) = (n − 1)!, ψ(1) = −γ, ψ'(1) = π²/6, and the reflections below zero.
    assert!((ln_gamma(6.0) - 120f64.ln()).abs() < 1e-13);
    assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-14);
    assert!((trigamma(1.0) - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-13);
    for &x in &[-0.5, -1.3, -2.7] {
        let pi = std::f64::consts::PI;
        let gamma_product = ln_gamma(x) + ln_gamma(1.0 - x);
        assert!(
            (gamma_product - (pi / (pi * x).sin().abs()).ln()).abs() < 1e-12,
            "{x}"
        );
        assert!(
            (digamma(1.0 - x) - digamma(x) - pi / (pi * x).tan()).abs() < 1e-11,
            "{x}"
        );
    }
    assert_eq!(ln_gamma(0.0), f64::INFINITY);
    assert_eq!(ln_gamma(-3.0), f64::INFINITY);
    assert!(digamma(-2.0).is_nan());
}

#[test]
fn no_rows_broadcast_against_a_row_give_no_rows_and_a_zero_gradient() {
    for device in common::devices() {
        let tape = Tape::new().on_device(device).unwrap();
        let none = tape.input(DMatrix::zeros(0, 3));
        let row = tape.input(DMatrix::from_row_slice(1, 3, &[1.0, -2.0, 0.5]));
        let sum = none + row;
        assert_eq!(sum.shape(), (0, 3), "on {device}");
        let grads = tape.backward((sum * row).sum());
        assert_eq!(
            grads.wrt(row).unwrap(),
            &DMatrix::zeros(1, 3),
            "on {device}"
        );
    }
}

#[test]
fn filled_constants_are_made_where_the_tape_runs_with_every_bit_of_their_value() {
    for device in common::devices() {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        for value in [0.0, -0.0, 2.5, -7.0, f64::INFINITY] {
            let filled = tape.filled(3, 2, value).value();
            assert_eq!(filled.shape(), (3, 2));
            assert!(
                filled.iter().all(|v| v.to_bits() == value.to_bits()),
                "{device}: {value} gave {filled}"
            );
        }
        assert!(
            tape.filled(2, 2, f64::NAN)
                .value()
                .iter()
                .all(|v| v.is_nan())
        );
        assert_eq!(tape.filled(0, 4, 1.0).shape(), (0, 4));
    }
}

#[test]
fn standard_normal_noise_on_the_cpu_and_the_emulated_device_is_the_generators_draws() {
    use elbo::Real;
    let _held = common::exclusive();
    let mut rng = common::rng(9);
    let want = DMatrix::from_fn(4, 3, |_, _| f64::standard_normal(&mut rng));
    for device in [Device::Cpu, Device::Emulated(0)] {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let drawn = tape.standard_normal(4, 3, &mut common::rng(9)).value();
        assert_eq!(*drawn, want, "{device}");
    }
}

#[test]
fn a_slice_past_the_end_or_a_misaligned_concatenation_panics_alike_on_every_device() {
    let message = |device: Device, f: &dyn Fn(&Tape<'_, f64>)| {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tape)))
            .expect_err("a panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let misaligned = |tape: &Tape<'_, f64>| {
        let (a, b) = (
            tape.constant(DMatrix::zeros(2, 3)),
            tape.constant(DMatrix::zeros(3, 3)),
        );
        Var::concat_columns(&[a, b]);
    };
    let stacked = |tape: &Tape<'_, f64>| {
        let (a, b) = (
            tape.constant(DMatrix::zeros(2, 3)),
            tape.constant(DMatrix::zeros(2, 4)),
        );
        Var::concat_rows(&[a, b]);
    };
    for device in common::devices() {
        let concat = message(device, &misaligned);
        assert!(concat.contains("row counts differ"), "{device}: {concat}");
        let concat = message(device, &stacked);
        assert!(
            concat.contains("column counts differ"),
            "{device}: {concat}"
        );
        let past = message(device, &|tape| {
            tape.constant(DMatrix::zeros(4, 6)).columns(5, 2);
        });
        assert!(
            past.contains("past the end") || past.contains("does not fit"),
            "{device}: {past}"
        );
    }
}

#[test]
fn a_scale_by_one_and_a_sum_of_one_term_record_nothing_and_pass_the_gradient_through() {
    // On a GPU each op recorded is a launch forward and one or two back; these are identities.
    for device in common::devices() {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let x = tape.input(DMatrix::from_column_slice(3, 1, &[1.5, -2.0, 0.25]));
        let before = tape.len();
        let y = x
            .scale(1.0)
            .row_sums()
            .row_means()
            .col_sums()
            .col_sums()
            .sum();
        assert_eq!(
            tape.len(),
            before + 1,
            "{device}: only the last sum is recorded"
        );
        let z = y.scale(1.0).sum();
        assert_eq!(tape.len(), before + 1, "{device}");
        assert_eq!(z.scalar(), -0.25);
        let grads = tape.backward(z);
        assert_eq!(
            grads.wrt(x).unwrap().as_slice(),
            &[1.0, 1.0, 1.0],
            "{device}"
        );
        // Anything else is still an op.
        x.scale(2.0);
        assert_eq!(tape.len(), before + 2, "{device}");
    }
}

#[test]
fn a_loss_that_is_a_scaled_sum_has_the_cpus_gradients_to_the_bit_on_every_device() {
    // A device starts its backward walk below such a loss (at the summed value, with the scale
    // as every entry's gradient): the gradients must be those of the whole walk on the CPU.
    let x = DMatrix::from_column_slice(2, 3, &[1.5, -2.0, 0.25, 3.0, -0.0, 7.0]);
    let w = DMatrix::from_column_slice(2, 3, &[0.1, 0.7, -1.3, 2.9, 0.3, -0.6]);
    let one = DMatrix::from_element(1, 1, -1.25);
    fn loss<'t>(case: usize, x: Var<'t, f64>, w: Var<'t, f64>, s: Var<'t, f64>) -> Var<'t, f64> {
        match case {
            0 => (x * w).sum().scale(-3.7),
            1 => x.sum(),
            2 => s.scale(2.5),
            3 => s.sum().scale(0.5),
            _ => x.matmul(w.transpose()).rows(1, 1).columns(0, 1).scale(0.3),
        }
    }
    for case in 0..5 {
        let gradients = |device| {
            let tape = Tape::new().on_device(device).unwrap();
            let vars = [&x, &w, &one].map(|m| tape.input(m.clone()));
            let grads = tape.backward(loss(case, vars[0], vars[1], vars[2]));
            vars.map(|v| {
                grads
                    .wrt(v)
                    .map(|g| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            })
        };
        let host = gradients(Device::Cpu);
        assert!(host.iter().any(Option::is_some), "case {case}: no gradient");
        for device in common::devices() {
            assert_eq!(gradients(device), host, "case {case} on {device}");
        }
    }
    let _held = common::exclusive();
    let tape = Tape::new().on_device(Device::Emulated(0)).unwrap();
    let (xv, wv) = (tape.input(x.clone()), tape.input(w.clone()));
    let grads = tape.backward((xv * wv).sum().scale(-3.7));
    assert_eq!(grads.wrt(xv).unwrap(), &w.map(|v| -3.7 * v));
}

#[test]
fn a_value_read_by_several_products_has_the_cpus_gradient_to_the_bit_on_every_device() {
    // A device adds a product's gradient into what an operand's gradient holds already (one
    // kernel for both); the sums must be the CPU's, which adds each contribution in turn.
    let x = DMatrix::from_fn(4, 3, |i, j| ((i * 5 + j * 3) % 7) as f64 / 3.0 - 1.0);
    let w = DMatrix::from_fn(2, 3, |i, j| ((i * 2 + j) % 5) as f64 / 2.0 - 0.7);
    fn loss<'t>(case: usize, x: Var<'t, f64>, w: Var<'t, f64>) -> Var<'t, f64> {
        match case {
            // Both operands one node.
            0 => weighted_sum(x.matmul(x.transpose())),
            // A weight read by two products, and by an elementwise op first.
            1 => {
                weighted_sum(x.matmul(w.transpose()) + x.matmul(w.transpose()).exp())
                    + (w * w).sum()
            }
            // Two heads of one hidden layer, as a VAE's encoder has.
            _ => {
                let h = x.matmul(w.transpose()).tanh();
                let b = h.tape().constant(DMatrix::from_element(1, 3, 0.25));
                weighted_sum(h.affine(w, b)) + weighted_sum(h.affine(w.scale(-1.5), b))
            }
        }
    }
    for case in 0..3 {
        let gradients = |device| {
            let tape = Tape::new().on_device(device).unwrap();
            let vars = [&x, &w].map(|m| tape.input(m.clone()));
            let grads = tape.backward(loss(case, vars[0], vars[1]));
            vars.map(|v| {
                grads
                    .wrt(v)
                    .map(|g| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            })
        };
        let host = gradients(Device::Cpu);
        for device in common::devices() {
            assert_eq!(gradients(device), host, "case {case} on {device}");
        }
    }
    let check = GradCheck::default();
    for case in 0..3 {
        for device in common::devices() {
            let check = GradCheck { device, ..check };
            let report =
                check_gradients(&[x.clone(), w.clone()], check, |v| loss(case, v[0], v[1]));
            assert!(report.passed(TOL), "case {case} on {device}: {report:?}");
        }
    }
}
