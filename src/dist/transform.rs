//! Supports of constrained parameters and the bijections that let them live unconstrained.
//!
//! A parameter with a support (a positive scale, a probability, an ordered vector, a simplex)
//! is stored and optimised as an unconstrained real u; the model sees x = f(u), and a density
//! over x becomes one over u by adding ln |det ∂f/∂u| — the log-Jacobian each transform
//! returns with its value, so that it is written in one place.

use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// A bijection from unconstrained reals onto a support, on the tape.
///
/// Elementwise transforms map every entry; vector transforms ([`Support::Ordered`],
/// [`Support::Simplex`]) map every row.
pub trait Transform {
    /// The constrained shape for an unconstrained `rows x cols` (the simplex adds a column).
    fn constrained_shape(&self, unconstrained: (usize, usize)) -> (usize, usize);

    /// x = f(u) and, for each row of `u`, ln |det ∂x_row/∂u_row| (`rows x 1`): the term that
    /// turns a density of each row of x into one of u (a row holds one draw of a parameter).
    fn forward<'t, T: Real>(&self, u: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>);

    /// u = f⁻¹(x) for a point of the support.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `name` if `x` is outside the support.
    fn inverse(&self, name: &'static str, x: &DMatrix<f64>) -> Result<DMatrix<f64>>;
}

/// Where a parameter lives. Each support carries its transform from the reals: the one Stan
/// uses for it, except the simplex (below).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Support {
    /// Any real: x = u.
    Real,
    /// x > 0: x = exp(u), ln |J| = u.
    Positive,
    /// x > a: x = a + exp(u).
    GreaterThan(f64),
    /// x < b: x = b − exp(u).
    LessThan(f64),
    /// a < x < b: x = a + (b − a) σ(u), ln |J| = ln(b − a) + ln σ(u) + ln σ(−u).
    Interval(f64, f64),
    /// Each row strictly increasing: x₁ = u₁, x_k = x_{k−1} + exp(u_k), ln |J| = Σ_{k≥2} u_k.
    Ordered,
    /// Each row K positive entries summing to 1, from K − 1 reals: x = softmax([u, 0]) (the
    /// additive log-ratio map), whose Jacobian determinant on the first K − 1 coordinates is
    /// Π_{k=1..K} x_k.
    Simplex,
}

impl Support {
    /// Checks the support's own constants.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-finite bound or an empty interval.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Support::GreaterThan(a) | Support::LessThan(a) if !a.is_finite() => {
                Err(Error::invalid("support bound", a, "a finite number"))
            }
            Support::Interval(a, b) if !(a.is_finite() && b.is_finite() && a < b) => Err(
                Error::invalid("support interval", format!("({a}, {b})"), "finite a < b"),
            ),
            _ => Ok(()),
        }
    }

    /// True for x in the support (a row, for the vector supports).
    fn contains_entry(&self, x: f64) -> bool {
        match *self {
            Support::Real => x.is_finite(),
            Support::Positive => x.is_finite() && x > 0.0,
            Support::GreaterThan(a) => x.is_finite() && x > a,
            Support::LessThan(b) => x.is_finite() && x < b,
            Support::Interval(a, b) => x > a && x < b,
            Support::Ordered | Support::Simplex => x.is_finite(),
        }
    }
}

/// How far a simplex point's entries may sum from 1.
const SIMPLEX_TOLERANCE: f64 = 1e-9;

impl Transform for Support {
    fn constrained_shape(&self, (rows, cols): (usize, usize)) -> (usize, usize) {
        match self {
            Support::Simplex => (rows, cols + 1),
            _ => (rows, cols),
        }
    }

    fn forward<'t, T: Real>(&self, u: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        let tape = u.tape();
        let rows = u.shape().0;
        let zero = || tape.filled(rows, 1, T::zero());
        match *self {
            Support::Real => (u, zero()),
            Support::Positive => (u.exp(), u.row_sums()),
            Support::GreaterThan(a) => (u.exp().shift(T::of_f64(a)), u.row_sums()),
            Support::LessThan(b) => ((-u.exp()).shift(T::of_f64(b)), u.row_sums()),
            Support::Interval(a, b) => {
                let width = T::of_f64(b - a);
                let x = u.sigmoid().scale(width).shift(T::of_f64(a));
                // ln σ(u) + ln σ(−u) = −softplus(−u) − softplus(u).
                let n = T::of_f64(u.shape().1 as f64);
                let log_j = (-((-u).softplus() + u.softplus()).row_sums())
                    .shift(n * T::of_f64((b - a).ln()));
                (x, log_j)
            }
            Support::Ordered => {
                let k = u.shape().1;
                if k <= 1 {
                    return (u, zero());
                }
                // [u₁, exp(u₂), ..., exp(u_K)] times the upper-triangular ones: running sums.
                let steps = Var::concat_columns(&[u.columns(0, 1), u.columns(1, k - 1).exp()]);
                let running =
                    DMatrix::from_fn(k, k, |i, j| if i <= j { T::one() } else { T::zero() });
                (
                    steps.matmul(tape.constant(running)),
                    u.columns(1, k - 1).row_sums(),
                )
            }
            Support::Simplex => {
                let padded = Var::concat_columns(&[u, zero()]);
                let log_x = padded - padded.row_logsumexp();
                (log_x.exp(), log_x.row_sums())
            }
        }
    }

    fn inverse(&self, name: &'static str, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
        let outside =
            |what: String, expected: &'static str| Err(Error::invalid(name, what, expected));
        if let Some(bad) = x.iter().find(|&&v| !self.contains_entry(v)) {
            return outside(bad.to_string(), self.expected());
        }
        match *self {
            Support::Real => Ok(x.clone()),
            Support::Positive => Ok(x.map(f64::ln)),
            Support::GreaterThan(a) => Ok(x.map(|v| (v - a).ln())),
            Support::LessThan(b) => Ok(x.map(|v| (b - v).ln())),
            Support::Interval(a, b) => Ok(x.map(|v| {
                let p = (v - a) / (b - a);
                p.ln() - (-p).ln_1p()
            })),
            Support::Ordered => {
                for row in x.row_iter() {
                    if row.iter().zip(row.iter().skip(1)).any(|(a, b)| b <= a) {
                        return outside(format!("{row:.6}"), self.expected());
                    }
                }
                Ok(DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| {
                    if j == 0 {
                        x[(i, 0)]
                    } else {
                        (x[(i, j)] - x[(i, j - 1)]).ln()
                    }
                }))
            }
            Support::Simplex => {
                let k = x.ncols();
                for row in x.row_iter() {
                    if k < 2
                        || row.iter().any(|&v| v <= 0.0)
                        || (row.sum() - 1.0).abs() > SIMPLEX_TOLERANCE
                    {
                        return outside(format!("{row:.6}"), self.expected());
                    }
                }
                Ok(DMatrix::from_fn(x.nrows(), k - 1, |i, j| {
                    x[(i, j)].ln() - x[(i, k - 1)].ln()
                }))
            }
        }
    }
}

impl Support {
    /// What a point of the support looks like, for error messages.
    fn expected(&self) -> &'static str {
        match self {
            Support::Real => "a finite number",
            Support::Positive => "a finite number > 0",
            Support::GreaterThan(_) => "a finite number above the lower bound",
            Support::LessThan(_) => "a finite number below the upper bound",
            Support::Interval(..) => "a number strictly inside the interval",
            Support::Ordered => "rows strictly increasing",
            Support::Simplex => "rows of at least 2 entries > 0 summing to 1",
        }
    }
}
