//! What every distribution on the tape shares: the trait, parameter checks, broadcasting and
//! supports.

use super::Support;
use crate::autodiff::Var;
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::kernels::wide;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// A distribution whose parameters are [`Var`]s on a tape, so that its log density is
/// differentiable in its parameters and (for continuous ones) in the point.
///
/// A distribution of one variable scores every entry of its points: parameters and points are
/// matrices that broadcast against each other (along each axis the sizes agree or one of them
/// is 1), as in the tape's arithmetic — a `1 x 1` scale serves every entry, a `1 x p` location
/// one per column. A distribution of vectors ([`crate::dist::MvNormal`], [`crate::dist::Dirichlet`])
/// scores every row, and a [`crate::dist::Categorical`] every row's category.
///
/// A distribution of your own is a struct of `Var`s and these two methods; its gradients come
/// from the tape. The Gumbel distribution, say:
///
/// ```
/// use elbo::autodiff::{check_gradients, GradCheck, Var};
/// use elbo::dist::Distribution;
/// use elbo::Real;
/// use nalgebra::DMatrix;
/// use rand::{Rng, RngExt};
///
/// /// Gumbel(μ, β): ln p(x) = −ln β − z − e^(−z), z = (x − μ)/β.
/// struct Gumbel<'t, T: Real> {
///     loc: Var<'t, T>,
///     scale: Var<'t, T>,
/// }
///
/// impl<'t, T: Real> Distribution<'t, T> for Gumbel<'t, T> {
///     fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T> {
///         let z = (x - self.loc) / self.scale;
///         -(self.scale.ln() + z + (-z).exp())
///     }
///
///     fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T> {
///         // The inverse CDF at a uniform draw, one per entry of the location.
///         let (loc, scale) = (self.loc.value(), self.scale.scalar().to_f64());
///         loc.map(|m| {
///             let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
///             T::of_f64(m.to_f64() - scale * (-u.ln()).ln())
///         })
///     }
/// }
///
/// // Its gradients in the location, the scale and the points agree with finite differences.
/// let report = check_gradients(
///     &[DMatrix::from_element(1, 1, 0.5), DMatrix::from_element(1, 1, 2.0),
///       DMatrix::from_row_slice(1, 3, &[-1.0, 0.3, 4.0])],
///     GradCheck::default(),
///     |v| Gumbel { loc: v[0], scale: v[1] }.log_prob(v[2]).sum(),
/// );
/// assert!(report.passed(1e-6));
/// ```
pub trait Distribution<'t, T: Real> {
    /// ln p(x) for every point of `x` (entry or row, as above); −∞ outside the support (for a
    /// discrete distribution: at points that are not its integers). Sum it for the log density
    /// of independent draws.
    fn log_prob(&self, x: Var<'t, T>) -> Var<'t, T>;

    /// One independent draw per entry of the parameters' broadcast shape (a distribution of
    /// vectors: per row of its parameters), off the tape.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DMatrix<T>;

    /// Where a continuous distribution's draws lie, so that a program can declare a parameter
    /// drawn from it ([`crate::program::Trace::sample`]) and move it to the reals. `None`, the
    /// default, for discrete distributions — a reparameterised fit cannot have discrete
    /// latents: sum them out, as [`crate::dist::Mixture`] does — and for supports that move
    /// with a parameter (declare such a parameter with its own [`Support`] and add its density).
    fn support(&self) -> Option<Support> {
        None
    }
}

/// What a distribution's parameter must be, entry by entry ([`require`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Valid {
    /// Finite.
    Finite,
    /// Finite and above zero.
    Positive,
    /// In [0, 1].
    Probability,
    /// In (0, 1).
    InteriorProbability,
    /// A whole number ≥ 0.
    Count,
}

impl Valid {
    /// What a valid value is, as an error says it.
    fn expected(self) -> &'static str {
        match self {
            Valid::Finite => "a finite number",
            Valid::Positive => "a finite number > 0",
            Valid::Probability => "a probability in [0, 1]",
            Valid::InteriorProbability => "a probability in (0, 1)",
            Valid::Count => "a whole number >= 0",
        }
    }

    /// Whether `v` is valid.
    pub(crate) fn holds(self, v: f64) -> bool {
        match self {
            Valid::Finite => finite(v),
            Valid::Positive => positive(v),
            Valid::Probability => (0.0..=1.0).contains(&v),
            Valid::InteriorProbability => v > 0.0 && v < 1.0,
            Valid::Count => is_count(v),
        }
    }

    /// The number of entries of `x` that are not valid, on its tape: a sum of steps, plus
    /// Σ 0·x, which is NaN exactly when an entry is infinite or NaN (so that a NaN, which
    /// passes no comparison, counts too). `None` for counts, checked on the host.
    fn violations<'t, T: Real>(self, x: Var<'t, T>) -> Option<Var<'t, T>> {
        let x = x.detach();
        let not_finite = x.scale(T::zero()).sum();
        // 1 where a ≤ 0 (or NaN): the step is 1 exactly where a > 0.
        let not_above_zero =
            |a: Var<'t, T>| a.step_straight_through().scale(-T::one()).shift(T::one());
        let one = T::one();
        let failing = match self {
            Valid::Finite => return Some(not_finite),
            Valid::Positive => not_above_zero(x),
            // Below 0 where −x > 0; above 1 where x − 1 > 0.
            Valid::Probability => {
                (-x).step_straight_through() + x.shift(-one).step_straight_through()
            }
            Valid::InteriorProbability => not_above_zero(x) + not_above_zero(-x.shift(-one)),
            Valid::Count => return None,
        };
        Some(failing.sum() + not_finite)
    }
}

/// Checks that every entry of a parameter is `valid`.
///
/// On the CPU the values are read where they are. On a device the check is deferred: the count
/// of bad entries is made there and read back with every other check of the pass when the
/// engine's step or evaluation settles them, before the gradient (on a tape of one's own,
/// [`crate::autodiff::Tape::backward`] settles them and panics with the error).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `name` and the first entry that is not.
pub(crate) fn require<T: Real>(
    name: &'static str,
    parameter: &Var<'_, T>,
    valid: Valid,
) -> Result<()> {
    let check = move |value: &DMatrix<T>| {
        // A pass without an early exit, which vectorises, then the search only on failure.
        let all_valid = wide(value.len(), || {
            value
                .iter()
                .fold(true, |ok, v| ok & valid.holds(v.to_f64()))
        });
        if all_valid {
            return Ok(());
        }
        match value.iter().map(|v| v.to_f64()).find(|&v| !valid.holds(v)) {
            Some(bad) => Err(Error::invalid(name, bad, valid.expected())),
            None => Ok(()),
        }
    };
    let tape = parameter.tape();
    if tape.device() != Device::Cpu
        && let Some(violations) = valid.violations(*parameter)
    {
        tape.defer_check(violations, *parameter, check);
        return Ok(());
    }
    check(&parameter.value())
}

/// Finite.
pub(crate) fn finite(v: f64) -> bool {
    v.is_finite()
}

/// Finite and above zero.
pub(crate) fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// The shape `shapes` broadcast to.
///
/// # Panics
/// If two shapes do not broadcast (a mistake in the model's code), naming `what`.
#[track_caller]
pub(crate) fn broadcast_shape(what: &str, shapes: &[(usize, usize)]) -> (usize, usize) {
    let axis = |sizes: Vec<usize>| -> usize {
        let big = sizes.iter().copied().max().unwrap_or(1);
        assert!(
            sizes.iter().all(|&s| s == 1 || s == big),
            "{what}: shapes {shapes:?} do not broadcast"
        );
        big
    };
    (
        axis(shapes.iter().map(|s| s.0).collect()),
        axis(shapes.iter().map(|s| s.1).collect()),
    )
}

/// Entry (i, j) of `m` under broadcasting, as f64.
pub(crate) fn at<T: Real>(m: &DMatrix<T>, i: usize, j: usize) -> f64 {
    let (r, c) = m.shape();
    m[(if r == 1 { 0 } else { i }, if c == 1 { 0 } else { j })].to_f64()
}

/// A matrix of the parameters' broadcast shape whose entry (i, j) is `draw` of the parameter
/// values at (i, j).
pub(crate) fn draw_each<T: Real, const K: usize>(
    what: &str,
    parameters: [&Var<'_, T>; K],
    mut draw: impl FnMut([f64; K]) -> f64,
) -> DMatrix<T> {
    let values: Vec<_> = parameters.iter().map(|p| p.value()).collect();
    let shapes: Vec<_> = values.iter().map(|v| v.shape()).collect();
    let (rows, cols) = broadcast_shape(what, &shapes);
    // Column by column, as nalgebra stores them, so draws fill the matrix in a fixed order.
    DMatrix::from_fn(rows, cols, |i, j| {
        T::of_f64(draw(std::array::from_fn(|k| at(&values[k], i, j))))
    })
}

/// `x` with its entries outside the support (`inside` false) replaced by `fill`, and the
/// matrix to add to the log density there (0 inside, −∞ outside); `None` when every entry is
/// inside (nothing to mask, nothing added to the tape).
///
/// The formula is then evaluated on points where it is defined (no ln of a negative number
/// turning −∞ into NaN), and the mask sets those entries to −∞.
pub(crate) fn restrict_to_support<'t, T: Real>(
    x: Var<'t, T>,
    inside: impl Fn(f64) -> bool,
    fill: f64,
) -> (Var<'t, T>, Option<Var<'t, T>>) {
    let inside = x.value().map(|v| inside(v.to_f64()));
    restrict_entries(x, &inside, fill)
}

/// [`restrict_to_support`] for a support that depends on more than the entry itself (a count
/// up to each entry's number of trials): `inside` says which entries are in it, in the shape
/// `x` broadcasts to against the parameters.
pub(crate) fn restrict_entries<'t, T: Real>(
    x: Var<'t, T>,
    inside: &DMatrix<bool>,
    fill: f64,
) -> (Var<'t, T>, Option<Var<'t, T>>) {
    if inside.iter().all(|&b| b) {
        return (x, None);
    }
    let keep = inside.map(|b| if b { T::one() } else { T::zero() });
    let fills = inside.map(|b| T::of_f64(if b { 0.0 } else { fill }));
    let mask = inside.map(|b| T::of_f64(if b { 0.0 } else { f64::NEG_INFINITY }));
    let tape = x.tape();
    (
        x * tape.constant(keep) + tape.constant(fills),
        Some(tape.constant(mask)),
    )
}

/// `log_density` plus the support mask, if any.
pub(crate) fn masked<'t, T: Real>(log_density: Var<'t, T>, mask: Option<Var<'t, T>>) -> Var<'t, T> {
    match mask {
        Some(mask) => log_density + mask,
        None => log_density,
    }
}

/// True for a whole number (a count).
pub(crate) fn is_count(v: f64) -> bool {
    v >= 0.0 && v.fract() == 0.0 && v.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Tape;

    /// Entries on every side of every boundary, and the non-finite ones.
    const EDGES: [f64; 12] = [
        -2.0,
        -1e-300,
        -0.0,
        0.0,
        1e-300,
        0.5,
        1.0,
        1.0 + 1e-15,
        3.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];

    #[test]
    fn the_count_of_bad_entries_on_a_device_agrees_with_the_host() {
        for valid in [
            Valid::Finite,
            Valid::Positive,
            Valid::Probability,
            Valid::InteriorProbability,
        ] {
            // Each entry alone: its count is 0 or 1 (NaN for an entry that is not finite).
            for v in EDGES {
                let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
                let x = tape.constant(DMatrix::from_element(1, 1, v));
                let count = valid.violations(x).expect("made on the device").scalar();
                match (v.is_finite(), valid.holds(v)) {
                    (false, _) => assert!(count.is_nan(), "{valid:?} at {v}: {count}"),
                    (true, true) => assert_eq!(count, 0.0, "{valid:?} at {v}"),
                    (true, false) => assert_eq!(count, 1.0, "{valid:?} at {v}"),
                }
            }
            // All the finite ones together: their number of failures.
            let finite: Vec<f64> = EDGES.into_iter().filter(|v| v.is_finite()).collect();
            let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
            let x = tape.constant(DMatrix::from_row_slice(3, 3, &finite));
            let failing = finite.iter().filter(|&&v| !valid.holds(v)).count() as f64;
            assert_eq!(valid.violations(x).unwrap().scalar(), failing, "{valid:?}");
        }
        assert!(
            Valid::Count
                .violations(Tape::<f64>::new().scalar(1.0))
                .is_none()
        );
    }

    #[test]
    fn a_bad_parameter_on_a_device_gives_the_hosts_error_when_settled() {
        let bad = DMatrix::from_row_slice(1, 3, &[1.0, -0.5, -2.0]);
        let on_cpu = {
            let tape = Tape::<f64>::new();
            require("scale", &tape.constant(bad.clone()), Valid::Positive).unwrap_err()
        };
        let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
        let good = tape.constant(DMatrix::from_element(2, 2, 0.25));
        require("p", &good, Valid::Probability).unwrap();
        require("scale", &tape.constant(bad), Valid::Positive).unwrap();
        let deferred = tape.settle_checks().unwrap_err();
        assert_eq!(deferred.to_string(), on_cpu.to_string());
        // Settled: nothing left to fail.
        tape.settle_checks().unwrap();
    }
}
