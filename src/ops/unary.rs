//! Unary elementwise maps, as one table: each entry gives a map's value and derivative on the
//! host, the same two in CUDA C, a reference definition in f64 and the inputs to check it on.
//! Everything else comes from the table: the `UnaryOp` enum, the host's loops over a matrix
//! (`map_in_place`, `vjp_in_place`), the CUDA source of the device's two switch functions
//! (`CUDA_SOURCE`, spliced into `backend/cuda/kernels.cu` when a GPU is opened), the op codes
//! the two sides agree on, and the list of cases every backend's contract test runs
//! (`UnaryOp::cases`). An entry cannot lack a part: the macro asks for each.
//!
//! A derivative is written in terms of the input `x` and the output `y`, whichever is cheaper.

use crate::kernels::wide;
use crate::real::{Real, c};
use crate::special;

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

/// A map's parameter, as the CUDA kernel and the reference definition take it (a double).
#[cfg_attr(not(any(test, feature = "cuda")), allow(dead_code))]
pub(crate) trait Parameter: Copy {
    fn to_f64(self) -> f64;
}

impl<T: Real> Parameter for T {
    fn to_f64(self) -> f64 {
        Real::to_f64(self)
    }
}

/// An integer power's exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exponent(pub(crate) i32);

impl Parameter for Exponent {
    fn to_f64(self) -> f64 {
        f64::from(self.0)
    }
}

/// One contract case of a map: the op (with an example parameter), its reference value
/// `f(x, p)` in f64, and its derivative's reference, `None` for central differences of `f`.
#[cfg(test)]
pub(crate) struct UnaryCase<T> {
    pub(crate) op: UnaryOp<T>,
    pub(crate) reference: fn(f64, f64) -> f64,
    pub(crate) slope: Option<fn(f64, f64) -> f64>,
    /// The interval the inputs are drawn from.
    pub(crate) inputs: (f64, f64),
}

/// The table's grammar: for each map, its doc, its variant (with `(name: type = example)` for a
/// parameter), then
/// - `value: |x| ...` and `derivative: |x, y| ...` on the host, in `T` (the parameter by name);
/// - `cuda: ["value", "derivative"]`, the same in CUDA C over `real x, y, p`;
/// - `reference: |x, p| ...` in f64, and optionally `slope: |x, p| ...`, the derivative the
///   contract expects where central differences of the reference would not give it;
/// - `inputs: (low, high)`, where the contract draws its inputs.
macro_rules! unary_ops {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $(($param:ident : $pty:tt = $example:expr))? {
            value: |$x:ident| $value:expr,
            derivative: |$dx:ident, $dy:ident| $derivative:expr,
            cuda: [$cuda_value:literal, $cuda_derivative:literal],
            reference: |$rx:ident, $rp:pat_param| $reference:expr,
            $(slope: |$sx:pat_param, $sp:pat_param| $slope:expr,)?
            inputs: ($low:expr, $high:expr),
        }
    )*) => {
        /// A unary elementwise map (the table in `ops/unary.rs`).
        #[derive(Clone, Copy, Debug)]
        pub(crate) enum UnaryOp<T> {
            $($(#[doc = $doc])* $name $(($pty))?,)*
        }

        /// The maps' codes, shared with the CUDA source: the table's order.
        #[allow(dead_code)]
        #[derive(Clone, Copy)]
        enum Code {
            $($name,)*
        }

        impl<T: Real> UnaryOp<T> {
            /// The map's value at `x`.
            #[inline(always)]
            #[allow(unused_variables)]
            pub(crate) fn apply(self, x: T) -> T {
                match self {
                    $(UnaryOp::$name $(($param))? => {
                        let $x = x;
                        $value
                    })*
                }
            }

            /// dy/dx at input `x` with output `y`.
            #[inline(always)]
            #[allow(unused_variables)]
            pub(crate) fn derivative(self, x: T, y: T) -> T {
                match self {
                    $(UnaryOp::$name $(($param))? => {
                        let ($dx, $dy) = (x, y);
                        $derivative
                    })*
                }
            }

            /// The code the CUDA kernels switch on.
            #[cfg_attr(not(any(test, feature = "cuda")), allow(dead_code))]
            pub(crate) fn code(self) -> i32 {
                match self {
                    $(UnaryOp::$name { .. } => Code::$name as i32,)*
                }
            }

            /// The parameter, 0 for a map without one.
            #[cfg_attr(not(any(test, feature = "cuda")), allow(dead_code))]
            #[allow(unused_variables)]
            pub(crate) fn parameter(self) -> f64 {
                match self {
                    $(UnaryOp::$name $(($param))? => unary_ops!(@parameter $($param)?),)*
                }
            }

            /// `op` applied to every entry of `xs`, in place. Each arm runs its own loop with
            /// the map known to the compiler, so that the `match` inside `apply` folds away
            /// and the loop vectorises (with the map known only at run time, each entry would
            /// branch).
            pub(crate) fn map_in_place(self, xs: &mut [T]) {
                match self {
                    $(UnaryOp::$name $(($param))? => {
                        let op = UnaryOp::$name $(($param))?;
                        let len = xs.len();
                        wide(len, #[inline(always)] || {
                            for y in xs.iter_mut() {
                                *y = op.apply(*y);
                            }
                        });
                    })*
                }
            }

            /// `g` times the derivative at inputs `xs` with outputs `ys`, in `g`'s storage, one
            /// loop per map as in [`UnaryOp::map_in_place`].
            pub(crate) fn vjp_in_place(self, g: &mut [T], xs: &[T], ys: &[T]) {
                match self {
                    $(UnaryOp::$name $(($param))? => {
                        let op = UnaryOp::$name $(($param))?;
                        let entries = g.iter_mut().zip(xs).zip(ys);
                        wide(xs.len(), #[inline(always)] || {
                            for ((g, &x), &y) in entries {
                                *g *= op.derivative(x, y);
                            }
                        });
                    })*
                }
            }

            /// Every map once, with an example parameter, its reference and the inputs to
            /// check it on: what the backend contract runs on every backend.
            #[cfg(test)]
            pub(crate) fn cases() -> Vec<UnaryCase<T>> {
                vec![$(UnaryCase {
                    op: UnaryOp::$name $((unary_ops!(@example $pty, $example)))?,
                    reference: |$rx, $rp| $reference,
                    slope: unary_ops!(@slope $(|$sx, $sp| $slope)?),
                    inputs: ($low, $high),
                },)*]
            }
        }

        /// The device's side of the table, in CUDA C: the codes, and the value and the
        /// derivative of each map (`real x, y, p`, the parameter in `p`).
        #[cfg_attr(not(any(test, feature = "cuda")), allow(dead_code))]
        pub(crate) const CUDA_SOURCE: &str = concat!(
            "enum {", $(" UNARY_", stringify!($name), ",",)* " };\n",
            "__device__ real apply_unary(int op, real p, real x) {\n    switch (op) {\n",
            $("    case UNARY_", stringify!($name), ": return ", $cuda_value, ";\n",)*
            "    }\n    return nan(\"\");\n}\n",
            "__device__ real unary_derivative(int op, real p, real x, real y) {\n    switch (op) {\n",
            $("    case UNARY_", stringify!($name), ": return ", $cuda_derivative, ";\n",)*
            "    }\n    return nan(\"\");\n}\n",
        );
    };
    (@example T, $example:expr) => { T::of_f64($example) };
    (@example $other:ty, $example:expr) => { $example };
    (@slope) => { None };
    (@slope |$sx:pat_param, $sp:pat_param| $slope:expr) => {
        Some((|$sx, $sp| $slope) as fn(f64, f64) -> f64)
    };
    (@parameter) => { 0.0 };
    (@parameter $param:ident) => { Parameter::to_f64($param) };
}

unary_ops! {
    /// −x.
    Neg {
        value: |x| -x,
        derivative: |x, y| -T::one(),
        cuda: ["-x", "-1"],
        reference: |x, _| -x,
        inputs: (-3.0, 3.0),
    }
    /// eˣ.
    Exp {
        value: |x| x.exp(),
        derivative: |x, y| y,
        cuda: ["exp(x)", "y"],
        reference: |x, _| x.exp(),
        inputs: (-5.0, 5.0),
    }
    /// ln x.
    Log {
        value: |x| x.ln(),
        derivative: |x, y| T::one() / x,
        cuda: ["log(x)", "(real)1 / x"],
        reference: |x, _| x.ln(),
        inputs: (0.1, 9.0),
    }
    /// ln(1 + x).
    Log1p {
        value: |x| x.ln_1p(),
        derivative: |x, y| T::one() / (T::one() + x),
        cuda: ["log1p(x)", "(real)1 / ((real)1 + x)"],
        reference: |x, _| x.ln_1p(),
        inputs: (-0.5, 9.0),
    }
    /// ln(1 + eˣ).
    Softplus {
        value: |x| softplus(x),
        derivative: |x, y| sigmoid(x),
        cuda: ["softplus_of(x)", "sigmoid_of(x)"],
        reference: |x, _| x.exp().ln_1p(),
        inputs: (-20.0, 20.0),
    }
    /// 1 / (1 + e⁻ˣ).
    Sigmoid {
        value: |x| sigmoid(x),
        derivative: |x, y| y * (T::one() - y),
        cuda: ["sigmoid_of(x)", "y * ((real)1 - y)"],
        reference: |x, _| 1.0 / (1.0 + (-x).exp()),
        inputs: (-20.0, 20.0),
    }
    /// tanh x.
    Tanh {
        value: |x| x.tanh(),
        derivative: |x, y| T::one() - y * y,
        cuda: ["tanh(x)", "(real)1 - y * y"],
        reference: |x, _| x.tanh(),
        inputs: (-4.0, 4.0),
    }
    /// max(x, 0).
    Relu {
        value: |x| if x > T::zero() { x } else { T::zero() },
        derivative: |x, y| if x > T::zero() { T::one() } else { T::zero() },
        cuda: ["x > (real)0 ? x : (real)0", "x > (real)0 ? (real)1 : (real)0"],
        reference: |x, _| x.max(0.0),
        inputs: (-3.0, 3.0),
    }
    /// x for x > 0, `slope · x` otherwise.
    LeakyRelu(slope: T = 0.1) {
        value: |x| if x > T::zero() { x } else { slope * x },
        derivative: |x, y| if x > T::zero() { T::one() } else { slope },
        cuda: ["x > (real)0 ? x : p * x", "x > (real)0 ? (real)1 : p"],
        reference: |x, p| if x > 0.0 { x } else { p * x },
        inputs: (-3.0, 3.0),
    }
    /// The scaled exponential linear unit.
    Selu {
        value: |x| {
            let l: T = c(SELU_LAMBDA);
            if x > T::zero() { l * x } else { l * c::<T>(SELU_ALPHA) * (x.exp() - T::one()) }
        },
        derivative: |x, y| {
            if x > T::zero() { c(SELU_LAMBDA) } else { y + c::<T>(SELU_LAMBDA * SELU_ALPHA) }
        },
        cuda: [
            "x > (real)0 ? (real)SELU_LAMBDA * x : (real)(SELU_LAMBDA * SELU_ALPHA) * (exp(x) - (real)1)",
            "x > (real)0 ? (real)SELU_LAMBDA : y + (real)(SELU_LAMBDA * SELU_ALPHA)"
        ],
        reference: |x, _| {
            if x > 0.0 { SELU_LAMBDA * x } else { SELU_LAMBDA * SELU_ALPHA * x.exp_m1() }
        },
        inputs: (-3.0, 3.0),
    }
    /// x².
    Square {
        value: |x| x * x,
        derivative: |x, y| x + x,
        cuda: ["x * x", "x + x"],
        reference: |x, _| x * x,
        inputs: (-3.0, 3.0),
    }
    /// √x.
    Sqrt {
        value: |x| x.sqrt(),
        derivative: |x, y| c::<T>(0.5) / y,
        cuda: ["sqrt(x)", "(real)0.5 / y"],
        reference: |x, _| x.sqrt(),
        inputs: (0.1, 9.0),
    }
    /// `s · x`.
    Scale(s: T = -2.5) {
        value: |x| s * x,
        derivative: |x, y| s,
        cuda: ["p * x", "p"],
        reference: |x, p| p * x,
        inputs: (-3.0, 3.0),
    }
    /// `x + s`.
    Shift(s: T = 0.75) {
        value: |x| x + s,
        derivative: |x, y| T::one(),
        cuda: ["x + p", "1"],
        reference: |x, p| x + p,
        inputs: (-3.0, 3.0),
    }
    /// |x|, with the subgradient 0 at the kink.
    Abs {
        value: |x| x.abs(),
        derivative: |x, y| {
            if x > T::zero() { T::one() } else if x < T::zero() { -T::one() } else { T::zero() }
        },
        cuda: ["fabs(x)", "x > (real)0 ? (real)1 : (x < (real)0 ? (real)-1 : (real)0)"],
        reference: |x, _| x.abs(),
        inputs: (-3.0, 3.0),
    }
    /// 1 / x.
    Recip {
        value: |x| T::one() / x,
        derivative: |x, y| -y * y,
        cuda: ["(real)1 / x", "-y * y"],
        reference: |x, _| 1.0 / x,
        inputs: (0.5, 4.0),
    }
    /// xⁿ for a whole power `n`.
    Powi(n: Exponent = Exponent(3)) {
        value: |x| x.powi(n.0),
        derivative: |x, y| match n.0 {
            0 => T::zero(),
            n => T::of_f64(f64::from(n)) * x.powi(n - 1),
        },
        cuda: ["pow(x, p)", "p == (real)0 ? (real)0 : p * pow(x, p - (real)1)"],
        reference: |x, p| x.powf(p),
        inputs: (-2.0, 2.0),
    }
    /// xᵖ for a constant power `p`.
    Powf(p: T = 1.5) {
        value: |x| x.powf(p),
        derivative: |x, y| p * x.powf(p - T::one()),
        cuda: ["pow(x, p)", "p * pow(x, p - (real)1)"],
        reference: |x, p| x.powf(p),
        inputs: (0.1, 4.0),
    }
    /// ln |Γ(x)|.
    LnGamma {
        value: |x| T::of_f64(special::ln_gamma(x.to_f64())),
        derivative: |x, y| T::of_f64(special::digamma(x.to_f64())),
        cuda: ["(real)lgamma((double)x)", "(real)digamma_of((double)x)"],
        reference: |x, _| special::ln_gamma(x),
        inputs: (0.2, 12.0),
    }
    /// ψ(x) = d ln Γ(x)/dx.
    Digamma {
        value: |x| T::of_f64(special::digamma(x.to_f64())),
        derivative: |x, y| T::of_f64(special::trigamma(x.to_f64())),
        cuda: ["(real)digamma_of((double)x)", "(real)trigamma_of((double)x)"],
        reference: |x, _| special::digamma(x),
        inputs: (0.2, 12.0),
    }
    /// The step 𝟙(x > 0), with the straight-through gradient: taken to be the identity's.
    StepStraightThrough {
        value: |x| if x > T::zero() { T::one() } else { T::zero() },
        derivative: |x, y| T::one(),
        cuda: ["x > (real)0 ? (real)1 : (real)0", "1"],
        reference: |x, _| f64::from(x > 0.0),
        slope: |_, _| 1.0,
        inputs: (-3.0, 3.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_has_one_code_and_one_case_on_each_side() {
        let cases = UnaryOp::<f64>::cases();
        let codes: Vec<i32> = cases.iter().map(|case| case.op.code()).collect();
        assert_eq!(codes, (0..cases.len() as i32).collect::<Vec<_>>());
        // The CUDA source names each code once in its enum and once in each switch.
        let entries = CUDA_SOURCE.matches("case UNARY_").count();
        assert_eq!(entries, 2 * cases.len(), "{CUDA_SOURCE}");
        assert_eq!(CUDA_SOURCE.matches(" UNARY_").count(), 3 * cases.len());
    }

    #[test]
    fn the_in_place_loops_are_apply_and_derivative_entry_by_entry() {
        let xs: Vec<f64> = (0..37).map(|i| f64::from(i) / 5.0 - 3.3).collect();
        for case in UnaryOp::<f64>::cases() {
            let op = case.op;
            let mut ys = xs.clone();
            op.map_in_place(&mut ys);
            let want: Vec<f64> = xs.iter().map(|&x| op.apply(x)).collect();
            assert_eq!(
                ys.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{op:?}"
            );
            let mut g = vec![0.5; xs.len()];
            op.vjp_in_place(&mut g, &xs, &ys);
            for ((g, &x), &y) in g.iter().zip(&xs).zip(&ys) {
                assert_eq!(g.to_bits(), (0.5 * op.derivative(x, y)).to_bits(), "{op:?}");
            }
        }
    }
}
