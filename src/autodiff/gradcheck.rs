//! Central finite differences against the tape's gradients: how the crate checks its own
//! operations, and how a user checks a custom model.

use super::tape::{Tape, Var};
use crate::backend::Device;
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;

/// Settings of a finite-difference check.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// The finite-difference step `h` in `(f(x + h) - f(x - h)) / 2h`.
    pub step: f64,
    /// Where the tapes run ([`Device::Cpu`] by default): a check on another device tests its
    /// kernels and derivatives against the same finite differences.
    pub device: Device,
}

impl Default for GradCheck {
    /// A step of 1e-6: about the cube root of f64's epsilon, which balances the O(h²) truncation
    /// error of central differences against rounding. Use f64 for checks; in f32 take `1e-2`.
    fn default() -> Self {
        GradCheck {
            step: 1e-6,
            device: Device::Cpu,
        }
    }
}

/// The outcome of a finite-difference check.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// Largest `|analytic - numeric|` over all entries.
    pub max_abs_error: f64,
    /// Largest `|analytic - numeric| / max(1, |analytic|, |numeric|)` over all entries.
    pub max_rel_error: f64,
    /// Where the largest relative error is: parameter name, row, column.
    pub worst: Option<(String, usize, usize)>,
    /// How many scalar entries were checked.
    pub entries: usize,
}

impl GradCheckReport {
    /// True if the largest relative error is at most `tolerance`.
    pub fn passed(&self, tolerance: f64) -> bool {
        self.max_rel_error <= tolerance
    }
}

/// Checks the gradient of the scalar `f` with respect to every parameter of `store` that is not
/// frozen.
///
/// `f` builds the loss on the tape it is given (loading parameters with [`Tape::param`]); it is
/// called once for the analytic gradient and twice per parameter entry for the central
/// differences, so it must be deterministic (draw its noise from a generator seeded inside `f`).
///
/// ```
/// use elbo::autodiff::{check_param_gradients, GradCheck};
/// use elbo::ParamStore;
/// use nalgebra::DMatrix;
///
/// let mut store = ParamStore::<f64>::new();
/// let w = store.add("w", DMatrix::from_row_slice(2, 2, &[0.5, -1.0, 2.0, 0.3])).unwrap();
/// let report = check_param_gradients(&store, GradCheck::default(), |tape| {
///     let x = tape.constant(DMatrix::from_row_slice(1, 2, &[1.0, -2.0]));
///     x.matmul(tape.param(w)).tanh().sum()
/// });
/// assert!(report.passed(1e-6), "{report:?}");
/// ```
pub fn check_param_gradients<T, F>(store: &ParamStore<T>, opts: GradCheck, f: F) -> GradCheckReport
where
    T: Real,
    F: for<'t> Fn(&'t Tape<'t, T>) -> Var<'t, T>,
{
    fn on_device<T: Real>(s: &ParamStore<T>, device: Device) -> Tape<'_, T> {
        Tape::with_params(s)
            .on_device(device)
            .unwrap_or_else(|e| panic!("check_param_gradients: {e}"))
    }
    let analytic = {
        let tape = on_device(store, opts.device);
        let loss = f(&tape);
        tape.backward(loss)
    };
    let evaluate = |s: &ParamStore<T>| {
        let tape = on_device(s, opts.device);
        f(&tape).scalar().to_f64()
    };
    let h = T::of_f64(opts.step);
    let mut probe = store.clone();
    let mut report = GradCheckReport {
        max_abs_error: 0.0,
        max_rel_error: 0.0,
        worst: None,
        entries: 0,
    };
    for id in store.ids().filter(|&id| !store.is_frozen(id)) {
        let zeros = DMatrix::zeros(store.get(id).nrows(), store.get(id).ncols());
        let grad = analytic.param(id).unwrap_or(&zeros);
        for j in 0..grad.ncols() {
            for i in 0..grad.nrows() {
                let x = store.get(id)[(i, j)];
                probe.get_mut(id)[(i, j)] = x + h;
                let up = evaluate(&probe);
                probe.get_mut(id)[(i, j)] = x - h;
                let down = evaluate(&probe);
                probe.get_mut(id)[(i, j)] = x;
                // Divide by the step actually taken, which rounding may have changed.
                let numeric = (up - down) / ((x + h).to_f64() - (x - h).to_f64());
                let a = grad[(i, j)].to_f64();
                let abs = (a - numeric).abs();
                let rel = abs / a.abs().max(numeric.abs()).max(1.0);
                report.entries += 1;
                report.max_abs_error =
                    report
                        .max_abs_error
                        .max(if abs.is_nan() { f64::INFINITY } else { abs });
                // A NaN error counts as the worst possible.
                let rel = if rel.is_nan() { f64::INFINITY } else { rel };
                if report.worst.is_none() || rel > report.max_rel_error {
                    report.max_rel_error = rel;
                    report.worst = Some((store.name(id).to_string(), i, j));
                }
            }
        }
    }
    report
}

/// Checks the gradient of the scalar `f` with respect to each of `inputs`.
///
/// The inputs reach `f` as differentiable [`Var`]s in the same order; the report names them
/// `input0`, `input1`, ...
///
/// ```
/// use elbo::autodiff::{check_gradients, GradCheck};
/// use nalgebra::DMatrix;
///
/// let a = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, -0.3, 2.0]);
/// let report = check_gradients(&[a], GradCheck::default(), |x| x[0].exp().row_logsumexp().sum());
/// assert!(report.passed(1e-6));
/// ```
pub fn check_gradients<T, F>(inputs: &[DMatrix<T>], opts: GradCheck, f: F) -> GradCheckReport
where
    T: Real,
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    let mut store = ParamStore::new();
    let ids: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(k, m)| store.add(format!("input{k}"), m.clone()))
        .collect::<Result<_, _>>()
        .expect("check_gradients needs finite inputs");
    check_param_gradients(&store, opts, |tape| {
        let vars: Vec<_> = ids.iter().map(|&id| tape.param(id)).collect();
        f(&vars)
    })
}
