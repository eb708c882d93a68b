//! What each element type brings to an NVIDIA GPU: its name in CUDA C and its cuBLAS
//! routines (feature `cuda`).

use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, sys::cublasOperation_t};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr, ValidAsZeroBits};

/// An element type the kernels are compiled for (`f32`, `f64`): every [`Real`], through
/// [`super::DeviceElement`].
pub trait GpuReal: DeviceRepr + ValidAsZeroBits + Sized {
    /// Its name in CUDA C.
    const CUDA_NAME: &'static str;
    /// cuBLAS's product for this type.
    ///
    /// # Safety
    /// As `cudarc::cublas::Gemm::gemm`: the configuration must describe the three buffers.
    #[doc(hidden)]
    unsafe fn gemm(
        blas: &CudaBlas,
        config: GemmConfig<Self>,
        a: &CudaSlice<Self>,
        b: &CudaSlice<Self>,
        c: &mut CudaSlice<Self>,
    ) -> std::result::Result<(), cudarc::cublas::result::CublasError>;
    /// cuBLAS's triangular solve for this type: `b` becomes `op(L)⁻¹ b` for the lower
    /// triangle `L` of the `n x n` matrix `l`, with `op` the transpose when `transposed` and
    /// `shape` = `(n, columns)`, the shape of `b`.
    ///
    /// # Safety
    /// `l` must hold `n * n` entries and `b` `n * columns`, both on `stream`, the stream of
    /// `blas`.
    #[doc(hidden)]
    unsafe fn trsm(
        blas: &CudaBlas,
        stream: &CudaStream,
        transposed: bool,
        shape: (i32, i32),
        l: &CudaSlice<Self>,
        b: &mut CudaSlice<Self>,
    ) -> std::result::Result<(), cudarc::cublas::result::CublasError>;
}

macro_rules! gpu_real {
    ($t:ty, $name:literal, $trsm:ident) => {
        impl GpuReal for $t {
            const CUDA_NAME: &'static str = $name;
            unsafe fn gemm(
                blas: &CudaBlas,
                config: GemmConfig<Self>,
                a: &CudaSlice<Self>,
                b: &CudaSlice<Self>,
                c: &mut CudaSlice<Self>,
            ) -> std::result::Result<(), cudarc::cublas::result::CublasError> {
                // SAFETY: passed on to the caller.
                unsafe { blas.gemm(config, a, b, c) }
            }

            unsafe fn trsm(
                blas: &CudaBlas,
                stream: &CudaStream,
                transposed: bool,
                (n, columns): (i32, i32),
                l: &CudaSlice<Self>,
                b: &mut CudaSlice<Self>,
            ) -> std::result::Result<(), cudarc::cublas::result::CublasError> {
                use cudarc::cublas::sys;
                let one: Self = 1.0;
                let (l, _l_read) = l.device_ptr(stream);
                let (b, _b_written) = b.device_ptr_mut(stream);
                // SAFETY: passed on to the caller; `one` outlives the call (host pointer mode).
                unsafe {
                    sys::$trsm(
                        *blas.handle(),
                        sys::cublasSideMode_t::CUBLAS_SIDE_LEFT,
                        sys::cublasFillMode_t::CUBLAS_FILL_MODE_LOWER,
                        operation(transposed),
                        sys::cublasDiagType_t::CUBLAS_DIAG_NON_UNIT,
                        n,
                        columns,
                        &one,
                        l as *const Self,
                        n,
                        b as *mut Self,
                        n,
                    )
                }
                .result()
            }
        }
    };
}

gpu_real!(f32, "float", cublasStrsm_v2);
gpu_real!(f64, "double", cublasDtrsm_v2);

/// cuBLAS's operation: the transpose, or the matrix as it is.
pub(crate) fn operation(transposed: bool) -> cublasOperation_t {
    if transposed {
        cublasOperation_t::CUBLAS_OP_T
    } else {
        cublasOperation_t::CUBLAS_OP_N
    }
}
