//! The kernel contract every backend is held to: each kernel of [`Backend`] against a plain
//! definition computed in f64 on the host, on awkward shapes (single rows and columns, every
//! broadcast, lengths that are no power of two). The CPU backend runs it in every test run; the
//! GPU backend where a GPU is present.

use super::{AdamSlot, Backend};
use crate::ops::{AdamUpdate, BinaryOp, Concat, Conv2d, Grid, Reduce, UnaryCase, UnaryOp};
use crate::ops::{DrawParts, NormalPair};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// Runs the whole contract on `b`; `tol` bounds the relative error of a kernel's entries
/// (against max(1, |reference|)).
pub(crate) fn check_contract<T: Real, B: Backend<T>>(b: &B, tol: f64) {
    eprintln!("checking the kernel contract on {}", b.device());
    let mut rng = Pcg64::seed_from_u64(17);
    products(b, &mut rng, tol);
    unary_maps(b, &mut rng, tol);
    binary_maps(b, &mut rng, tol);
    reductions(b, &mut rng, tol);
    bernoulli(b, &mut rng, tol);
    normal_kl(b, &mut rng, tol);
    normal_draws_reparameterised(b, &mut rng, tol);
    non_finite(b, &mut rng);
    adam(b, &mut rng, tol);
    gather(b, &mut rng);
    fills(b);
    tiles(b, &mut rng, tol);
    grids(b, &mut rng);
    triangles(b, &mut rng, tol);
    convolutions(b, &mut rng, tol);
    normal_draws(b);
    uniform_draws(b);
    replacements(b);
}

/// A plain definition of one entry's value, from one or two inputs.
type Binary = fn(f64, f64) -> f64;
/// The same, from the four parameters of a KL term.
type OfNormalPair = fn(f64, f64, f64, f64) -> f64;

fn random(rng: &mut Pcg64, rows: usize, cols: usize, low: f64, high: f64) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(low..high))
}

fn up<T: Real, B: Backend<T>>(b: &B, m: &DMatrix<f64>) -> B::Matrix {
    b.upload(&m.map(T::of_f64)).expect("upload")
}

fn down<T: Real, B: Backend<T>>(b: &B, m: &B::Matrix) -> DMatrix<f64> {
    b.download(m).expect("download").map(|v| v.to_f64())
}

/// Entries of `got` within `tol` of `want`, relative to max(1, |want|); equal infinities pass.
fn assert_close(what: &str, got: &DMatrix<f64>, want: &DMatrix<f64>, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (k, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let ok = if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol * w.abs().max(1.0)
        };
        assert!(ok, "{what}: entry {k} is {g}, expected {w}");
    }
}

fn products<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 2),
        (37, 64, 19),
        (1, 300, 7),
        (130, 1, 9),
        (4, 0, 3),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = random(
                rng,
                if ta { k } else { m },
                if ta { m } else { k },
                -1.0,
                1.0,
            );
            let bm = random(
                rng,
                if tb { n } else { k },
                if tb { k } else { n },
                -1.0,
                1.0,
            );
            let (oa, ob) = (
                if ta { a.transpose() } else { a.clone() },
                if tb { bm.transpose() } else { bm.clone() },
            );
            let want = DMatrix::from_fn(m, n, |i, j| (0..k).map(|l| oa[(i, l)] * ob[(l, j)]).sum());
            let got = b.matmul(&up(b, &a), ta, &up(b, &bm), tb).expect("matmul");
            assert_close(
                &format!("matmul {m}x{k}x{n} {ta} {tb}"),
                &down(b, &got),
                &want,
                tol,
            );
            // The same product added to a sum already there (nothing added for k = 0); not
            // drawn from `rng`, whose later draws the other checks' tolerances were set on.
            let before = DMatrix::from_fn(m, n, |i, j| ((i * 7 + j * 3) % 5) as f64 / 4.0 - 0.5);
            let mut acc = up(b, &before);
            b.matmul_add(&mut acc, &up(b, &a), ta, &up(b, &bm), tb)
                .expect("matmul_add");
            assert_close(
                &format!("matmul_add {m}x{k}x{n} {ta} {tb}"),
                &down(b, &acc),
                &(&before + &want),
                tol,
            );
        }
    }
    for (m, k, n) in [(1, 3, 2), (130, 784, 20), (0, 4, 3)] {
        let (x, w, bias) = (
            random(rng, m, k, -1.0, 1.0),
            random(rng, k, n, -1.0, 1.0),
            random(rng, 1, n, -1.0, 1.0),
        );
        let want = DMatrix::from_fn(m, n, |i, j| {
            bias[j] + (0..k).map(|l| x[(i, l)] * w[(l, j)]).sum::<f64>()
        });
        let got = b
            .affine(&up(b, &x), &up(b, &w), &up(b, &bias))
            .expect("affine");
        assert_close(
            &format!("affine {m}x{k}x{n}"),
            &down(b, &got),
            &want,
            tol * 10.0,
        );
    }
    let a = random(rng, 5, 3, -1.0, 1.0);
    let t = b.transpose(&up(b, &a)).expect("transpose");
    let exact = a.map(|v| T::of_f64(v).to_f64());
    assert_close("transpose", &down(b, &t), &exact.transpose(), 0.0);
}

fn unary_maps<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    // Every entry of the table of unary maps (`ops/unary.rs`), with its reference definition
    // and the inputs where it is defined and smooth.
    for case in UnaryOp::<T>::cases() {
        let UnaryCase {
            op,
            reference,
            slope,
            inputs: (low, high),
        } = case;
        let p = op.parameter();
        let f = |x: f64| reference(x, p);
        // Away from the kinks at 0, where the finite differences below would straddle them.
        let x = random(rng, 7, 5, low, high).map(|v| if v.abs() < 0.05 { v + 0.1 } else { v });
        let g = random(rng, 7, 5, -1.0, 1.0);
        let (xd, gd) = (up(b, &x), up(b, &g));
        let y = b.unary(op, &xd).expect("unary");
        assert_close(&format!("{op:?}"), &down(b, &y), &x.map(f), tol);
        // The derivative by central differences, or as the table gives it (straight through).
        let h = 1e-6;
        let slope = |v: f64| match slope {
            Some(slope) => slope(v, p),
            None => (f(v + h) - f(v - h)) / (2.0 * h),
        };
        let want = g.zip_map(&x, |g, v| g * slope(v));
        let got = b.unary_vjp(op, &xd, &y, gd).expect("unary_vjp");
        assert_close(&format!("{op:?}'"), &down(b, &got), &want, tol.max(1e-5));
    }
}

fn broadcast_entry(m: &DMatrix<f64>, i: usize, j: usize) -> f64 {
    m[(
        if m.nrows() == 1 { 0 } else { i },
        if m.ncols() == 1 { 0 } else { j },
    )]
}

/// `m` summed down to `shape` over the axes it was broadcast along.
fn reduce_to(m: &DMatrix<f64>, shape: (usize, usize)) -> DMatrix<f64> {
    let mut out = DMatrix::zeros(shape.0, shape.1);
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            out[(i.min(shape.0 - 1), j.min(shape.1 - 1))] += m[(i, j)];
        }
    }
    out
}

fn binary_maps<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    let shapes = [
        ((4, 3), (4, 3)),
        ((4, 3), (1, 3)),
        ((4, 3), (4, 1)),
        ((4, 3), (1, 1)),
        ((1, 3), (4, 1)),
        ((1, 1), (5, 2)),
        ((1, 70), (1, 70)),
    ];
    for (sa, sb) in shapes {
        let (r, c) = (sa.0.max(sb.0), sa.1.max(sb.1));
        let a = random(rng, sa.0, sa.1, 0.5, 2.0);
        let bm = random(rng, sb.0, sb.1, 0.5, 2.0);
        let g = random(rng, r, c, -1.0, 1.0);
        let (ad, bd, gd) = (up(b, &a), up(b, &bm), up(b, &g));
        for (op, f) in [
            (BinaryOp::Add, (|x, y| x + y) as Binary),
            (BinaryOp::Sub, |x, y| x - y),
            (BinaryOp::Mul, |x, y| x * y),
            (BinaryOp::Div, |x, y| x / y),
        ] {
            let what = format!("{op:?} {sa:?} {sb:?}");
            let want = DMatrix::from_fn(r, c, |i, j| {
                f(broadcast_entry(&a, i, j), broadcast_entry(&bm, i, j))
            });
            let y = b.binary(op, &ad, &bd).expect("binary");
            assert_close(&what, &down(b, &y), &want, tol);
            // ∂y/∂a and ∂y/∂b by entry, times g, summed back to each operand's shape.
            let (da, db): (Binary, Binary) = match op {
                BinaryOp::Add => (|_, _| 1.0, |_, _| 1.0),
                BinaryOp::Sub => (|_, _| 1.0, |_, _| -1.0),
                BinaryOp::Mul => (|_, y| y, |x, _| x),
                BinaryOp::Div => (|_, y| 1.0 / y, |x, y| -x / (y * y)),
            };
            let partial = |d: Binary| {
                DMatrix::from_fn(r, c, |i, j| {
                    g[(i, j)] * d(broadcast_entry(&a, i, j), broadcast_entry(&bm, i, j))
                })
            };
            let (ga, gb) = b
                .binary_vjp(op, [&ad, &bd, &y, &gd], (true, true))
                .expect("binary_vjp");
            let (ga, gb) = (ga.expect("asked for"), gb.expect("asked for"));
            assert_close(
                &format!("{what} ∂a"),
                &down(b, &ga),
                &reduce_to(&partial(da), sa),
                tol,
            );
            assert_close(
                &format!("{what} ∂b"),
                &down(b, &gb),
                &reduce_to(&partial(db), sb),
                tol,
            );
            let (none, _) = b
                .binary_vjp(op, [&ad, &bd, &y, &gd], (false, true))
                .unwrap();
            assert!(none.is_none(), "{what}: a gradient nobody asked for");
        }
    }
}

fn reductions<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    for (r, c) in [(1, 1), (1, 7), (7, 1), (33, 5), (2000, 3), (3, 1500)] {
        // Offsets far from 0: a sum accumulated in the element type would lose digits.
        let x = random(rng, r, c, 99.0, 101.0);
        let xd = up(b, &x);
        for (how, shape) in [
            (Reduce::All, (1, 1)),
            (Reduce::EachRow, (r, 1)),
            (Reduce::EachColumn, (1, c)),
        ] {
            let what = format!("{how:?} of {r}x{c}");
            let sums = b.sum(&xd, how).expect("sum");
            assert_close(
                &format!("sum {what}"),
                &down(b, &sums),
                &reduce_to(&x, shape),
                tol,
            );
            // log Σ e^x, shifted by the slot's maximum.
            let shifted = x.map(|v| (v - 101.0).exp());
            let want = reduce_to(&shifted, shape).map(|s| s.ln() + 101.0);
            let lse = b.logsumexp(&xd, how).expect("logsumexp");
            assert_close(&format!("logsumexp {what}"), &down(b, &lse), &want, tol);
            let g = random(rng, shape.0, shape.1, -1.0, 1.0);
            let gd = up(b, &g);
            let spread = DMatrix::from_fn(r, c, |i, j| broadcast_entry(&g, i, j));
            let got = b.sum_vjp(&gd, (r, c)).expect("sum_vjp");
            assert_close(&format!("sum' {what}"), &down(b, &got), &spread, tol);
            let got = b.logsumexp_vjp(how, &xd, &lse, &gd).expect("logsumexp_vjp");
            let weights = DMatrix::from_fn(r, c, |i, j| {
                (x[(i, j)] - broadcast_entry(&want, i, j)).exp()
            });
            assert_close(
                &format!("logsumexp' {what}"),
                &down(b, &got),
                &spread.component_mul(&weights),
                tol,
            );
            let back = b.unbroadcast(&up(b, &spread), shape).expect("unbroadcast");
            assert_close(
                &format!("unbroadcast {what}"),
                &down(b, &back),
                &reduce_to(&spread, shape),
                tol,
            );
        }
    }
    // A column of −∞ has log-sum-exp −∞; a +∞ entry makes it +∞.
    let x = DMatrix::from_column_slice(
        2,
        2,
        &[f64::NEG_INFINITY, f64::NEG_INFINITY, 1.0, f64::INFINITY],
    );
    let lse = b
        .logsumexp(&up(b, &x), Reduce::EachColumn)
        .expect("logsumexp");
    assert_close(
        "logsumexp of infinities",
        &down(b, &lse),
        &DMatrix::from_row_slice(1, 2, &[f64::NEG_INFINITY, f64::INFINITY]),
        0.0,
    );
    // And no gradient through those slots (not the NaN of e^(−∞ + ∞)).
    let g = up(b, &DMatrix::from_row_slice(1, 2, &[1.0, 1.0]));
    let back = b
        .logsumexp_vjp(Reduce::EachColumn, &up(b, &x), &lse, &g)
        .expect("logsumexp_vjp");
    assert_close(
        "logsumexp' of infinities",
        &down(b, &back),
        &DMatrix::zeros(2, 2),
        0.0,
    );
}

fn bernoulli<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    for (r, c) in [(1, 1), (5, 784), (130, 3), (300, 37), (3, 0)] {
        let l = random(rng, r, c, -30.0, 30.0);
        let x = random(rng, r, c, 0.0, 1.0);
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        let terms = l.zip_map(&x, |l, x| x * l - l.exp().ln_1p());
        let (value, residual) = b
            .bernoulli_logits(&up(b, &l), &up(b, &x), true)
            .expect("bernoulli");
        assert_close(
            "bernoulli",
            &down(b, &value),
            &reduce_to(&terms, (r, 1)),
            tol,
        );
        let want = x.zip_map(&l, |x, l| x - sigmoid(l));
        assert_close(
            "bernoulli residual",
            &down(b, &residual.expect("asked for")),
            &want,
            tol,
        );
        let (again, none) = b.bernoulli_logits(&up(b, &l), &up(b, &x), false).unwrap();
        assert!(none.is_none(), "a residual nobody asked for");
        assert_same_bits::<T>("bernoulli, run again", &down(b, &again), &down(b, &value));
    }
}

/// The KL term between diagonal Gaussians and its derivatives, each parameter R x d or shared
/// (1 x d), against the plain formula entry by entry.
fn normal_kl<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    // Rows of μq, ln σq, μp, ln σp, and the width.
    let cases = [
        ([130, 130, 1, 1], 20),
        ([5, 5, 5, 5], 3),
        ([1, 7, 7, 1], 4),
        ([1, 1, 1, 1], 9),
        ([300, 1, 300, 300], 37),
        ([6, 6, 1, 1], 0),
    ];
    for (rows, d) in cases {
        let r = rows.into_iter().max().unwrap();
        let params = rows.map(|ri| random(rng, ri, d, -1.5, 1.5));
        let g = random(rng, r, 1, -1.0, 1.0);
        let on: Vec<_> = params.iter().map(|m| up(b, m)).collect();
        let refs = [&on[0], &on[1], &on[2], &on[3]];
        let what = format!("diag_normal_kl {rows:?} x {d}");
        let at = |k: usize, i: usize, j: usize| broadcast_entry(&params[k], i, j);
        let term = |i: usize, j: usize| {
            let (log_ratio, u) = (
                at(1, i, j) - at(3, i, j),
                (at(0, i, j) - at(2, i, j)) / at(3, i, j).exp(),
            );
            0.5 * ((2.0 * log_ratio).exp() + u * u - 1.0) - log_ratio
        };
        let want = reduce_to(
            &DMatrix::from_fn(r, d.max(1), |i, j| if d == 0 { 0.0 } else { term(i, j) }),
            (r, 1),
        );
        let kl = b.diag_normal_kl(refs).expect("diag_normal_kl");
        assert_close(&what, &down(b, &kl), &want, tol);
        let partials: [OfNormalPair; 4] = [
            |mq, _, mp, lp| (mq - mp) / (2.0 * lp).exp(),
            |_, lq, _, lp| (2.0 * (lq - lp)).exp() - 1.0,
            |mq, _, mp, lp| -(mq - mp) / (2.0 * lp).exp(),
            |mq, lq, mp, lp| 1.0 - (2.0 * (lq - lp)).exp() - ((mq - mp) / lp.exp()).powi(2),
        ];
        for need in [
            [true; 4],
            [false, true, false, true],
            [true, false, false, false],
            [false; 4],
        ] {
            let grads = b
                .diag_normal_kl_vjp(refs, &up(b, &g), need)
                .expect("diag_normal_kl_vjp");
            for (k, grad) in grads.into_iter().enumerate() {
                let Some(grad) = grad else {
                    assert!(!need[k], "{what}: parameter {k}'s gradient missing");
                    continue;
                };
                assert!(need[k], "{what}: a gradient nobody asked for");
                let full = DMatrix::from_fn(r, d, |i, j| {
                    g[(i, 0)] * partials[k](at(0, i, j), at(1, i, j), at(2, i, j), at(3, i, j))
                });
                let want = if d == 0 {
                    DMatrix::zeros(rows[k], 0)
                } else {
                    reduce_to(&full, (rows[k], d))
                };
                assert_close(&format!("{what} ∂{k}"), &down(b, &grad), &want, tol);
            }
        }
    }
}

/// The reparameterised draw μ + e^ℓ ε and its derivatives, each operand R x d or shared (1 x d),
/// against the plain formula entry by entry.
fn normal_draws_reparameterised<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    // Rows of μ, ℓ, ε, and the width.
    let cases = [
        ([130, 130, 130], 20),
        ([4, 1, 4], 3),
        ([1, 1, 6], 5),
        ([300, 300, 1], 37),
        ([6, 6, 6], 0),
    ];
    for (rows, d) in cases {
        let r = rows.into_iter().max().unwrap();
        let parts = rows.map(|ri| random(rng, ri, d, -1.5, 1.5));
        let g = random(rng, r, d, -1.0, 1.0);
        let on: Vec<_> = parts.iter().map(|m| up(b, m)).collect();
        let refs = [&on[0], &on[1], &on[2]];
        let what = format!("normal_draw {rows:?} x {d}");
        let at = |k: usize, i: usize, j: usize| broadcast_entry(&parts[k], i, j);
        let want = DMatrix::from_fn(r, d, |i, j| at(0, i, j) + at(1, i, j).exp() * at(2, i, j));
        let z = b.normal_draw(refs).expect("normal_draw");
        assert_close(&what, &down(b, &z), &want, tol);
        let partials: [Binary; 3] = [|_, _| 1.0, |l, e| l.exp() * e, |l, _| l.exp()];
        for need in [
            [true; 3],
            [false, true, false],
            [true, false, false],
            [false; 3],
        ] {
            let grads = b
                .normal_draw_vjp(refs, &up(b, &g), need)
                .expect("normal_draw_vjp");
            for (k, grad) in grads.into_iter().enumerate() {
                let Some(grad) = grad else {
                    assert!(!need[k], "{what}: operand {k}'s gradient missing");
                    continue;
                };
                assert!(need[k], "{what}: a gradient nobody asked for");
                let full = DMatrix::from_fn(r, d, |i, j| {
                    g[(i, j)] * partials[k](at(1, i, j), at(2, i, j))
                });
                let want = if d == 0 {
                    DMatrix::zeros(rows[k], 0)
                } else {
                    reduce_to(&full, (rows[k], d))
                };
                assert_close(&format!("{what} ∂{k}"), &down(b, &grad), &want, tol);
            }
        }
    }
}

fn non_finite<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64) {
    let finite = [
        random(rng, 3, 4, -1e30, 1e30),
        random(rng, 600, 7, -1.0, 1.0),
    ];
    let total = |xs: &[DMatrix<f64>]| {
        let on: Vec<_> = xs.iter().map(|x| up(b, x)).collect();
        let refs: Vec<_> = on.iter().collect();
        down(b, &b.non_finite_total(&refs).expect("non_finite_total"))[(0, 0)]
    };
    assert_eq!(total(&finite), 0.0, "finite entries flagged");
    assert_eq!(total(&[]), 0.0, "nothing flagged");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut last = finite[1].clone();
        last[(599, 6)] = bad;
        let flagged = total(&[finite[0].clone(), last]);
        assert!(flagged != 0.0, "{bad} not flagged: {flagged}");
    }
}

/// One Adam update of a parameter, by the plain formula: the new (p, m, v).
fn adam_by_hand([p, m, v, g]: [&DMatrix<f64>; 4]) -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let m1 = m.zip_map(g, |m, g| 0.9 * m + 0.1 * g);
    let v1 = v.zip_map(g, |v, g| 0.999 * v + 0.001 * g * g);
    let p1 = DMatrix::from_fn(p.nrows(), p.ncols(), |i, j| {
        p[(i, j)] - 0.01 * m1[(i, j)] / (v1[(i, j)].sqrt() + 1e-8)
    });
    (p1, m1, v1)
}

fn adam<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    let update = AdamUpdate {
        beta1: T::of_f64(0.9),
        beta2: T::of_f64(0.999),
        epsilon: T::of_f64(1e-8),
        step: T::of_f64(0.01),
    };
    // One parameter, then 21 of assorted shapes at once (more than a launch's 16 on a GPU,
    // an empty one among them).
    let shapes: Vec<(usize, usize)> = std::iter::once((9, 4))
        .chain((0..21).map(|k| match k {
            3 => (0, 3),
            7 => (300, 37),
            _ => (1 + k % 5, 1 + k % 3),
        }))
        .collect();
    let params: Vec<[DMatrix<f64>; 4]> = shapes
        .iter()
        .map(|&(r, c)| {
            [
                random(rng, r, c, -1.0, 1.0),
                random(rng, r, c, -0.1, 0.1),
                random(rng, r, c, 0.0, 0.01),
                random(rng, r, c, -1.0, 1.0),
            ]
        })
        .collect();
    let mut on: Vec<[B::Matrix; 4]> = params
        .iter()
        .map(|ms| ms.each_ref().map(|m| up(b, m)))
        .collect();
    let (one, many) = on.split_at_mut(1);
    let [p, m, v, g] = &mut one[0];
    b.adam(update, p, m, v, g).expect("adam");
    let mut slots: Vec<AdamSlot<'_, B::Matrix>> = many
        .iter_mut()
        .map(|[param, first, second, grad]| AdamSlot {
            param,
            first,
            second,
            grad,
        })
        .collect();
    b.adam_all(update, &mut slots).expect("adam_all");
    for (k, (before, after)) in params.iter().zip(&on).enumerate() {
        let (p1, m1, v1) = adam_by_hand(before.each_ref());
        assert_close(
            &format!("adam m, parameter {k}"),
            &down(b, &after[1]),
            &m1,
            tol,
        );
        assert_close(
            &format!("adam v, parameter {k}"),
            &down(b, &after[2]),
            &v1,
            tol,
        );
        assert_close(
            &format!("adam p, parameter {k}"),
            &down(b, &after[0]),
            &p1,
            tol,
        );
    }
}

fn gather<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64) {
    let data_t = random(rng, 6, 50, -1.0, 1.0);
    let indices = [49, 0, 7, 7, 23];
    let got = b
        .gather_rows_of_transpose(&up(b, &data_t), &indices)
        .expect("gather");
    let want = DMatrix::from_fn(indices.len(), 6, |i, d| data_t[(d, indices[i])]);
    assert_close(
        "gather",
        &down(b, &got),
        &want.map(|v| T::of_f64(v).to_f64()),
        0.0,
    );
}

/// Reshapes, stacked copies of rows and their vector-Jacobian product (the sum of the copies).
fn tiles<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    let a = random(rng, 3, 4, -1.0, 1.0);
    let reshaped = b.reshape(up(b, &a), 6, 2);
    assert_eq!(b.shape(&reshaped), (6, 2));
    let exact = a.map(|v| T::of_f64(v).to_f64());
    assert_eq!(down(b, &reshaped).as_slice(), exact.as_slice(), "reshape");
    for (r, c, times) in [(1, 1, 1), (1, 5, 7), (4, 1, 3), (3, 4, 1), (5, 3, 6)] {
        // A −0 among the entries: a copy keeps its sign.
        let x = random(rng, r, c, -1.0, 1.0).map(|v| if v.abs() < 0.1 { -0.0 } else { v });
        let exact = x.map(|v| T::of_f64(v).to_f64());
        let tiled = down(b, &b.tile_rows(&up(b, &x), times).expect("tile"));
        let want = DMatrix::from_fn(r * times, c, |i, j| exact[(i % r, j)]);
        assert_eq!(tiled.shape(), want.shape(), "tile {r}x{c} {times} times");
        let same_bits = tiled
            .iter()
            .zip(want.iter())
            .all(|(g, w)| g.to_bits() == w.to_bits());
        assert!(
            same_bits,
            "tile {r}x{c} {times} times: {tiled} against {want}"
        );
        let g = random(rng, r * times, c, -1.0, 1.0);
        let want = DMatrix::from_fn(r, c, |i, j| (0..times).map(|k| g[(k * r + i, j)]).sum());
        let summed = b.untile_rows(&up(b, &g), times).expect("untile");
        assert_close(
            &format!("untile {r}x{c} {times} times"),
            &down(b, &summed),
            &want,
            tol,
        );
    }
}

/// Asserts `got` holds exactly the entries of `want` (rounded to `T`), sign of zero included.
fn assert_same_bits<T: Real>(what: &str, got: &DMatrix<f64>, want: &DMatrix<f64>) {
    let want = want.map(|v| T::of_f64(v).to_f64());
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let same = got
        .iter()
        .zip(want.iter())
        .all(|(g, w)| g.to_bits() == w.to_bits());
    assert!(same, "{what}: {got} against {want}");
}

/// Constants made on the device: every entry the value, to the bit (−0 and NaN too), in shapes
/// with a single entry, none, and more than one launch's worth.
fn fills<T: Real, B: Backend<T>>(b: &B) {
    for (rows, cols) in [(1, 1), (3, 0), (0, 4), (7, 5), (1, 70_001)] {
        for value in [0.0, -0.0, 1.0, -2.5, f64::NAN, f64::INFINITY] {
            let got = down(b, &b.filled(rows, cols, T::of_f64(value)).expect("filled"));
            let want = DMatrix::from_element(rows, cols, value);
            assert_same_bits::<T>(&format!("{rows} x {cols} filled with {value}"), &got, &want);
        }
    }
}

/// Blocks, their embedding, concatenation both ways and diagonals: copies, exact to the bit.
fn grids<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64) {
    let m = random(rng, 5, 7, -1.0, 1.0).map(|v| if v.abs() < 0.1 { -0.0 } else { v });
    let dm = up(b, &m);
    for (at, shape) in [
        ((0, 0), (5, 7)),
        ((2, 3), (3, 4)),
        ((4, 6), (1, 1)),
        ((1, 2), (0, 3)),
    ] {
        let what = format!("block {shape:?} at {at:?}");
        let got = down(b, &b.block(&dm, at, shape).expect("block"));
        assert_same_bits::<T>(&what, &got, &m.view(at, shape).into_owned());
        let g = random(rng, shape.0, shape.1, -1.0, 1.0);
        let embedded = down(b, &b.embed(&up(b, &g), (5, 7), at).expect("embed"));
        let mut want = DMatrix::zeros(5, 7);
        want.view_mut(at, shape).copy_from(&g);
        assert_same_bits::<T>(&format!("embed {shape:?} at {at:?}"), &embedded, &want);
    }
    // Parts 2, 1 and 4 wide (or deep), written out entry by entry.
    for how in [Concat::Columns, Concat::Rows] {
        let sizes = [2, 1, 4];
        let shape_of = |n| {
            if how == Concat::Columns {
                (5, n)
            } else {
                (n, 5)
            }
        };
        let parts = sizes.map(|n| random(rng, shape_of(n).0, shape_of(n).1, -1.0, 1.0));
        let on_device: Vec<_> = parts.iter().map(|p| up(b, p)).collect();
        let refs: Vec<_> = on_device.iter().collect();
        let got = down(b, &b.concat(&refs, how).expect("concat"));
        let (part_of, at) = ([0, 0, 1, 2, 2, 2, 2], [0, 2, 3]);
        let want = if how == Concat::Columns {
            DMatrix::from_fn(5, 7, |i, j| parts[part_of[j]][(i, j - at[part_of[j]])])
        } else {
            DMatrix::from_fn(7, 5, |i, j| parts[part_of[i]][(i - at[part_of[i]], j)])
        };
        assert_same_bits::<T>(&format!("concat {how:?}"), &got, &want);
    }
    for n in [1, 4, 33] {
        let square = random(rng, n, n, -1.0, 1.0);
        let diagonal = down(b, &b.diagonal(&up(b, &square)).expect("diagonal"));
        let want = DMatrix::from_fn(n, 1, |i, _| square[(i, i)]);
        assert_same_bits::<T>(&format!("diagonal of {n}x{n}"), &diagonal, &want);
        for v in [random(rng, n, 1, -1.0, 1.0), random(rng, 1, n, -1.0, 1.0)] {
            let got = down(b, &b.diagonal_matrix(&up(b, &v)).expect("diagonal_matrix"));
            let want = DMatrix::from_fn(n, n, |i, j| if i == j { v[i] } else { 0.0 });
            assert_same_bits::<T>(&format!("diagonal matrix of {n}"), &got, &want);
        }
    }
}

/// The patches of a convolution (im2col) to the bit, and their adjoint (col2im) as sums, against
/// the loops written out, on strided and padded geometries; and the three-axis grid copy that
/// reorders a convolution's output.
fn convolutions<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    let geometries = [
        (2, 5, 4, 3, 3, 2, 1),
        (1, 6, 6, 2, 2, 2, 0),
        (3, 4, 5, 1, 1, 1, 0),
    ];
    for (in_channels, height, width, out_channels, kernel, stride, padding) in geometries {
        let g = Conv2d {
            in_channels,
            height,
            width,
            out_channels,
            kernel,
            stride,
            padding,
        };
        let (images, (oh, ow), k) = (3, (g.out_height(), g.out_width()), kernel);
        let x = random(rng, images, g.input_len(), -1.0, 1.0);
        // Pixel (c, row, col) of image b, or 0 on the padding, for patch entry (b, y, x, c, i, j).
        let read = |b: usize, y: usize, xo: usize, c: usize, i: usize, j: usize| {
            let (row, col) = ((y * stride + i) as isize, (xo * stride + j) as isize);
            let (row, col) = (row - padding as isize, col - padding as isize);
            let inside = row >= 0 && col >= 0 && row < height as isize && col < width as isize;
            inside
                .then(|| (c * height + row as usize) * width + col as usize)
                .map(|source| (b, source))
        };
        let mut want = DMatrix::zeros(images * oh * ow, in_channels * k * k);
        let mut adjoint = DMatrix::zeros(images, g.input_len());
        let patches_g = random(rng, images * oh * ow, in_channels * k * k, -1.0, 1.0);
        for bi in 0..images {
            for (y, xo, c, i, j) in patch_entries(oh, ow, in_channels, k) {
                let (r, column) = (bi * oh * ow + y * ow + xo, (c * k + i) * k + j);
                if let Some(at) = read(bi, y, xo, c, i, j) {
                    want[(r, column)] = x[at];
                    adjoint[at] += patches_g[(r, column)];
                }
            }
        }
        let got = down(b, &b.im2col(&up(b, &x), g).expect("im2col"));
        assert_same_bits::<T>(&format!("im2col {g:?}"), &got, &want);
        let got = down(b, &b.col2im(&up(b, &patches_g), g, images).expect("col2im"));
        assert_close(&format!("col2im {g:?}"), &got, &adjoint, tol * 10.0);
    }
    // Entry (i, j, l) of a 3 x 4 x 2 grid, from a row per (i, j) to a column per (i, j).
    let m = random(rng, 12, 2, -1.0, 1.0);
    let mut out = b.zeros(3, 8).expect("zeros");
    let from = Grid {
        offset: 0,
        steps: [4, 1, 12],
    };
    let to = Grid {
        offset: 0,
        steps: [1, 3, 12],
    };
    b.copy_grid(&up(b, &m), from, &mut out, to, [3, 4, 2])
        .expect("copy_grid");
    let want = DMatrix::from_fn(3, 8, |i, e| m[(i * 4 + e % 4, e / 4)]);
    assert_same_bits::<T>("a three-axis grid", &down(b, &out), &want);
}

/// Every (y, x, c, i, j) of a convolution's patches, in order.
fn patch_entries(
    oh: usize,
    ow: usize,
    channels: usize,
    k: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> {
    (0..oh).flat_map(move |y| {
        (0..ow).flat_map(move |x| {
            (0..channels)
                .flat_map(move |c| (0..k).flat_map(move |i| (0..k).map(move |j| (y, x, c, i, j))))
        })
    })
}

/// Lower triangles, triangular solves with L and Lᵀ against substitution written out, and
/// Cholesky factors against the factorisation written out.
fn triangles<T: Real, B: Backend<T>>(b: &B, rng: &mut Pcg64, tol: f64) {
    for (r, c) in [(4, 4), (3, 6), (6, 2), (1, 1)] {
        let m = random(rng, r, c, -1.0, 1.0);
        for include_diagonal in [true, false] {
            let got = down(
                b,
                &b.lower_triangle(&up(b, &m), include_diagonal)
                    .expect("tril"),
            );
            let keep = |i: usize, j: usize| i > j || (include_diagonal && i == j);
            let want = DMatrix::from_fn(r, c, |i, j| if keep(i, j) { m[(i, j)] } else { 0.0 });
            assert_same_bits::<T>(&format!("lower triangle {r}x{c}"), &got, &want);
        }
    }
    for (n, columns) in [(1, 1), (3, 1), (7, 4), (40, 9), (5, 0)] {
        // Entries above the diagonal are noise the solve must not read; the diagonal is far
        // from zero, so that the solution is well conditioned.
        let mut l = random(rng, n, n, -0.5, 0.5);
        for i in 0..n {
            l[(i, i)] += 1.5;
        }
        let rhs = random(rng, n, columns, -1.0, 1.0);
        for transposed in [false, true] {
            let at = |i: usize, j: usize| if transposed { l[(j, i)] } else { l[(i, j)] };
            let mut want = rhs.clone();
            for k in 0..columns {
                // Forward substitution with L, back substitution with Lᵀ.
                let order: Vec<usize> = if transposed {
                    (0..n).rev().collect()
                } else {
                    (0..n).collect()
                };
                for (step, &i) in order.iter().enumerate() {
                    let done: f64 = order[..step].iter().map(|&j| at(i, j) * want[(j, k)]).sum();
                    want[(i, k)] = (rhs[(i, k)] - done) / at(i, i);
                }
            }
            let got = b
                .solve_lower(&up(b, &l), &up(b, &rhs), transposed)
                .expect("solve");
            let what = format!("solve_lower {n}x{columns} transposed {transposed}");
            assert_close(&what, &down(b, &got), &want, tol * 10.0);
        }
    }
    for n in [1, 3, 7, 40] {
        // A Aᵀ + n I is well conditioned; the noise above the diagonal must not be read.
        let a = random(rng, n, n, -1.0, 1.0);
        let spd = &a * a.transpose() + DMatrix::identity(n, n) * n as f64;
        let mut given = spd.clone();
        for j in 1..n {
            for i in 0..j {
                given[(i, j)] = 1e3;
            }
        }
        // Cholesky–Banachiewicz, row by row.
        let mut want = DMatrix::<f64>::zeros(n, n);
        for i in 0..n {
            for j in 0..=i {
                let done: f64 = (0..j).map(|k| want[(i, k)] * want[(j, k)]).sum();
                want[(i, j)] = if i == j {
                    (spd[(i, i)] - done).sqrt()
                } else {
                    (spd[(i, j)] - done) / want[(j, j)]
                };
            }
        }
        let got = down(b, &b.cholesky(&up(b, &given)).expect("cholesky"));
        assert_close(&format!("cholesky {n}x{n}"), &got, &want, tol * 10.0);
    }
    let mut indefinite = DMatrix::identity(3, 3);
    indefinite[(2, 2)] = -1.0;
    let got = down(b, &b.cholesky(&up(b, &indefinite)).expect("cholesky"));
    assert!(got.iter().all(|v| v.is_nan()), "indefinite: {got}");
    let mut singular = random(rng, 4, 4, 0.5, 1.0);
    singular[(2, 2)] = 0.0;
    for transposed in [false, true] {
        let rhs = random(rng, 4, 3, -1.0, 1.0);
        let got = down(
            b,
            &b.solve_lower(&up(b, &singular), &up(b, &rhs), transposed)
                .unwrap(),
        );
        assert!(got.iter().all(|v| v.is_nan()), "singular solve: {got}");
    }
}

/// Moments of 40,000 draws within 5 standard errors of the standard normal's.
fn normal_draws<T: Real, B: Backend<T>>(b: &B) {
    let draw = |seed| down(b, &b.standard_normal(200, 200, seed).expect("draws"));
    let z = draw(3);
    assert_eq!(z.shape(), (200, 200));
    assert_eq!(z, draw(3), "the same seed must give the same draws");
    assert_ne!(z, draw(4), "another seed must give other draws");
    let n = z.len() as f64;
    let mean = z.sum() / n;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let beyond_two = z.iter().filter(|v| v.abs() > 2.0).count() as f64 / n;
    let p = 0.045_500_26;
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
    assert!(
        (beyond_two - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
        "P(|z| > 2) = {beyond_two}"
    );
    let odd = down(b, &b.standard_normal(3, 7, 5).expect("draws"));
    assert_eq!(odd.shape(), (3, 7));
    assert!(odd.iter().all(|v| v.is_finite()));
}

/// Moments of 40,000 draws uniform on [−1, 3) within 5 standard errors of the law's, and each
/// quarter of the range holding its share.
fn uniform_draws<T: Real, B: Backend<T>>(b: &B) {
    let (low, high) = (-1.0, 3.0);
    let draw = |seed| down(b, &b.uniform(200, 200, (low, high), seed).expect("draws"));
    let u = draw(3);
    assert_eq!(u, draw(3), "the same seed must give the same draws");
    assert_ne!(u, draw(4), "another seed must give other draws");
    assert!(
        u.iter().all(|&v| (low..=high).contains(&v)),
        "a draw outside [{low}, {high})"
    );
    let n = u.len() as f64;
    let mean = u.sum() / n;
    let var = u.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    // Var(u) = (high − low)² / 12 = 4/3; Var((u − μ)²) = (high − low)⁴ / 180.
    assert!(
        (mean - 1.0).abs() < 5.0 * (4.0 / 3.0 / n).sqrt(),
        "mean {mean}"
    );
    assert!(
        (var - 4.0 / 3.0).abs() < 5.0 * (256.0 / 180.0 / n).sqrt(),
        "variance {var}"
    );
    for quarter in 0..4 {
        let edge = low + quarter as f64;
        let share = u.iter().filter(|&&v| v >= edge && v < edge + 1.0).count() as f64 / n;
        assert!(
            (share - 0.25).abs() < 5.0 * (0.25 * 0.75 / n).sqrt(),
            "quarter {quarter}: {share}"
        );
    }
    let odd = down(b, &b.uniform(3, 7, (0.0, 1e-3), 5).expect("draws"));
    assert_eq!(odd.shape(), (3, 7));
    assert!(odd.iter().all(|&v| (0.0..=1e-3).contains(&v)));
}

/// Every row of a replacement has exactly `count` entries replaced, by the two values about
/// equally often, in every column about equally often; the others are the input's.
fn replacements<T: Real, B: Backend<T>>(b: &B) {
    let (rows, cols, count) = (4000, 10, 3);
    // Entries distinct from the replacements, so that a replaced one is seen.
    let x = DMatrix::from_fn(rows, cols, |i, j| 10.0 + (i * cols + j) as f64);
    let (low, high) = (T::of_f64(-2.0), T::of_f64(5.0));
    let replace = |count, range, seed| {
        down(
            b,
            &b.replace_in_rows(&up(b, &x), count, range, seed)
                .expect("replacement"),
        )
    };
    let got = replace(count, (low, high), 7);
    assert_eq!(
        got,
        replace(count, (low, high), 7),
        "the same seed, other draws"
    );
    assert_ne!(
        got,
        replace(count, (low, high), 8),
        "another seed, the same draws"
    );
    let mut per_column = vec![0usize; cols];
    let mut highs = 0usize;
    for i in 0..rows {
        let mut replaced = 0;
        for j in 0..cols {
            match got[(i, j)] {
                v if v == x[(i, j)] => {}
                v if v == -2.0 || v == 5.0 => {
                    replaced += 1;
                    per_column[j] += 1;
                    highs += usize::from(v == 5.0);
                }
                v => panic!("entry ({i}, {j}) is {v}: neither the input nor a replacement"),
            }
        }
        assert_eq!(replaced, count, "row {i}: {replaced} replaced");
    }
    let chosen = (rows * count) as f64;
    let share = highs as f64 / chosen;
    assert!(
        (share - 0.5).abs() < 5.0 * (0.25 / chosen).sqrt(),
        "high {share}"
    );
    // Each column is chosen with probability count / cols in each row.
    let p = count as f64 / cols as f64;
    for (j, &n) in per_column.iter().enumerate() {
        let expected = rows as f64 * p;
        let sd = (rows as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (n as f64 - expected).abs() < 5.0 * sd,
            "column {j}: {n} of {rows}"
        );
    }
    // Masking: one value; none and all of a row.
    let masked = replace(count, (T::zero(), T::zero()), 9);
    assert!(
        masked
            .row_iter()
            .all(|r| r.iter().filter(|&&v| v == 0.0).count() == count)
    );
    assert_eq!(replace(0, (low, high), 9), x);
    assert!(replace(cols, (low, low), 9).iter().all(|&v| v == -2.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn the_cpu_backend_meets_the_contract_in_f64_and_f32() {
        check_contract::<f64, _>(&Cpu, 1e-10);
        check_contract::<f32, _>(&Cpu, 2e-5);
    }

    /// The CPU's required kernels with the contract's default compositions (the affine layer,
    /// copies, broadcast and sum VJPs, stacked rows): what a GPU runs where the CPU has kernels
    /// of its own.
    struct Composed;

    impl<T: Real> Backend<T> for Composed {
        type Matrix = DMatrix<T>;
        type Error = std::convert::Infallible;
        fn device(&self) -> crate::backend::Device {
            crate::backend::Device::Emulated(0)
        }
        fn shape(&self, m: &DMatrix<T>) -> (usize, usize) {
            m.shape()
        }
        fn upload(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.upload(m)
        }
        fn download(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.download(m)
        }
        fn zeros(&self, rows: usize, cols: usize) -> Result<DMatrix<T>, Self::Error> {
            Cpu.zeros(rows, cols)
        }
        fn matmul(
            &self,
            a: &DMatrix<T>,
            ta: bool,
            b: &DMatrix<T>,
            tb: bool,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.matmul(a, ta, b, tb)
        }
        fn transpose(&self, a: &DMatrix<T>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.transpose(a)
        }
        fn reshape(&self, m: DMatrix<T>, rows: usize, cols: usize) -> DMatrix<T> {
            Cpu.reshape(m, rows, cols)
        }
        fn unary(&self, op: UnaryOp<T>, x: &DMatrix<T>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.unary(op, x)
        }
        fn unary_vjp(
            &self,
            op: UnaryOp<T>,
            x: &DMatrix<T>,
            y: &DMatrix<T>,
            g: DMatrix<T>,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.unary_vjp(op, x, y, g)
        }
        fn binary(
            &self,
            op: BinaryOp,
            a: &DMatrix<T>,
            b: &DMatrix<T>,
        ) -> Result<DMatrix<T>, Self::Error> {
            Backend::<T>::binary(&Cpu, op, a, b)
        }
        fn sum(&self, x: &DMatrix<T>, how: Reduce) -> Result<DMatrix<T>, Self::Error> {
            Cpu.sum(x, how)
        }
        fn logsumexp(&self, x: &DMatrix<T>, how: Reduce) -> Result<DMatrix<T>, Self::Error> {
            Cpu.logsumexp(x, how)
        }
        fn logsumexp_vjp(
            &self,
            how: Reduce,
            x: &DMatrix<T>,
            y: &DMatrix<T>,
            g: &DMatrix<T>,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.logsumexp_vjp(how, x, y, g)
        }
        fn bernoulli_logits(
            &self,
            logits: &DMatrix<T>,
            x: &DMatrix<T>,
            residual: bool,
        ) -> Result<(DMatrix<T>, Option<DMatrix<T>>), Self::Error> {
            Cpu.bernoulli_logits(logits, x, residual)
        }
        fn adam(
            &self,
            update: AdamUpdate<T>,
            param: &mut DMatrix<T>,
            first: &mut DMatrix<T>,
            second: &mut DMatrix<T>,
            grad: &DMatrix<T>,
        ) -> Result<(), Self::Error> {
            Cpu.adam(update, param, first, second, grad)
        }
        fn gather_rows_of_transpose(
            &self,
            data_t: &DMatrix<T>,
            indices: &[usize],
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.gather_rows_of_transpose(data_t, indices)
        }
        fn copy_grid(
            &self,
            src: &DMatrix<T>,
            from: Grid,
            dst: &mut DMatrix<T>,
            to: Grid,
            shape: [usize; 3],
        ) -> Result<(), Self::Error> {
            Cpu.copy_grid(src, from, dst, to, shape)
        }
        fn lower_triangle(
            &self,
            m: &DMatrix<T>,
            include_diagonal: bool,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.lower_triangle(m, include_diagonal)
        }
        fn solve_lower(
            &self,
            l: &DMatrix<T>,
            b: &DMatrix<T>,
            transposed: bool,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.solve_lower(l, b, transposed)
        }
        fn cholesky(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.cholesky(m)
        }
        fn im2col(&self, images: &DMatrix<T>, geometry: Conv2d) -> Result<DMatrix<T>, Self::Error> {
            Cpu.im2col(images, geometry)
        }
        fn col2im(
            &self,
            patches: &DMatrix<T>,
            geometry: Conv2d,
            images: usize,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.col2im(patches, geometry, images)
        }
        fn standard_normal(
            &self,
            rows: usize,
            cols: usize,
            seed: u64,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.standard_normal(rows, cols, seed)
        }
        fn uniform(
            &self,
            rows: usize,
            cols: usize,
            range: (f64, f64),
            seed: u64,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.uniform(rows, cols, range, seed)
        }
        fn replace_in_rows(
            &self,
            x: &DMatrix<T>,
            count: usize,
            range: (T, T),
            seed: u64,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.replace_in_rows(x, count, range, seed)
        }
        // The fused ops are each backend's own: no composition to check.
        fn normal_draw(&self, parts: DrawParts<&DMatrix<T>>) -> Result<DMatrix<T>, Self::Error> {
            Cpu.normal_draw(parts)
        }
        fn normal_draw_vjp(
            &self,
            parts: DrawParts<&DMatrix<T>>,
            g: &DMatrix<T>,
            need: [bool; 3],
        ) -> Result<DrawParts<Option<DMatrix<T>>>, Self::Error> {
            Cpu.normal_draw_vjp(parts, g, need)
        }
        fn diag_normal_kl(
            &self,
            params: NormalPair<&DMatrix<T>>,
        ) -> Result<DMatrix<T>, Self::Error> {
            Cpu.diag_normal_kl(params)
        }
        fn diag_normal_kl_vjp(
            &self,
            params: NormalPair<&DMatrix<T>>,
            g: &DMatrix<T>,
            need: [bool; 4],
        ) -> Result<NormalPair<Option<DMatrix<T>>>, Self::Error> {
            Cpu.diag_normal_kl_vjp(params, g, need)
        }
    }

    #[test]
    fn the_default_compositions_meet_the_contract() {
        check_contract::<f64, _>(&Composed, 1e-10);
        check_contract::<f32, _>(&Composed, 2e-5);
    }
}
