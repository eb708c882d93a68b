//! Elementwise operations: unary maps and binary operations with row/column broadcasting.

use super::tape::{Op, Var};
use crate::backend::{Backend, Cpu, OperandGradients};
use crate::kernels::{self, buffers, wide};
use crate::real::{Real, c};
use crate::special;
use nalgebra::DMatrix;
use std::ops::{Add, Div, Mul, Neg, Sub};

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
    fn apply(self, x: T) -> T {
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
    fn derivative(self, x: T, y: T) -> T {
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

/// A binary elementwise operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// The shape two operands broadcast to: along each axis the sizes agree or one of them is 1.
fn broadcast_shape(a: (usize, usize), b: (usize, usize), what: &str) -> (usize, usize) {
    let axis = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    match (axis(a.0, b.0), axis(a.1, b.1)) {
        (Some(r), Some(c)) => (r, c),
        _ => panic!(
            "{what}: shapes {}x{} and {}x{} do not broadcast",
            a.0, a.1, b.0, b.1
        ),
    }
}

/// Column `j` of `m` under broadcasting: its own column `j`, or its only column.
#[inline(always)]
fn broadcast_column<T: Real>(m: &DMatrix<T>, j: usize) -> &[T] {
    let jj = if m.ncols() == 1 { 0 } else { j };
    &m.as_slice()[jj * m.nrows()..(jj + 1) * m.nrows()]
}

/// `f(a_ij, b_ij)` over the broadcast shape of `a` and `b`.
pub(crate) fn zip_broadcast<T: Real>(
    a: &DMatrix<T>,
    b: &DMatrix<T>,
    what: &str,
    f: impl Fn(T, T) -> T,
) -> DMatrix<T> {
    if a.shape() == b.shape() {
        let mut out = buffers::uninitialized(a.nrows(), a.ncols());
        let entries = out
            .as_mut_slice()
            .iter_mut()
            .zip(a.as_slice().iter().zip(b.as_slice()));
        wide(a.len(), || entries.for_each(|(o, (&x, &y))| *o = f(x, y)));
        return out;
    }
    let (r, c) = broadcast_shape(a.shape(), b.shape(), what);
    // Every entry is written below.
    let mut out = buffers::uninitialized(r, c);
    if out.is_empty() {
        // No rows (or no columns) to walk: zero rows broadcast against a row, say.
        return out;
    }
    // A 1 x 1 operand: one loop over the other's storage (a one-row matrix's columns are
    // single entries, which the loop by columns below would visit one at a time).
    if a.len() == 1 || b.len() == 1 {
        let len = out.len();
        let entries = out.as_mut_slice().iter_mut();
        if a.len() == 1 {
            let (x, ys) = (a[0], b.as_slice());
            wide(len, || entries.zip(ys).for_each(|(o, &y)| *o = f(x, y)));
        } else {
            let (xs, y) = (a.as_slice(), b[0]);
            wide(len, || entries.zip(xs).for_each(|(o, &x)| *o = f(x, y)));
        }
        return out;
    }
    // Column j of an operand: its own column j, or its only column; a one-row operand repeats
    // its single entry down the column. One wide loop over all columns (draws by data rows
    // against a data row or a column of scales has short columns: a dispatch per column cost
    // more than the column).
    let columns = out.as_mut_slice().chunks_exact_mut(r).enumerate();
    wide(r * c, || {
        for (j, out_col) in columns {
            let (ca, cb) = (broadcast_column(a, j), broadcast_column(b, j));
            match (ca.len() == 1 && r > 1, cb.len() == 1 && r > 1) {
                (false, false) => out_col
                    .iter_mut()
                    .zip(ca.iter().zip(cb))
                    .for_each(|(o, (&x, &y))| *o = f(x, y)),
                (true, false) => out_col
                    .iter_mut()
                    .zip(cb)
                    .for_each(|(o, &y)| *o = f(ca[0], y)),
                (false, true) => out_col
                    .iter_mut()
                    .zip(ca)
                    .for_each(|(o, &x)| *o = f(x, cb[0])),
                (true, true) => out_col.iter_mut().for_each(|o| *o = f(ca[0], cb[0])),
            }
        }
    });
    out
}

/// `op` applied to every entry of `x`.
pub(crate) fn unary_map<T: Real>(op: UnaryOp<T>, x: &DMatrix<T>) -> DMatrix<T> {
    // A copy mapped in place: a plain slice loop, which vectorises (a collected map did not).
    let mut value = buffers::copy(x);
    let (len, entries) = (value.len(), value.as_mut_slice().iter_mut());
    with_known_variant!(op => wide(len, #[inline(always)] || {
        for y in entries {
            *y = op.apply(*y);
        }
    }));
    value
}

/// `a op b` entry by entry, over the shape the two broadcast to.
///
/// # Panics
/// If the shapes do not broadcast.
pub(crate) fn binary_map<T: Real>(op: BinaryOp, a: &DMatrix<T>, b: &DMatrix<T>) -> DMatrix<T> {
    match op {
        BinaryOp::Add => zip_broadcast(a, b, "add", |x, y| x + y),
        BinaryOp::Sub => zip_broadcast(a, b, "sub", |x, y| x - y),
        BinaryOp::Mul => zip_broadcast(a, b, "mul", |x, y| x * y),
        BinaryOp::Div => zip_broadcast(a, b, "div", |x, y| x / y),
    }
}

/// Sums `g` over the axes along which an operand of `shape` was broadcast.
pub(crate) fn unbroadcast<T: Real>(g: DMatrix<T>, shape: (usize, usize)) -> DMatrix<T> {
    if g.shape() == shape {
        return g;
    }
    let mut out = buffers::zeros(shape.0, shape.1);
    let rows = g.nrows();
    for (j, col) in g.as_slice().chunks_exact(rows.max(1)).enumerate() {
        let jj = if shape.1 == 1 { 0 } else { j };
        if shape.0 == 1 {
            // In f64 (kernels::sum), as every sum over rows: a row broadcast down many rows
            // sums as many terms into its gradient.
            out[(0, jj)] += kernels::sum(col);
        } else {
            let rows_out = shape.0;
            for (o, &v) in out.as_mut_slice()[jj * rows_out..(jj + 1) * rows_out]
                .iter_mut()
                .zip(col)
            {
                *o += v;
            }
        }
    }
    out
}

impl<'t, T: Real> Var<'t, T> {
    pub(crate) fn unary(self, op: UnaryOp<T>) -> Var<'t, T> {
        let record = || Op::Unary(op, self.id);
        if let Some(y) = Var::on_device([self], record, |k, [x]| k.unary(op, x)) {
            return y;
        }
        let Ok(value) = self.with_value(|x| Cpu.unary(op, x));
        self.record(value, Op::Unary(op, self.id))
    }

    fn binary(self, op: BinaryOp, other: Var<'t, T>) -> Var<'t, T> {
        let record = || Op::Binary(op, self.id, other.id);
        if let Some(y) = Var::on_device([self, other], record, |k, [a, b]| k.binary(op, a, b)) {
            return y;
        }
        let Ok(value) = Var::with_values([self, other], |[a, b]| Cpu.binary(op, a, b));
        self.record(value, Op::Binary(op, self.id, other.id))
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
        self.unary(UnaryOp::Powi(n))
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

/// Vector-Jacobian product of a unary map.
pub(crate) fn unary_vjp<T: Real>(
    op: UnaryOp<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    g: DMatrix<T>,
) -> DMatrix<T> {
    let mut g = g;
    let entries = g
        .as_mut_slice()
        .iter_mut()
        .zip(x.as_slice())
        .zip(y.as_slice());
    with_known_variant!(op => wide(x.len(), #[inline(always)] || {
        for ((g, &x), &y) in entries {
            *g *= op.derivative(x, y);
        }
    }));
    g
}

/// Vector-Jacobian products of a binary operation, for whichever operands need them.
pub(crate) fn binary_vjp<T: Real>(
    op: BinaryOp,
    a: &DMatrix<T>,
    b: &DMatrix<T>,
    y: &DMatrix<T>,
    g: &DMatrix<T>,
    need: (bool, bool),
) -> OperandGradients<DMatrix<T>> {
    let (ga, gb) = match op {
        BinaryOp::Add => (
            need.0.then(|| buffers::copy(g)),
            need.1.then(|| buffers::copy(g)),
        ),
        BinaryOp::Sub => (
            need.0.then(|| buffers::copy(g)),
            need.1.then(|| {
                let mut minus = buffers::copy(g);
                minus.neg_mut();
                minus
            }),
        ),
        BinaryOp::Mul => (
            need.0.then(|| zip_broadcast(g, b, "mul", |g, b| g * b)),
            need.1.then(|| zip_broadcast(g, a, "mul", |g, a| g * a)),
        ),
        BinaryOp::Div => (
            need.0.then(|| zip_broadcast(g, b, "div", |g, b| g / b)),
            need.1.then(|| {
                // d(a/b)/db = -y/b
                let gy = zip_broadcast(g, y, "mul", |g, y| g * y);
                let gb = zip_broadcast(&gy, b, "div", |gy, b| -gy / b);
                buffers::recycle(gy);
                gb
            }),
        ),
    };
    (
        ga.map(|g| unbroadcast(g, a.shape())),
        gb.map(|g| unbroadcast(g, b.shape())),
    )
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
