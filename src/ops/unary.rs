//! Unary elementwise maps: each one's value and derivative, written once; the CPU's kernels
//! apply them entry by entry, and the CUDA source is checked against them.

use crate::real::{Real, c};
use crate::special;

/// A unary elementwise map. Its derivative is written in terms of the input `x` and the output
/// `y`, whichever is cheaper.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UnaryOp<T> {
    Neg,
    Exp,
    Log,
    Log1p,
    Softplus,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu(T),
    Selu,
    Square,
    Sqrt,
    Scale(T),
    Shift(T),
    Abs,
    Recip,
    Powi(i32),
    Powf(T),
    LnGamma,
    Digamma,
    StepStraightThrough,
}

// SELU constants (Klambauer et al. 2017).
pub(crate) const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub(crate) const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;

/// log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): without overflow for large x or loss of
/// precision for very negative x, and without libm calls, so that loops over it vectorise.
#[inline(always)]
pub fn softplus<T: Real>(x: T) -> T {
    let u = T::exp_non_positive(-x.abs());
    x.max(T::zero()) + T::ln_1p_unit(u)
}

/// 1 / (1 + e^-x), without overflow and without libm calls.
#[inline(always)]
pub fn sigmoid<T: Real>(x: T) -> T {
    let u = T::exp_non_positive(-x.abs());
    let r = T::one() / (T::one() + u);
    if x >= T::zero() { r } else { u * r }
}

impl<T: Real> UnaryOp<T> {
    #[inline(always)]
    pub(crate) fn apply(self, x: T) -> T {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Log1p => x.ln_1p(),
            UnaryOp::Softplus => softplus(x),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            UnaryOp::LeakyRelu(a) => {
                if x > T::zero() {
                    x
                } else {
                    a * x
                }
            }
            UnaryOp::Selu => {
                let l: T = c(SELU_LAMBDA);
                if x > T::zero() {
                    l * x
                } else {
                    l * c::<T>(SELU_ALPHA) * (x.exp() - T::one())
                }
            }
            UnaryOp::Square => x * x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Scale(s) => s * x,
            UnaryOp::Shift(s) => x + s,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Recip => T::one() / x,
            UnaryOp::Powi(n) => x.powi(n),
            UnaryOp::Powf(p) => x.powf(p),
            UnaryOp::LnGamma => T::of_f64(special::ln_gamma(x.to_f64())),
            UnaryOp::Digamma => T::of_f64(special::digamma(x.to_f64())),
            UnaryOp::StepStraightThrough => {
                if x > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
        }
    }

    /// dy/dx at input `x` with output `y`.
    #[inline(always)]
    pub(crate) fn derivative(self, x: T, y: T) -> T {
        let one = T::one();
        match self {
            UnaryOp::Neg => -one,
            UnaryOp::Exp => y,
            UnaryOp::Log => one / x,
            UnaryOp::Log1p => one / (one + x),
            UnaryOp::Softplus => sigmoid(x),
            UnaryOp::Sigmoid => y * (one - y),
            UnaryOp::Tanh => one - y * y,
            UnaryOp::Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            UnaryOp::LeakyRelu(a) => {
                if x > T::zero() {
                    one
                } else {
                    a
                }
            }
            UnaryOp::Selu => {
                if x > T::zero() {
                    c(SELU_LAMBDA)
                } else {
                    y + c::<T>(SELU_LAMBDA * SELU_ALPHA)
                }
            }
            UnaryOp::Square => x + x,
            UnaryOp::Sqrt => c::<T>(0.5) / y,
            UnaryOp::Scale(s) => s,
            UnaryOp::Shift(_) => one,
            // The subgradient 0 at the kink.
            UnaryOp::Abs => {
                if x > T::zero() {
                    one
                } else if x < T::zero() {
                    -one
                } else {
                    T::zero()
                }
            }
            UnaryOp::Recip => -y * y,
            UnaryOp::Powi(0) => T::zero(),
            UnaryOp::Powi(n) => T::of_f64(f64::from(n)) * x.powi(n - 1),
            UnaryOp::Powf(p) => p * x.powf(p - one),
            UnaryOp::LnGamma => T::of_f64(special::digamma(x.to_f64())),
            UnaryOp::Digamma => T::of_f64(special::trigamma(x.to_f64())),
            // Straight through: the step's gradient is taken to be the identity's.
            UnaryOp::StepStraightThrough => one,
        }
    }
}

/// Evaluates `$body` with `$op` rebound to a value whose variant the compiler sees, so that the
/// `match` inside [`UnaryOp::apply`] and [`UnaryOp::derivative`] folds away and the loop in
/// `$body` can vectorise (with the variant known only at run time, each entry would branch).
macro_rules! with_known_variant {
    ($op:ident => $body:expr) => {
        match $op {
            UnaryOp::Neg => with_known_variant!(@ $op, UnaryOp::Neg, $body),
            UnaryOp::Exp => with_known_variant!(@ $op, UnaryOp::Exp, $body),
            UnaryOp::Log => with_known_variant!(@ $op, UnaryOp::Log, $body),
            UnaryOp::Log1p => with_known_variant!(@ $op, UnaryOp::Log1p, $body),
            UnaryOp::Softplus => with_known_variant!(@ $op, UnaryOp::Softplus, $body),
            UnaryOp::Sigmoid => with_known_variant!(@ $op, UnaryOp::Sigmoid, $body),
            UnaryOp::Tanh => with_known_variant!(@ $op, UnaryOp::Tanh, $body),
            UnaryOp::Relu => with_known_variant!(@ $op, UnaryOp::Relu, $body),
            UnaryOp::LeakyRelu(a) => with_known_variant!(@ $op, UnaryOp::LeakyRelu(a), $body),
            UnaryOp::Selu => with_known_variant!(@ $op, UnaryOp::Selu, $body),
            UnaryOp::Square => with_known_variant!(@ $op, UnaryOp::Square, $body),
            UnaryOp::Sqrt => with_known_variant!(@ $op, UnaryOp::Sqrt, $body),
            UnaryOp::Scale(s) => with_known_variant!(@ $op, UnaryOp::Scale(s), $body),
            UnaryOp::Shift(s) => with_known_variant!(@ $op, UnaryOp::Shift(s), $body),
            UnaryOp::Abs => with_known_variant!(@ $op, UnaryOp::Abs, $body),
            UnaryOp::Recip => with_known_variant!(@ $op, UnaryOp::Recip, $body),
            UnaryOp::Powi(n) => with_known_variant!(@ $op, UnaryOp::Powi(n), $body),
            UnaryOp::Powf(p) => with_known_variant!(@ $op, UnaryOp::Powf(p), $body),
            UnaryOp::LnGamma => with_known_variant!(@ $op, UnaryOp::LnGamma, $body),
            UnaryOp::Digamma => with_known_variant!(@ $op, UnaryOp::Digamma, $body),
            UnaryOp::StepStraightThrough => {
                with_known_variant!(@ $op, UnaryOp::StepStraightThrough, $body)
            }
        }
    };
    (@ $op:ident, $known:expr, $body:expr) => {{
        let $op: UnaryOp<_> = $known;
        $body
    }};
}

pub(crate) use with_known_variant;
