//! The CUDA backend (feature `cuda`): matrices in an NVIDIA GPU's memory, products and
//! triangular solves by cuBLAS, every other kernel from `kernels.cu`, compiled by NVRTC when
//! the GPU is opened.
//!
//! The driver (`libcuda`), cuBLAS and NVRTC are loaded by cudarc when [`Gpu::open`] first runs,
//! not linked: a `cuda` build runs anywhere, and where one of them is missing, opening a GPU is
//! an [`Error::DeviceUnavailable`] naming it. Everything runs on one stream, in order; a host
//! copy ([`Gpu::download`]) waits for the kernels before it.

mod matrix;

pub use matrix::CudaMatrix;

use super::{AdamSlot, Backend, Device};
use crate::error::{Error, Result};
use crate::ops::{AdamUpdate, BinaryOp, Conv2d, DrawParts, NormalPair, Reduce, UnaryOp};
use crate::ops::{Grid, draw_shape, term_shape};
use crate::real::Real;
use crate::real::cuda::GpuReal;
use cudarc::cublas::{CudaBlas, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DeviceRepr, DriverError,
    LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx};
use nalgebra::DMatrix;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The kernels' source, compiled once per element type.
const SOURCE: &str = include_str!("kernels.cu");

/// Where `kernels.cu` takes the unary maps' two switch functions, generated from the table in
/// `ops/unary.rs`.
const UNARY_MAPS: &str = "// UNARY MAPS (generated from src/ops/unary.rs)\n";

/// The kernels' whole source: `kernels.cu` with the unary maps in their place.
fn source() -> String {
    assert!(
        SOURCE.contains(UNARY_MAPS),
        "kernels.cu lost its unary maps' marker"
    );
    SOURCE.replace(UNARY_MAPS, crate::ops::UNARY_CUDA_SOURCE)
}

/// Threads per block: the reductions' shared-memory trees are this wide (`BLOCK` in the source).
const BLOCK: u32 = 256;
/// The rows of a block of the row sums that `tile_row_sums` makes (`TILE_ROWS` in
/// `kernels.cu`).
const TILE_ROWS: usize = 8;

/// Entries per block of a total's first pass.
const TOTAL_SEGMENT: usize = 4096;

/// Queues kernel `$name` (element type `$t`) with `threads: n` (grid-stride over n items) or
/// `blocks: n` (a block per item), and these arguments (references to values that outlive the
/// launch).
macro_rules! launch {
    ($gpu:expr, $t:ty, $name:expr, $how:ident: $n:expr; $($arg:expr),* $(,)?) => {{
        let gpu: &Gpu = $gpu;
        let per_block = stringify!($how) == "blocks";
        match gpu.prepare::<$t>($name, $n, per_block)? {
            None => Ok::<(), Error>(()),
            Some((function, config)) => {
                let mut builder = gpu.stream.launch_builder(&function);
                $( builder.arg($arg); )*
                // SAFETY: every kernel checks its indices against the lengths passed with its
                // buffers, and each buffer holds the entries its shape says.
                unsafe { builder.launch(config) }
                    .map(drop)
                    .map_err(|e| gpu.error("launching", ($name, e)))
            }
        }
    }};
}

/// The kernels of `kernels.cu`, looked up once when the GPU is opened.
const KERNELS: [&str; 27] = [
    "fill",
    "unary_map",
    "unary_vjp",
    "binary_map",
    "segment_sums",
    "row_sums",
    "segment_logsumexp",
    "row_logsumexp",
    "logsumexp_vjp",
    "bernoulli_logits",
    "diag_normal_kl",
    "diag_normal_kl_vjp",
    "normal_draw",
    "normal_draw_vjp",
    "flag_non_finite",
    "adam_update",
    "gather_rows_of_transpose",
    "transpose",
    "standard_normal",
    "uniform",
    "replace_in_rows",
    "copy_grid",
    "lower_triangle",
    "nan_if_singular",
    "im2col",
    "col2im",
    "cholesky",
];

/// A fused op's VJP outputs that were asked for, and their addresses (0 for the others).
type VjpOutputs<T, const N: usize> = ([Option<CudaMatrix<T>>; N], [u64; N]);

/// `Operands` in `kernels.cu`: where up to four operands of a fused op are, and their numbers
/// of rows (1 for one shared by every row).
#[repr(C)]
#[derive(Clone, Copy)]
struct OperandArgs {
    addresses: [u64; 4],
    rows: [i32; 4],
}

// SAFETY: plain data laid out as the kernels' `Operands` (four pointers, then four ints), with
// no padding.
unsafe impl DeviceRepr for OperandArgs {}

/// The most matrices one launch of a multi-matrix kernel takes (`TENSORS` in `kernels.cu`).
const TENSORS: usize = 16;

/// `Tensors` in `kernels.cu`: up to [`TENSORS`] matrices, where their entries are and where
/// each ends in their entries counted one after another.
#[repr(C)]
#[derive(Clone, Copy)]
struct TensorList {
    addresses: [u64; TENSORS],
    ends: [u64; TENSORS],
    count: u64,
}

// SAFETY: plain data laid out as the kernels' `Tensors`, with no padding.
unsafe impl DeviceRepr for TensorList {}

impl TensorList {
    /// The entries of all its matrices.
    fn entries(&self) -> usize {
        match self.count {
            0 => 0,
            n => self.ends[n as usize - 1] as usize,
        }
    }
}

/// `AdamTensors` in `kernels.cu`: the parameters, moments and gradients of one launch.
#[repr(C)]
#[derive(Clone, Copy)]
struct AdamTensors {
    param: TensorList,
    first: TensorList,
    second: TensorList,
    grad: TensorList,
}

// SAFETY: as for `TensorList`.
unsafe impl DeviceRepr for AdamTensors {}

/// An open NVIDIA GPU: its context, one stream, a cuBLAS handle and the compiled kernels.
///
/// Tapes on several threads may share it (evaluation runs its chunks in parallel): their
/// launches queue on the one stream, each thread's in its own order, and the cuBLAS handle is
/// used by one product at a time.
pub struct Gpu {
    ordinal: usize,
    name: String,
    stream: Arc<CudaStream>,
    blas: Mutex<CudaBlas>,
    /// By element type (its CUDA name) and kernel name.
    kernels: BTreeMap<(&'static str, &'static str), CudaFunction>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(cuda:{}, {})", self.ordinal, self.name)
    }
}

/// [`Error::Device`] for GPU `ordinal` failing at `operation`.
pub(crate) fn device_error(
    ordinal: usize,
    operation: &'static str,
    problem: impl std::fmt::Debug,
) -> Error {
    Error::Device {
        device: Device::Cuda(ordinal).to_string(),
        operation,
        problem: format!("{problem:?}"),
    }
}

/// The process's handle on GPU `ordinal`, opened on first use (so the kernels are compiled
/// once) and kept to the end.
///
/// # Errors
/// As [`Gpu::open`].
pub(crate) fn shared(ordinal: usize) -> Result<Arc<Gpu>> {
    static OPEN: Mutex<BTreeMap<usize, Arc<Gpu>>> = Mutex::new(BTreeMap::new());
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(gpu) = open.get(&ordinal) {
        return Ok(Arc::clone(gpu));
    }
    let gpu = Arc::new(Gpu::open(ordinal)?);
    open.insert(ordinal, Arc::clone(&gpu));
    Ok(gpu)
}

/// Keeps the memory freed by the stream in the device's pool rather than handing it back to
/// the driver whenever the host waits. (The default threshold, 0, trims the pool at every
/// synchronisation, and a step waits for its loss: the next step's allocations would map
/// their memory again.) The pool then holds the largest step's memory, as PyTorch's caching
/// allocator does.
fn keep_freed_memory(context: &CudaContext) -> std::result::Result<(), DriverError> {
    use cudarc::driver::sys;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: the pool is the device's own, and the attribute takes a u64.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, context.cu_device()).result()?;
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .result()
    }
}

/// The libraries a GPU needs, how cudarc finds each, and what to tell a user who lacks it.
fn missing_library() -> Option<&'static str> {
    // SAFETY: each call only tries to load the library (dlopen) and closes it again.
    let present = unsafe {
        [
            (
                cudarc::driver::sys::is_culib_present(),
                "the NVIDIA driver (libcuda.so) was not found: install the driver, or run on \
                 the CPU (--device cpu)",
            ),
            (
                cudarc::cublas::sys::is_culib_present(),
                "cuBLAS (libcublas.so) was not found: install the CUDA toolkit's libraries, or \
                 put their directory on LD_LIBRARY_PATH",
            ),
            (
                cudarc::nvrtc::sys::is_culib_present(),
                "NVRTC (libnvrtc.so) was not found: install the CUDA toolkit's libraries, or \
                 put their directory on LD_LIBRARY_PATH",
            ),
        ]
    };
    present
        .into_iter()
        .find_map(|(found, message)| (!found).then_some(message))
}

/// The kernels compiled to PTX for `real` (`float` or `double`). Needs NVRTC only, no GPU.
///
/// # Errors
/// [`Error::DeviceUnavailable`] if NVRTC is missing or rejects the source (with its log).
pub(crate) fn compile_kernels(real: &str) -> Result<Ptx> {
    let unavailable = |reason: String| Error::DeviceUnavailable {
        device: "cuda".into(),
        reason,
    };
    // SAFETY: as in `missing_library`.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(unavailable(
            "NVRTC (libnvrtc.so) was not found: install the CUDA toolkit's libraries".into(),
        ));
    }
    let options = CompileOptions {
        options: vec![format!("-DREAL={real}")],
        name: Some(format!("elbo_kernels_{real}.cu")),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(source(), options).map_err(|e| {
        unavailable(format!(
            "NVRTC could not compile the kernels for {real}: {e:?}"
        ))
    })
}

impl Gpu {
    /// Opens GPU `ordinal` (0 for the first): loads the driver, cuBLAS and NVRTC, makes a
    /// stream and compiles the kernels (a second or so).
    ///
    /// # Errors
    /// [`Error::DeviceUnavailable`] naming what is missing (a library, or a GPU of that
    /// ordinal), and [`Error::Device`] if the driver refuses an operation.
    pub fn open(ordinal: usize) -> Result<Gpu> {
        let device = Device::Cuda(ordinal).to_string();
        let unavailable = |reason: String| Error::DeviceUnavailable {
            device: device.clone(),
            reason,
        };
        if let Some(reason) = missing_library() {
            return Err(unavailable(reason.into()));
        }
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(format!("the driver cannot count its GPUs ({e})")))?;
        if ordinal >= count.max(0) as usize {
            return Err(unavailable(format!(
                "this machine has {count} CUDA GPU(s); choose one of cuda:0 to cuda:{}",
                count - 1
            )));
        }
        let failed = |operation| move |e: DriverError| device_error(ordinal, operation, e);
        let context = CudaContext::new(ordinal).map_err(failed("opening a context"))?;
        // SAFETY: everything runs on the context's one stream, in order, so no buffer needs
        // the events cudarc would otherwise make (two per allocation) to order its uses
        // across streams.
        unsafe { context.disable_event_tracking() };
        if context.has_async_alloc() {
            keep_freed_memory(&context).map_err(failed("setting up its memory pool"))?;
        }
        let name = context.name().map_err(failed("reading its name"))?;
        let stream = context.default_stream();
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| device_error(ordinal, "opening cuBLAS", e))?;
        let mut kernels = BTreeMap::new();
        for real in [f32::CUDA_NAME, f64::CUDA_NAME] {
            let module = context
                .load_module(compile_kernels(real)?)
                .map_err(failed("loading the kernels"))?;
            for name in KERNELS {
                let function = module
                    .load_function(name)
                    .map_err(|e| device_error(ordinal, "finding a kernel", (name, e)))?;
                kernels.insert((real, name), function);
            }
        }
        Ok(Gpu {
            ordinal,
            name,
            blas: Mutex::new(blas),
            kernels,
            stream,
        })
    }

    /// The GPU's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of the GPU's memory in use, by every process (total less free, as the driver
    /// reports them).
    ///
    /// # Errors
    /// [`Error::Device`] if the driver cannot say.
    pub fn memory_used(&self) -> Result<u64> {
        let (free, total) = self
            .stream
            .context()
            .mem_get_info()
            .map_err(|e| self.error("reading its memory", e))?;
        Ok((total - free) as u64)
    }

    /// A copy of a host matrix in the GPU's memory.
    ///
    /// # Errors
    /// [`Error::Device`] if the GPU cannot allocate it.
    pub fn upload<T: Real>(&self, m: &DMatrix<T>) -> Result<CudaMatrix<T>> {
        <Self as Backend<T>>::upload(self, m)
    }

    /// A host copy of `m`, once every kernel queued before it has run.
    ///
    /// # Errors
    /// [`Error::Device`] if the copy, or a kernel before it, failed.
    pub fn download<T: Real>(&self, m: &CudaMatrix<T>) -> Result<DMatrix<T>> {
        <Self as Backend<T>>::download(self, m)
    }

    fn error(&self, operation: &'static str, problem: impl std::fmt::Debug) -> Error {
        device_error(self.ordinal, operation, problem)
    }

    fn kernel<T: Real>(&self, name: &'static str) -> Result<CudaFunction> {
        let found = self.kernels.get(&(T::CUDA_NAME, name)).cloned();
        found.ok_or_else(|| self.error("finding a kernel", (name, "not in KERNELS")))
    }

    /// `out = op(a) op(b) + beta out` by cuBLAS, for operands of nonzero sizes that fit `out`.
    fn gemm<T: Real>(
        &self,
        (a, ta): (&CudaMatrix<T>, bool),
        (b, tb): (&CudaMatrix<T>, bool),
        beta: T,
        out: &mut CudaMatrix<T>,
    ) -> Result<()> {
        let (m, n, k) = product_shape(a, ta, b, tb);
        let int = |v: usize| i32::try_from(v).expect("a matrix dimension past 2^31");
        let config = GemmConfig {
            transa: operation(ta),
            transb: operation(tb),
            m: int(m),
            n: int(n),
            k: int(k),
            alpha: T::one(),
            lda: int(a.rows.max(1)),
            ldb: int(b.rows.max(1)),
            beta,
            ldc: int(m),
        };
        // SAFETY: the dimensions and leading dimensions are those of the three buffers.
        let blas = self.blas.lock().unwrap_or_else(PoisonError::into_inner);
        unsafe { T::gemm(&blas, config, &a.data, &b.data, &mut out.data) }
            .map_err(|e| self.error("a cuBLAS product", e))
    }

    /// Room for a `rows x cols` result, its entries left unset: for the kernels and cuBLAS
    /// calls that write every entry of their output (each kernel here does), which saves a
    /// memset per operation.
    fn alloc<T: Real>(&self, rows: usize, cols: usize) -> Result<CudaMatrix<T>> {
        // SAFETY: every caller writes all `rows * cols` entries before the matrix is read.
        self.matrix(rows, cols, |len| unsafe { self.stream.alloc::<T>(len) })
    }

    /// A `rows x cols` matrix of zeros.
    fn zeroed<T: Real>(&self, rows: usize, cols: usize) -> Result<CudaMatrix<T>> {
        self.matrix(rows, cols, |len| self.stream.alloc_zeros::<T>(len))
    }

    /// A `rows x cols` matrix in memory from `allocate` (given the number of entries).
    fn matrix<T: Real>(
        &self,
        rows: usize,
        cols: usize,
        allocate: impl FnOnce(usize) -> std::result::Result<CudaSlice<T>, DriverError>,
    ) -> Result<CudaMatrix<T>> {
        // At least one entry: the driver refuses empty allocations.
        let data = allocate((rows * cols).max(1)).map_err(|e| self.error("allocating", e))?;
        Ok(CudaMatrix { data, rows, cols })
    }

    /// Where `m`'s entries are in the GPU's memory, for a kernel argument that packs several
    /// buffers. (cudarc's guard that comes with the address records nothing: event tracking
    /// is off.)
    fn address<T: Real>(&self, m: &CudaMatrix<T>) -> u64 {
        m.data.device_ptr(&self.stream).0
    }

    /// The kernels' description of up to [`TENSORS`] matrices. The kernels that take it write
    /// some of them (Adam's parameters and moments): an address is only a number here, and
    /// everything runs on the one stream, in order.
    fn tensor_list<T: Real>(&self, xs: &[&CudaMatrix<T>]) -> TensorList {
        assert!(xs.len() <= TENSORS, "{} matrices in one launch", xs.len());
        let mut list = TensorList {
            addresses: [0; TENSORS],
            ends: [0; TENSORS],
            count: xs.len() as u64,
        };
        let mut end = 0;
        for (k, x) in xs.iter().enumerate() {
            end += (x.rows * x.cols) as u64;
            list.addresses[k] = self.address(x);
            list.ends[k] = end;
        }
        list
    }

    /// The kernels' description of up to four operands of a fused op.
    fn operands<T: Real>(&self, xs: &[&CudaMatrix<T>]) -> OperandArgs {
        let mut args = OperandArgs {
            addresses: [0; 4],
            rows: [0; 4],
        };
        for (k, x) in xs.iter().enumerate() {
            args.addresses[k] = self.address(x);
            args.rows[k] = x.rows as i32;
        }
        args
    }

    /// Room for each of `need`'s `rows x cols` outputs of a fused op's VJP, and their
    /// addresses for its kernel (null for one nobody asked for: the kernel skips it).
    fn vjp_outputs<T: Real, const N: usize>(
        &self,
        need: [bool; N],
        (rows, cols): (usize, usize),
    ) -> Result<VjpOutputs<T, N>> {
        let mut outputs = [(); N].map(|()| None);
        for (slot, wanted) in outputs.iter_mut().zip(need) {
            if wanted {
                *slot = Some(self.alloc::<T>(rows, cols)?);
            }
        }
        let addresses = outputs
            .each_ref()
            .map(|m| m.as_ref().map_or(0, |m| self.address(m)));
        Ok((outputs, addresses))
    }

    /// The gradients of a fused op's operands from their `rows x cols` derivatives: summed
    /// down the rows for an operand shared by every row.
    fn reduced_to_operands<T: Real, const N: usize>(
        &self,
        derivatives: [Option<CudaMatrix<T>>; N],
        operands: [&CudaMatrix<T>; N],
    ) -> Result<[Option<CudaMatrix<T>>; N]> {
        let mut grads = [(); N].map(|()| None);
        for (k, derivative) in derivatives.into_iter().enumerate() {
            let Some(derivative) = derivative else {
                continue;
            };
            grads[k] = Some(if operands[k].rows == derivative.rows {
                derivative
            } else {
                <Self as Backend<T>>::sum(self, &derivative, Reduce::EachColumn)?
            });
        }
        Ok(grads)
    }

    /// The kernel `name` and a launch over `n` items (a block per item, or grid-stride
    /// threads), or `None` when there is nothing to do.
    fn prepare<T: Real>(
        &self,
        name: &'static str,
        n: usize,
        block_per_item: bool,
    ) -> Result<Option<(CudaFunction, LaunchConfig)>> {
        if n == 0 {
            return Ok(None);
        }
        let blocks = if block_per_item {
            u32::try_from(n).map_err(|_| self.error("launching", (name, "too many blocks")))?
        } else {
            n.div_ceil(BLOCK as usize).min(1 << 16) as u32
        };
        let config = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        Ok(Some((self.kernel::<T>(name)?, config)))
    }

    /// Sums or log-sum-exps (`segment`, `row`: the kernels) of `x` over `how`.
    fn reduce<T: Real>(
        &self,
        x: &CudaMatrix<T>,
        how: Reduce,
        [segment, row]: [&'static str; 2],
    ) -> Result<CudaMatrix<T>> {
        let (r, c) = (x.rows, x.cols);
        let (ri, ci, n) = (r as i32, c as i32, (r * c) as u64);
        let (rows, cols) = match how {
            Reduce::All => (1, 1),
            Reduce::EachRow => (r, 1),
            Reduce::EachColumn => (1, c),
        };
        if n == 0 {
            // No entries: no kernel runs, and the result is zeros of the reduced shape.
            return self.zeroed(rows, cols);
        }
        match how {
            Reduce::EachRow if r > 1 => {
                let mut out = self.alloc(r, 1)?;
                launch!(self, T, row, threads: r; &x.data, &ri, &ci, &mut out.data)?;
                Ok(out)
            }
            Reduce::EachColumn if c > 1 => {
                let mut out = self.alloc(1, c)?;
                self.segments(segment, &x.data, n, r as u64, &mut out.data)?;
                Ok(out)
            }
            // Everything, or a single row or column: one total, in one or two passes.
            _ => {
                let mut out = self.alloc(rows, cols)?;
                // Log-sum-exp in one block (it is rare over everything); sums in two passes.
                let len = if segment == "segment_sums" {
                    TOTAL_SEGMENT as u64
                } else {
                    n
                };
                if n <= len {
                    self.segments(segment, &x.data, n, n, &mut out.data)?;
                    return Ok(out);
                }
                let parts = n.div_ceil(len);
                let mut partial = self.alloc::<T>(parts as usize, 1)?;
                self.segments(segment, &x.data, n, len, &mut partial.data)?;
                self.segments(segment, &partial.data, parts, parts, &mut out.data)?;
                Ok(out)
            }
        }
    }

    /// Runs `kernel` with one block for each segment of `len` entries of the first `n` of `x`.
    fn segments<T: Real>(
        &self,
        kernel: &'static str,
        x: &CudaSlice<T>,
        n: u64,
        len: u64,
        out: &mut CudaSlice<T>,
    ) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let blocks = n.div_ceil(len) as usize;
        launch!(self, T, kernel, blocks: blocks; x, &n, &len, out)
    }
}

/// The kernels' code for a unary op and its parameter.
/// The code and the parameter the unary kernels take for `op` (the table in `ops/unary.rs`).
fn unary_code<T: Real>(op: UnaryOp<T>) -> (i32, T) {
    (op.code(), T::of_f64(op.parameter()))
}

/// The arguments `im2col` and `col2im` take after their matrix: the batch, then the geometry.
fn conv_args(images: usize, g: Conv2d) -> [i32; 9] {
    [
        images,
        g.in_channels,
        g.height,
        g.width,
        g.kernel,
        g.stride,
        g.padding,
        g.out_height(),
        g.out_width(),
    ]
    .map(|v| i32::try_from(v).expect("a convolution dimension past 2^31"))
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
    }
}

/// The shape two operands broadcast to.
///
/// # Panics
/// If they do not broadcast (a programming error, as on the host).
fn broadcast_shape(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    let axis = |x: usize, y: usize| match (x, y) {
        _ if x == y || y == 1 => x,
        (1, _) => y,
        _ => panic!(
            "shapes {}x{} and {}x{} do not broadcast",
            a.0, a.1, b.0, b.1
        ),
    };
    (axis(a.0, b.0), axis(a.1, b.1))
}

/// `(m, n, k)` of `op(a) op(b)`: its rows, its columns and the length of each sum.
///
/// # Panics
/// If the inner dimensions differ (the tape checks shapes before it gets here).
fn product_shape<T: Real>(
    a: &CudaMatrix<T>,
    ta: bool,
    b: &CudaMatrix<T>,
    tb: bool,
) -> (usize, usize, usize) {
    let (m, k) = if ta {
        (a.cols, a.rows)
    } else {
        (a.rows, a.cols)
    };
    let (kb, n) = if tb {
        (b.cols, b.rows)
    } else {
        (b.rows, b.cols)
    };
    assert_eq!(k, kb, "matmul: inner dimensions {k} and {kb} differ");
    (m, n, k)
}

use crate::real::cuda::operation;

impl<T: Real> Backend<T> for Gpu {
    type Matrix = CudaMatrix<T>;
    type Error = Error;

    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }

    fn shape(&self, m: &CudaMatrix<T>) -> (usize, usize) {
        (m.rows, m.cols)
    }

    fn upload(&self, m: &DMatrix<T>) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(m.nrows(), m.ncols())?;
        if !m.is_empty() {
            self.stream
                .memcpy_htod(m.as_slice(), &mut out.data)
                .map_err(|e| self.error("copying to the GPU", e))?;
        }
        Ok(out)
    }

    fn download(&self, m: &CudaMatrix<T>) -> Result<DMatrix<T>> {
        m.to_host()
    }

    fn zeros(&self, rows: usize, cols: usize) -> Result<CudaMatrix<T>> {
        self.zeroed(rows, cols)
    }

    /// One launch into memory left unset, where the default composition is a memset and a map.
    fn filled(&self, rows: usize, cols: usize, value: T) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(rows, cols)?;
        let n = (rows * cols) as u64;
        launch!(self, T, "fill", threads: n as usize; &value, &mut out.data, &n)?;
        Ok(out)
    }

    fn matmul(
        &self,
        a: &CudaMatrix<T>,
        ta: bool,
        b: &CudaMatrix<T>,
        tb: bool,
    ) -> Result<CudaMatrix<T>> {
        let (m, n, k) = product_shape(a, ta, b, tb);
        if m == 0 || n == 0 || k == 0 {
            // An empty sum: zeros.
            return self.zeroed(m, n);
        }
        let mut out = self.alloc(m, n)?;
        self.gemm((a, ta), (b, tb), T::zero(), &mut out)?;
        Ok(out)
    }

    /// The product added into `acc` by cuBLAS itself (β = 1): one launch, not a product and
    /// an addition.
    fn matmul_add(
        &self,
        acc: &mut CudaMatrix<T>,
        a: &CudaMatrix<T>,
        ta: bool,
        b: &CudaMatrix<T>,
        tb: bool,
    ) -> Result<()> {
        let (m, n, k) = product_shape(a, ta, b, tb);
        assert_eq!(
            (acc.rows, acc.cols),
            (m, n),
            "matmul_add: the sum and the product differ in shape"
        );
        if m == 0 || n == 0 || k == 0 {
            // An empty sum adds nothing.
            return Ok(());
        }
        self.gemm((a, ta), (b, tb), T::one(), acc)
    }

    fn transpose(&self, a: &CudaMatrix<T>) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(a.cols, a.rows)?;
        let (ar, ac) = (a.rows as i32, a.cols as i32);
        launch!(self, T, "transpose", threads: a.rows * a.cols; &a.data, &ar, &ac, &mut out.data)?;
        Ok(out)
    }

    fn reshape(&self, m: CudaMatrix<T>, rows: usize, cols: usize) -> CudaMatrix<T> {
        m.reshaped(rows, cols)
    }

    fn unary(&self, op: UnaryOp<T>, x: &CudaMatrix<T>) -> Result<CudaMatrix<T>> {
        let (code, p) = unary_code(op);
        let mut out = self.alloc(x.rows, x.cols)?;
        let n = (x.rows * x.cols) as u64;
        launch!(self, T, "unary_map", threads: n as usize; &code, &p, &x.data, &mut out.data, &n)?;
        Ok(out)
    }

    fn unary_vjp(
        &self,
        op: UnaryOp<T>,
        x: &CudaMatrix<T>,
        y: &CudaMatrix<T>,
        g: CudaMatrix<T>,
    ) -> Result<CudaMatrix<T>> {
        let (code, p) = unary_code(op);
        let mut out = self.alloc(x.rows, x.cols)?;
        let n = (x.rows * x.cols) as u64;
        launch!(self, T, "unary_vjp", threads: n as usize;
            &code, &p, &x.data, &y.data, &g.data, &mut out.data, &n
        )?;
        Ok(out)
    }

    fn binary(&self, op: BinaryOp, a: &CudaMatrix<T>, b: &CudaMatrix<T>) -> Result<CudaMatrix<T>> {
        let (r, c) = broadcast_shape((a.rows, a.cols), (b.rows, b.cols));
        let mut out = self.alloc(r, c)?;
        let code = binary_code(op);
        let [ar, ac, br, bc, ri, ci] = [a.rows, a.cols, b.rows, b.cols, r, c].map(|v| v as i32);
        launch!(self, T, "binary_map", threads: r * c;
            &code, &a.data, &ar, &ac, &b.data, &br, &bc, &mut out.data, &ri, &ci
        )?;
        Ok(out)
    }

    fn sum(&self, x: &CudaMatrix<T>, how: Reduce) -> Result<CudaMatrix<T>> {
        self.reduce(x, how, ["segment_sums", "row_sums"])
    }

    fn logsumexp(&self, x: &CudaMatrix<T>, how: Reduce) -> Result<CudaMatrix<T>> {
        self.reduce(x, how, ["segment_logsumexp", "row_logsumexp"])
    }

    fn logsumexp_vjp(
        &self,
        _how: Reduce,
        x: &CudaMatrix<T>,
        y: &CudaMatrix<T>,
        g: &CudaMatrix<T>,
    ) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(x.rows, x.cols)?;
        let [r, c, yr, yc] = [x.rows, x.cols, y.rows, y.cols].map(|v| v as i32);
        launch!(self, T, "logsumexp_vjp", threads: x.rows * x.cols;
            &x.data, &r, &c, &y.data, &yr, &yc, &g.data, &mut out.data
        )?;
        Ok(out)
    }

    fn bernoulli_logits(
        &self,
        logits: &CudaMatrix<T>,
        x: &CudaMatrix<T>,
        residual: bool,
    ) -> Result<(CudaMatrix<T>, Option<CudaMatrix<T>>)> {
        assert_eq!(
            (logits.rows, logits.cols),
            (x.rows, x.cols),
            "bernoulli_log_prob: logits and targets differ in shape"
        );
        let (r, c) = (logits.rows, logits.cols);
        let mut out = self.alloc(r, 1)?;
        let mut kept = if residual {
            Some(self.alloc(r, c)?)
        } else {
            None
        };
        let (ri, ci) = (r as i32, c as i32);
        // A block per tile of rows, at most 2^16 blocks.
        let tiles = r.div_ceil(TILE_ROWS).min(1 << 16);
        match kept.as_mut() {
            Some(kept) => launch!(self, T, "bernoulli_logits", blocks: tiles;
                &logits.data, &x.data, &ri, &ci, &mut out.data, &mut kept.data
            )?,
            // A null pointer: the kernel then skips the residual.
            None => launch!(self, T, "bernoulli_logits", blocks: tiles;
                &logits.data, &x.data, &ri, &ci, &mut out.data, &0u64
            )?,
        }
        Ok((out, kept))
    }

    fn normal_draw(&self, parts: DrawParts<&CudaMatrix<T>>) -> Result<CudaMatrix<T>> {
        let (r, d) = draw_shape(parts.map(|m| (m.rows, m.cols)));
        let mut out = self.alloc(r, d)?;
        let operands = self.operands(&parts);
        let (ri, di) = (r as i32, d as i32);
        launch!(self, T, "normal_draw", threads: r * d; &operands, &ri, &di, &mut out.data)?;
        Ok(out)
    }

    fn normal_draw_vjp(
        &self,
        parts: DrawParts<&CudaMatrix<T>>,
        g: &CudaMatrix<T>,
        need: [bool; 3],
    ) -> Result<DrawParts<Option<CudaMatrix<T>>>> {
        let (r, d) = draw_shape(parts.map(|m| (m.rows, m.cols)));
        let (derivatives, out) = self.vjp_outputs(need, (r, d))?;
        if need.contains(&true) {
            let operands = self.operands(&parts);
            let (ri, di) = (r as i32, d as i32);
            launch!(self, T, "normal_draw_vjp", threads: r * d;
                &operands, &g.data, &ri, &di, &out[0], &out[1], &out[2]
            )?;
        }
        self.reduced_to_operands(derivatives, parts)
    }

    fn diag_normal_kl(&self, params: NormalPair<&CudaMatrix<T>>) -> Result<CudaMatrix<T>> {
        let (r, d) = term_shape(params.map(|m| (m.rows, m.cols)));
        let mut out = self.alloc(r, 1)?;
        let operands = self.operands(&params);
        let (ri, di) = (r as i32, d as i32);
        // A block per tile of rows, at most 2^16 blocks; every row's sum is written, 0 for d = 0.
        let tiles = r.div_ceil(TILE_ROWS).min(1 << 16);
        launch!(self, T, "diag_normal_kl", blocks: tiles; &operands, &ri, &di, &mut out.data)?;
        Ok(out)
    }

    fn diag_normal_kl_vjp(
        &self,
        params: NormalPair<&CudaMatrix<T>>,
        g: &CudaMatrix<T>,
        need: [bool; 4],
    ) -> Result<NormalPair<Option<CudaMatrix<T>>>> {
        let (r, d) = term_shape(params.map(|m| (m.rows, m.cols)));
        let (derivatives, out) = self.vjp_outputs(need, (r, d))?;
        if need.contains(&true) {
            let operands = self.operands(&params);
            let (ri, di) = (r as i32, d as i32);
            launch!(self, T, "diag_normal_kl_vjp", threads: r * d;
                &operands, &g.data, &ri, &di, &out[0], &out[1], &out[2], &out[3]
            )?;
        }
        self.reduced_to_operands(derivatives, params)
    }

    fn adam(
        &self,
        update: AdamUpdate<T>,
        param: &mut CudaMatrix<T>,
        first: &mut CudaMatrix<T>,
        second: &mut CudaMatrix<T>,
        grad: &CudaMatrix<T>,
    ) -> Result<()> {
        let slot = AdamSlot {
            param,
            first,
            second,
            grad,
        };
        self.adam_all(update, &mut [slot])
    }

    fn adam_all(
        &self,
        update: AdamUpdate<T>,
        slots: &mut [AdamSlot<'_, CudaMatrix<T>>],
    ) -> Result<()> {
        for chunk in slots.chunks(TENSORS) {
            let list = |xs: Vec<&CudaMatrix<T>>| self.tensor_list(&xs);
            let tensors = AdamTensors {
                param: list(chunk.iter().map(|s| &*s.param).collect()),
                first: list(chunk.iter().map(|s| &*s.first).collect()),
                second: list(chunk.iter().map(|s| &*s.second).collect()),
                grad: list(chunk.iter().map(|s| s.grad).collect()),
            };
            launch!(self, T, "adam_update", threads: tensors.param.entries();
                &update.beta1, &update.beta2, &update.epsilon, &update.step, &tensors
            )?;
        }
        Ok(())
    }

    fn non_finite_total(&self, xs: &[&CudaMatrix<T>]) -> Result<CudaMatrix<T>> {
        // A flag rather than a sum: no reduction, no scratch space, a launch per 16 matrices.
        let mut total = self.zeroed(1, 1)?;
        for chunk in xs.chunks(TENSORS) {
            let list = self.tensor_list(chunk);
            launch!(self, T, "flag_non_finite", threads: list.entries(); &list, &mut total.data)?;
        }
        Ok(total)
    }

    fn gather_rows_of_transpose(
        &self,
        data_t: &CudaMatrix<T>,
        indices: &[usize],
    ) -> Result<CudaMatrix<T>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= data_t.cols) {
            panic!("gather: row {bad} of a data set of {} rows", data_t.cols);
        }
        let rows = indices.len();
        let mut out = self.alloc(rows, data_t.rows)?;
        let (dim, ri) = (data_t.rows as i32, rows as i32);
        if rows == 0 {
            return Ok(out);
        }
        let indices: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
        let indices = self
            .stream
            .clone_htod(&indices)
            .map_err(|e| self.error("copying indices to the GPU", e))?;
        launch!(self, T, "gather_rows_of_transpose", threads: rows * data_t.rows;
            &data_t.data, &dim, &indices, &ri, &mut out.data
        )?;
        Ok(out)
    }

    fn copy_grid(
        &self,
        src: &CudaMatrix<T>,
        from: Grid,
        dst: &mut CudaMatrix<T>,
        to: Grid,
        shape: [usize; 3],
    ) -> Result<()> {
        from.assert_within(shape, src.rows * src.cols, "copy_grid's source");
        to.assert_within(shape, dst.rows * dst.cols, "copy_grid's destination");
        let [fo, to_o] = [from.offset, to.offset].map(|v| v as u64);
        let [from_steps, to_steps, sizes] =
            [from.steps, to.steps, shape].map(|a| a.map(|v| v as u64));
        launch!(self, T, "copy_grid", threads: shape.iter().product();
            &src.data, &fo, &from_steps[0], &from_steps[1], &from_steps[2], &mut dst.data, &to_o,
            &to_steps[0], &to_steps[1], &to_steps[2], &sizes[0], &sizes[1], &sizes[2]
        )
    }

    /// The default's copy, into memory left unset (zeroing it first would cost a memset).
    fn gather_grid(
        &self,
        src: &CudaMatrix<T>,
        from: Grid,
        (rows, cols): (usize, usize),
    ) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(rows, cols)?;
        self.copy_grid(
            src,
            from,
            &mut out,
            Grid::block(rows, (0, 0)),
            [rows, cols, 1],
        )?;
        Ok(out)
    }

    fn lower_triangle(&self, m: &CudaMatrix<T>, include_diagonal: bool) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(m.rows, m.cols)?;
        let [r, c, keep] = [m.rows, m.cols, usize::from(include_diagonal)].map(|v| v as i32);
        launch!(self, T, "lower_triangle", threads: m.rows * m.cols;
            &m.data, &r, &c, &keep, &mut out.data
        )?;
        Ok(out)
    }

    fn solve_lower(
        &self,
        l: &CudaMatrix<T>,
        b: &CudaMatrix<T>,
        transposed: bool,
    ) -> Result<CudaMatrix<T>> {
        assert!(
            l.rows == l.cols && l.rows == b.rows,
            "solve_lower: shapes do not fit"
        );
        // cuBLAS solves in place, over a copy of the right-hand sides.
        let mut out = self.copy(b)?;
        if b.rows == 0 || b.cols == 0 {
            return Ok(out);
        }
        let int = |v: usize| i32::try_from(v).expect("a matrix dimension past 2^31");
        let blas = self.blas.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `l` is n x n and `out` n x columns, both on this GPU's one stream.
        unsafe {
            T::trsm(
                &blas,
                &self.stream,
                transposed,
                (int(b.rows), int(b.cols)),
                &l.data,
                &mut out.data,
            )
        }
        .map_err(|e| self.error("a cuBLAS triangular solve", e))?;
        drop(blas);
        let (n, len) = (int(l.rows), (b.rows * b.cols) as u64);
        launch!(self, T, "nan_if_singular", threads: b.rows * b.cols;
            &l.data, &n, &mut out.data, &len
        )?;
        Ok(out)
    }

    fn cholesky(&self, m: &CudaMatrix<T>) -> Result<CudaMatrix<T>> {
        assert_eq!(m.rows, m.cols, "cholesky of a non-square matrix");
        let mut out = self.alloc(m.rows, m.cols)?;
        if m.rows == 0 {
            return Ok(out);
        }
        let n = i32::try_from(m.rows).expect("a matrix dimension past 2^31");
        // One block does the whole factorisation.
        launch!(self, T, "cholesky", blocks: 1; &m.data, &n, &mut out.data)?;
        Ok(out)
    }

    fn im2col(&self, images: &CudaMatrix<T>, geometry: Conv2d) -> Result<CudaMatrix<T>> {
        assert_eq!(
            images.cols,
            geometry.input_len(),
            "im2col: images do not fit"
        );
        let positions = geometry.out_height() * geometry.out_width();
        let mut out = self.alloc(images.rows * positions, geometry.kernel_shape().1)?;
        let args = conv_args(images.rows, geometry);
        launch!(self, T, "im2col", threads: out.rows * out.cols;
            &images.data, &args[0], &args[1], &args[2], &args[3], &args[4], &args[5], &args[6],
            &args[7], &args[8], &mut out.data
        )?;
        Ok(out)
    }

    fn col2im(
        &self,
        patches: &CudaMatrix<T>,
        geometry: Conv2d,
        images: usize,
    ) -> Result<CudaMatrix<T>> {
        let positions = geometry.out_height() * geometry.out_width();
        assert_eq!(
            (patches.rows, patches.cols),
            (images * positions, geometry.kernel_shape().1),
            "col2im: patches do not fit"
        );
        let mut out = self.alloc(images, geometry.input_len())?;
        let args = conv_args(images, geometry);
        launch!(self, T, "col2im", threads: out.rows * out.cols;
            &patches.data, &args[0], &args[1], &args[2], &args[3], &args[4], &args[5], &args[6],
            &args[7], &args[8], &mut out.data
        )?;
        Ok(out)
    }

    fn standard_normal(&self, rows: usize, cols: usize, seed: u64) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(rows, cols)?;
        let n = (rows * cols) as u64;
        launch!(self, T, "standard_normal", threads: (n as usize).div_ceil(4);
            &seed, &mut out.data, &n
        )?;
        Ok(out)
    }

    fn uniform(
        &self,
        rows: usize,
        cols: usize,
        (low, high): (f64, f64),
        seed: u64,
    ) -> Result<CudaMatrix<T>> {
        let mut out = self.alloc(rows, cols)?;
        let n = (rows * cols) as u64;
        launch!(self, T, "uniform", threads: (n as usize).div_ceil(2);
            &seed, &low, &high, &mut out.data, &n
        )?;
        Ok(out)
    }

    fn replace_in_rows(
        &self,
        x: &CudaMatrix<T>,
        count: usize,
        (low, high): (T, T),
        seed: u64,
    ) -> Result<CudaMatrix<T>> {
        assert!(
            count <= x.cols,
            "replace_in_rows: {count} entries of a {}-column row",
            x.cols
        );
        let mut out = self.alloc(x.rows, x.cols)?;
        let [rows, cols, count] = [x.rows, x.cols, count].map(|v| v as u64);
        launch!(self, T, "replace_in_rows", threads: x.rows;
            &seed, &x.data, &rows, &cols, &count, &low, &high, &mut out.data
        )?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU, or `None` (with the reason printed) where this machine has none.
    fn gpu() -> Option<Gpu> {
        match Gpu::open(0) {
            Ok(gpu) => Some(gpu),
            Err(e) => {
                eprintln!("skipped: no GPU to test ({e})");
                None
            }
        }
    }

    #[test]
    fn the_kernels_compile_for_both_element_types() {
        // SAFETY: only tries to load the library.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipped: NVRTC (libnvrtc.so) is not on this machine");
            return;
        }
        for real in ["float", "double"] {
            let ptx = compile_kernels(real).unwrap_or_else(|e| panic!("{e}"));
            let text = ptx.to_src();
            for kernel in KERNELS {
                assert!(
                    text.contains(&format!(".entry {kernel}(")),
                    "{real}: no {kernel} in the PTX"
                );
            }
        }
    }

    #[test]
    fn opening_a_gpu_that_is_not_there_names_what_is_missing() {
        if let Err(e) = Gpu::open(1 << 20) {
            let message = e.to_string();
            assert!(
                message.starts_with("cuda:1048576 is not available: "),
                "{message}"
            );
            assert!(
                ["libcuda", "libcublas", "libnvrtc", "choose one of"]
                    .iter()
                    .any(|what| message.contains(what)),
                "{message}"
            );
        } else {
            panic!("a GPU of ordinal 2^20 opened");
        }
    }

    #[test]
    fn the_gpu_backend_meets_the_contract_in_f64_and_f32() {
        let Some(gpu) = gpu() else { return };
        super::super::contract::check_contract::<f64, _>(&gpu, 1e-10);
        super::super::contract::check_contract::<f32, _>(&gpu, 2e-5);
    }
}
