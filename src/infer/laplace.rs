//! The Laplace approximation of a global latent's posterior: the mode of log p(x, z), found by
//! Newton's method, and the curvature there. Where a fit should start: at the data's own
//! location and scales, not at zero with unit steps.

use crate::autodiff::Tape;
use crate::error::{Error, Result};
use crate::model::{Likelihood, Prior};
use crate::params::ParamStore;
use crate::prior::unit_diagonal_cholesky;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use std::sync::Arc;

/// A Gaussian approximation N(mode, precision⁻¹) of the posterior of a global latent, with the
/// precision the negative Hessian of log p(x, z) at the mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Laplace {
    /// The mode of log p(x, z) (of the posterior).
    pub mode: DVector<f64>,
    /// −∇² log p(x, z) at the mode (central differences of the tape's gradients).
    pub precision: DMatrix<f64>,
    /// log p(x, mode).
    pub log_joint: f64,
    /// The Laplace estimate of log p(x): log p(x, mode) + (d/2) ln 2π − ½ ln det precision;
    /// exact when the posterior is Gaussian.
    pub log_evidence: f64,
    /// Newton iterations taken.
    pub iterations: usize,
    /// True if Newton's decrement fell below [`NEWTON_TOLERANCE`] nats, or below 4 units in the
    /// last place of log p(x, mode) where those are more (in f32 over large data): the mode was
    /// found to the precision of the arithmetic. False if the iterations ran out, or the line search
    /// could not climb further (the approximation is then a start, not a result).
    pub converged: bool,
}

/// Newton stops when ½ gᵀ Λ⁻¹ g — the rise in log p(x, z) the next step expects — is below
/// this many nats.
pub const NEWTON_TOLERANCE: f64 = 1e-9;

/// Units in the last place of log p(x, z), in the working precision, below which Newton's
/// expected rise counts as none (see [`Laplace::converged`]).
const RISE_ULPS: f64 = 4.0;

/// The machine epsilon of `T` (the trait is sealed to f32 and f64).
fn epsilon<T: Real>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        f64::from(f32::EPSILON)
    } else {
        f64::EPSILON
    }
}

/// Newton iterations at most.
const MAX_ITERATIONS: usize = 100;

/// log p(x, z) and its gradient in z, on a tape where the model's own parameters are
/// constants.
struct LogJoint<'a, T: Real, P, L> {
    prior: &'a P,
    likelihood: &'a L,
    store: &'a ParamStore<T>,
    no_params: Vec<bool>,
    data: Arc<DMatrix<T>>,
}

impl<T: Real, P: Prior<T>, L: Likelihood<T>> LogJoint<'_, T, P, L> {
    fn value_and_gradient(&self, z: &DVector<f64>) -> (f64, DVector<f64>) {
        let tape = Tape::for_group(self.store, &self.no_params);
        let x = tape.constant_shared(Arc::clone(&self.data));
        let zv = tape.input(DMatrix::from_fn(1, z.len(), |_, j| T::of_f64(z[j])));
        let joint = (self.prior.log_prob(zv) + self.likelihood.log_likelihood(x, zv)).sum();
        let grads = tape.backward(joint);
        // No gradient reaches z when the model could not score it (a program's error becomes
        // NaN): a non-finite point, which the search treats as such.
        let gradient = match grads.wrt(zv) {
            Some(g) => DVector::from_fn(z.len(), |j, _| g[j].to_f64()),
            None => DVector::from_element(z.len(), f64::NAN),
        };
        (joint.scalar().to_f64(), gradient)
    }

    /// −∇² log p(x, z) by central differences of the gradient, symmetrised. Each coordinate's
    /// step is ε^⅓ times its current scale estimate: exact for a quadratic log joint whatever
    /// the step, and the step that balances truncation against rounding otherwise. The 2d
    /// gradients are independent and run on rayon's threads (over a million rows, each is a
    /// pass over the data).
    fn precision(&self, z: &DVector<f64>, scales: &DVector<f64>) -> DMatrix<f64> {
        let d = z.len();
        let step = epsilon::<T>().cbrt();
        let columns: Vec<DVector<f64>> = (0..d)
            .into_par_iter()
            .map(|j| {
                let dz = step * scales[j];
                let mut up = z.clone();
                up[j] += dz;
                let mut down = z.clone();
                down[j] -= dz;
                let ((_, g_up), (_, g_down)) = rayon::join(
                    || self.value_and_gradient(&up),
                    || self.value_and_gradient(&down),
                );
                (g_down - g_up) / (2.0 * dz)
            })
            .collect();
        let h = DMatrix::from_columns(&columns);
        (&h + h.transpose()) / 2.0
    }
}

/// Finds the mode of log p(x, z) = log p(z) + log p(x | z) for a global latent by damped Newton
/// steps from `start`, with the model's own parameters held at their values in `store`.
pub(crate) fn laplace<T, P, L>(
    prior: &P,
    likelihood: &L,
    store: &ParamStore<T>,
    data: &DMatrix<T>,
    start: DVector<f64>,
) -> Result<Laplace>
where
    T: Real,
    P: Prior<T>,
    L: Likelihood<T>,
{
    let d = start.len();
    let joint = LogJoint {
        prior,
        likelihood,
        store,
        no_params: vec![false; store.len()],
        data: Arc::new(data.clone()),
    };
    let mut z = start;
    let (mut value, mut gradient) = joint.value_and_gradient(&z);
    if !value.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
        return Err(Error::NoLaplace {
            problem: "log p(x, z) or its gradient is not finite at the start",
        });
    }
    let mut scales = DVector::from_element(d, 1.0);
    let mut iterations = 0;
    let mut converged = false;
    let mut precision;
    loop {
        precision = joint.precision(&z, &scales);
        for j in 0..d {
            if precision[(j, j)] > 0.0 && precision[(j, j)].is_finite() {
                scales[j] = 1.0 / precision[(j, j)].sqrt();
            }
        }
        let Some(step) = newton_step(&precision, &gradient) else {
            break;
        };
        let expected_rise = gradient.dot(&step);
        // Below a few units in the last place of log p(x, z) a rise cannot be seen: in f32, a
        // log joint of 10⁶ nats (a million rows) moves in steps of 0.06.
        let tolerance = NEWTON_TOLERANCE.max(RISE_ULPS * epsilon::<T>() * value.abs());
        if expected_rise / 2.0 < tolerance {
            converged = true;
            break;
        }
        if iterations == MAX_ITERATIONS {
            break;
        }
        iterations += 1;
        // Backtracking (Armijo): halve the step until log p(x, z) rises as it should.
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let candidate = &z + &step * t;
            let (v, g) = joint.value_and_gradient(&candidate);
            if v.is_finite()
                && g.iter().all(|g| g.is_finite())
                && v >= value + 1e-4 * t * expected_rise
            {
                (z, value, gradient) = (candidate, v, g);
                accepted = true;
                break;
            }
            t /= 2.0;
        }
        if !accepted {
            break;
        }
    }
    let log_det = log_det_positive(&precision).ok_or(Error::NoLaplace {
        problem: "the curvature of log p(x, z) is not positive definite where Newton's method ended",
    })?;
    Ok(Laplace {
        log_evidence: value + 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * log_det,
        mode: z,
        precision,
        log_joint: value,
        iterations,
        converged,
    })
}

/// The Newton step Λ⁻¹ g, with Levenberg damping (Λ + λ diag Λ) where Λ is not positive
/// definite; `None` if no damping makes it so.
fn newton_step(precision: &DMatrix<f64>, gradient: &DVector<f64>) -> Option<DVector<f64>> {
    let d = precision.nrows();
    let diagonal = DVector::from_fn(d, |j, _| precision[(j, j)].abs().max(f64::MIN_POSITIVE));
    let mut damping = 0.0;
    for _ in 0..30 {
        let damped = precision + DMatrix::from_diagonal(&(&diagonal * damping));
        if let Some(chol) = damped.cholesky() {
            return Some(chol.solve(gradient));
        }
        damping = if damping == 0.0 { 1e-6 } else { damping * 10.0 };
    }
    None
}

/// ln det of a symmetric positive-definite matrix, from its unit-diagonal Cholesky factor.
fn log_det_positive(m: &DMatrix<f64>) -> Option<f64> {
    let (scales, factor) = unit_diagonal_cholesky(m)?;
    let inner: f64 = factor.diagonal().iter().map(|v| 2.0 * v.ln()).sum();
    Some(inner - scales.iter().map(|s| 2.0 * s.ln()).sum::<f64>())
}
