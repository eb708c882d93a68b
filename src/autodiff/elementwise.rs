//! Elementwise operations: unary maps and binary operations with row/column broadcasting.

use super::tape::{Op, Var};
use crate::ops::{BinaryOp, Exponent, UnaryOp};
use crate::real::Real;
use std::ops::{Add, Div, Mul, Neg, Sub};

impl<'t, T: Real> Var<'t, T> {
    pub(crate) fn unary(self, op: UnaryOp<T>) -> Var<'t, T> {
        let record = || Op::Unary(op, self.id);
        Var::apply([self], record, |k, [x]| k.unary(op, x))
    }

    fn binary(self, op: BinaryOp, other: Var<'t, T>) -> Var<'t, T> {
        let record = || Op::Binary(op, self.id, other.id);
        Var::apply([self, other], record, |k, [a, b]| k.binary(op, a, b))
    }

    /// e^x.
    pub fn exp(self) -> Self {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    pub fn ln(self) -> Self {
        self.unary(UnaryOp::Log)
    }
    /// ln(1 + x), accurate near 0.
    pub fn ln_1p(self) -> Self {
        self.unary(UnaryOp::Log1p)
    }
    /// ln(1 + e^x), computed without overflow.
    pub fn softplus(self) -> Self {
        self.unary(UnaryOp::Softplus)
    }
    /// The logistic function 1 / (1 + e^-x).
    pub fn sigmoid(self) -> Self {
        self.unary(UnaryOp::Sigmoid)
    }
    /// Hyperbolic tangent.
    pub fn tanh(self) -> Self {
        self.unary(UnaryOp::Tanh)
    }
    /// The binary step 𝟙(x > 0), with the straight-through gradient: backpropagation treats it
    /// as the identity (its true derivative is 0 almost everywhere, which would stop learning
    /// below a binary code).
    pub fn step_straight_through(self) -> Self {
        self.unary(UnaryOp::StepStraightThrough)
    }

    /// max(x, 0).
    pub fn relu(self) -> Self {
        self.unary(UnaryOp::Relu)
    }
    /// x for x > 0, `slope * x` otherwise.
    pub fn leaky_relu(self, slope: T) -> Self {
        self.unary(UnaryOp::LeakyRelu(slope))
    }
    /// Scaled exponential linear unit (Klambauer et al. 2017).
    pub fn selu(self) -> Self {
        self.unary(UnaryOp::Selu)
    }
    /// x².
    pub fn square(self) -> Self {
        self.unary(UnaryOp::Square)
    }
    /// √x.
    pub fn sqrt(self) -> Self {
        self.unary(UnaryOp::Sqrt)
    }
    /// `s * x` for a constant `s`.
    pub fn scale(self, s: T) -> Self {
        // 1·x is x to the bit, and its derivative passes the gradient through: no op to record
        // (a mean over one draw, a KL weight of 1), which on a GPU is two launches saved.
        if s == T::one() {
            return self;
        }
        self.unary(UnaryOp::Scale(s))
    }
    /// `x + s` for a constant `s`.
    pub fn shift(self, s: T) -> Self {
        self.unary(UnaryOp::Shift(s))
    }
    /// |x| (gradient 0 at 0).
    pub fn abs(self) -> Self {
        self.unary(UnaryOp::Abs)
    }
    /// 1 / x.
    pub fn recip(self) -> Self {
        self.unary(UnaryOp::Recip)
    }
    /// xⁿ for a whole power `n`.
    pub fn powi(self, n: i32) -> Self {
        self.unary(UnaryOp::Powi(Exponent(n)))
    }
    /// xᵖ for a constant power `p` (x > 0 unless `p` is whole).
    pub fn powf(self, p: T) -> Self {
        self.unary(UnaryOp::Powf(p))
    }
    /// ln |Γ(x)| (see [`crate::special::ln_gamma`]); its derivative is ψ(x).
    pub fn ln_gamma(self) -> Self {
        self.unary(UnaryOp::LnGamma)
    }
    /// ψ(x) = d ln Γ(x)/dx (see [`crate::special::digamma`]); its derivative is ψ'(x).
    pub fn digamma(self) -> Self {
        self.unary(UnaryOp::Digamma)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr, $scalar:expr) => {
        impl<'t, T: Real> $trait for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, rhs: Var<'t, T>) -> Var<'t, T> {
                self.binary($op, rhs)
            }
        }
        impl<'t, T: Real> $trait<T> for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, rhs: T) -> Var<'t, T> {
                #[allow(clippy::redundant_closure_call)]
                self.unary(($scalar)(rhs))
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add, |s| UnaryOp::Shift(s));
binary_operator!(Sub, sub, BinaryOp::Sub, |s: T| UnaryOp::Shift(-s));
binary_operator!(Mul, mul, BinaryOp::Mul, |s| UnaryOp::Scale(s));
binary_operator!(Div, div, BinaryOp::Div, |s: T| UnaryOp::Scale(T::one() / s));

impl<'t, T: Real> Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    fn neg(self) -> Var<'t, T> {
        self.unary(UnaryOp::Neg)
    }
}

/// A constant on the left: `2.0 * x`, `1.0 - x`, `1.0 / x`, `1.0 + x`. (Implemented for `f32`
/// and `f64` each: the orphan rule forbids one impl for every `T: Real`.)
macro_rules! scalar_on_the_left {
    ($t:ty) => {
        impl<'t> Add<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn add(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.shift(self)
            }
        }
        impl<'t> Sub<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn sub(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                (-rhs).shift(self)
            }
        }
        impl<'t> Mul<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn mul(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.scale(self)
            }
        }
        impl<'t> Div<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn div(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.recip().scale(self)
            }
        }
    };
}

scalar_on_the_left!(f32);
scalar_on_the_left!(f64);
