//! The float trait: every type in the crate is generic over `T: Real`, implemented for `f32` and
//! `f64`, with what each of the two brings: vectorisable maths (`vector_math.rs`) and, with the
//! `cuda` feature, its CUDA name and cuBLAS routines (`cuda.rs`). The bottom layer: it imports
//! nothing else of the crate.

#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod vector_math;

pub(crate) use vector_math::VectorMath;

use nalgebra::RealField;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar: `f32` or `f64`.
///
/// It is nalgebra's [`RealField`] (so `exp`, `ln`, `sqrt`, ... are the `ComplexField` methods)
/// plus the few things the crate needs beyond it: conversion from `f64` constants, a standard
/// normal draw and a matrix product that reaches the fast kernels with transposes and without
/// copies. The trait is sealed: the matrix kernels exist for these two types only.
pub trait Real:
    RealField + Copy + Default + std::fmt::LowerExp + sealed::Sealed + VectorMath + DeviceElement
{
    /// Converts an `f64` constant (rounding to nearest for `f32`).
    fn of_f64(x: f64) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// One draw from N(0, 1).
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self;
    /// `c = alpha * op(a) * op(b) + beta * c` on raw column-major storage; `op` is chosen through
    /// the strides.
    ///
    /// # Safety
    /// The pointers and strides must describe valid `m x k`, `k x n` and `m x n` matrices, and `c`
    /// must not alias `a` or `b`.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: (*const Self, isize, isize),
        b: (*const Self, isize, isize),
        beta: Self,
        c: (*mut Self, isize, isize),
    );
}

/// What the device backends need of an element type; every [`Real`] has it.
#[cfg(feature = "cuda")]
pub trait DeviceElement: cuda::GpuReal {}
/// What the device backends need of an element type; every [`Real`] has it.
#[cfg(not(feature = "cuda"))]
pub trait DeviceElement {}
impl DeviceElement for f32 {}
impl DeviceElement for f64 {}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            #[inline]
            fn of_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
                StandardNormal.sample(rng)
            }
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: (*const Self, isize, isize),
                b: (*const Self, isize, isize),
                beta: Self,
                c: (*mut Self, isize, isize),
            ) {
                // gemm's convention: dst = α dst + β lhs rhs, strides as (column, row); with
                // `read_dst` false, dst is only written.
                // SAFETY: forwarded from the caller's contract.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.0,
                        c.2,
                        c.1,
                        beta != 0.0,
                        a.0,
                        a.2,
                        a.1,
                        b.0,
                        b.2,
                        b.1,
                        beta,
                        alpha,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);

/// Shorthand for `T::of_f64(x)`, for constants in generic code.
#[inline]
pub fn c<T: Real>(x: f64) -> T {
    T::of_f64(x)
}
