//! Compute backends: where matrices live and the kernels that run on them.
//!
//! The CPU backend ([`Cpu`]: nalgebra matrices in host memory, the crate's own kernels) is what
//! every model runs on today. With the `cuda` feature, `cuda::Gpu` holds matrices in an NVIDIA
//! GPU's memory and runs the same kernels there: products and triangular solves through
//! cuBLAS, the rest compiled from `cuda/kernels.cu` by NVRTC when the device is opened. The
//! driver and both libraries are loaded when a GPU is opened, not linked, so a `cuda` build still runs where there is none and
//! says so ([`Device::check`]).
//!
//! Both implement one kernel contract, `Backend`: the operations a training step of the
//! crate's models needs (products, elementwise maps with broadcasting and their derivatives,
//! sums, log-sum-exp, the fused Bernoulli likelihood, the Adam update, the minibatch gather,
//! copies of grids of entries for slicing, concatenation and diagonals, lower triangles,
//! triangular solves, Cholesky factors, the convolutions' patches, standard-normal and uniform
//! draws, the denoising corruption). One test suite (`contract.rs`) checks every backend against plain
//! definitions.
//!
//! A tape runs on a device when made with [`crate::autodiff::Tape::on_device`] (a trainer, with
//! `TrainerSettings::device`): its values are then device matrices and its ops dispatch on the
//! device (`on_device.rs`). [`Device::Emulated`] takes that path with the CPU backend's kernels,
//! which is how it is tested without a GPU. The design is in `docs/architecture.md` ("The tape
//! on a device").

pub(crate) mod composed;
mod conv;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod device;
pub(crate) mod draws;
mod kernel_calls;
mod on_device;
mod placed;
mod resident;
mod shapes;
mod transfers;

#[cfg(test)]
pub(crate) mod contract;

pub use cpu::Cpu;
pub use device::Device;
pub use kernel_calls::KernelCalls;
#[cfg(test)]
pub(crate) use on_device::faults;
pub(crate) use on_device::{DeviceMatrix, HostMatrix, Kernels};
pub use placed::{OnDevice, Placed};
pub use resident::Resident;
pub use transfers::Transfers;

use crate::ops::UnaryOp;
use crate::ops::{AdamUpdate, BinaryOp, Concat, Conv2d, DrawParts, Grid, NormalPair, Reduce};
use crate::real::Real;
use nalgebra::DMatrix;

/// A parameter, its two Adam moments and its gradient, for [`Backend::adam_all`].
pub(crate) struct AdamSlot<'a, M> {
    pub(crate) param: &'a mut M,
    pub(crate) first: &'a mut M,
    pub(crate) second: &'a mut M,
    pub(crate) grad: &'a M,
}

/// The gradients of an op's two operands, each present where it was asked for.
pub(crate) type OperandGradients<M> = (Option<M>, Option<M>);

/// Checks that a `block`-sized block from `at` lies inside a matrix of `shape` (a grid's own
/// check sees only the end of the storage: a block one row too deep wraps into the next
/// column).
///
/// # Panics
/// If it does not.
fn assert_fits(what: &str, block: (usize, usize), at: (usize, usize), shape: (usize, usize)) {
    assert!(
        at.0 + block.0 <= shape.0 && at.1 + block.1 <= shape.1,
        "{what}: a {}x{} block at ({}, {}) does not fit in a {}x{} matrix",
        block.0,
        block.1,
        at.0,
        at.1,
        shape.0,
        shape.1
    );
}

/// `m`, the gradient of an operand `to` at the shape of an op's result, summed over the axes
/// along which `to` was broadcast; as it is (no copy) where it was not.
fn reduced_to<T: Real, B: Backend<T> + ?Sized>(
    b: &B,
    m: B::Matrix,
    to: &B::Matrix,
) -> Result<B::Matrix, B::Error> {
    let shape = b.shape(to);
    if b.shape(&m) == shape {
        Ok(m)
    } else {
        b.unbroadcast(&m, shape)
    }
}

/// The kernels a backend provides, over its own matrices (column-major, like nalgebra's).
///
/// Shapes that do not fit are programming errors and panic, as on the tape; `Self::Error` is
/// for what a device can fail at (memory, a launch): [`std::convert::Infallible`] on the CPU.
/// The provided methods compose the required ones; a backend overrides them where it has a
/// faster fused kernel.
// Outside the tests some kernels have no caller: `download` (device matrices read themselves
// back) and `device` without the `cuda` feature; both are held to the contract.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) trait Backend<T: Real> {
    /// A matrix in this backend's memory.
    type Matrix;
    /// What its kernels can fail with.
    type Error: std::fmt::Debug;

    /// The device this backend runs on.
    fn device(&self) -> Device;
    /// `(rows, columns)` of `m`.
    fn shape(&self, m: &Self::Matrix) -> (usize, usize);
    /// A copy of a host matrix in this backend's memory.
    fn upload(&self, m: &DMatrix<T>) -> Result<Self::Matrix, Self::Error>;
    /// A copy of `m` in host memory.
    fn download(&self, m: &Self::Matrix) -> Result<DMatrix<T>, Self::Error>;
    /// A `rows x cols` matrix of zeros.
    fn zeros(&self, rows: usize, cols: usize) -> Result<Self::Matrix, Self::Error>;

    /// `op(a) op(b)`, where `op` transposes when its flag is set.
    fn matmul(
        &self,
        a: &Self::Matrix,
        ta: bool,
        b: &Self::Matrix,
        tb: bool,
    ) -> Result<Self::Matrix, Self::Error>;
    /// The transpose of `a`.
    fn transpose(&self, a: &Self::Matrix) -> Result<Self::Matrix, Self::Error>;
    /// The same entries, in column-major order, as a `rows x cols` matrix (no copy).
    ///
    /// # Panics
    /// If the number of entries differs.
    fn reshape(&self, m: Self::Matrix, rows: usize, cols: usize) -> Self::Matrix;
    /// `op` applied to every entry.
    fn unary(&self, op: UnaryOp<T>, x: &Self::Matrix) -> Result<Self::Matrix, Self::Error>;
    /// `g` times the derivative of `op` at input `x` with output `y`, entry by entry (`g` by
    /// value: the CPU multiplies in its storage).
    fn unary_vjp(
        &self,
        op: UnaryOp<T>,
        x: &Self::Matrix,
        y: &Self::Matrix,
        g: Self::Matrix,
    ) -> Result<Self::Matrix, Self::Error>;
    /// `a op b` over the shape the two broadcast to (along each axis the sizes agree or one is
    /// 1).
    fn binary(
        &self,
        op: BinaryOp,
        a: &Self::Matrix,
        b: &Self::Matrix,
    ) -> Result<Self::Matrix, Self::Error>;
    /// Sums over everything, each row or each column, accumulated in f64.
    fn sum(&self, x: &Self::Matrix, how: Reduce) -> Result<Self::Matrix, Self::Error>;
    /// log Σ exp over everything, each row or each column; a slot whose maximum is infinite is
    /// that maximum.
    fn logsumexp(&self, x: &Self::Matrix, how: Reduce) -> Result<Self::Matrix, Self::Error>;
    /// Vector-Jacobian product of a log-sum-exp over `how` with input `x` and output `y`:
    /// g e^(x − y), with weight 0 in a slot whose output is infinite (all −∞, or a +∞).
    fn logsumexp_vjp(
        &self,
        how: Reduce,
        x: &Self::Matrix,
        y: &Self::Matrix,
        g: &Self::Matrix,
    ) -> Result<Self::Matrix, Self::Error>;
    /// Per row, Σ_j x_ij l_ij − softplus(l_ij) (R x 1), and the residual x − σ(l) when asked.
    #[allow(clippy::type_complexity)]
    fn bernoulli_logits(
        &self,
        logits: &Self::Matrix,
        x: &Self::Matrix,
        residual: bool,
    ) -> Result<(Self::Matrix, Option<Self::Matrix>), Self::Error>;
    /// One Adam update of a parameter and its moments, in place.
    fn adam(
        &self,
        update: AdamUpdate<T>,
        param: &mut Self::Matrix,
        first: &mut Self::Matrix,
        second: &mut Self::Matrix,
        grad: &Self::Matrix,
    ) -> Result<(), Self::Error>;
    /// Rows `indices` of a data set held as its transpose (one column per data row).
    ///
    /// # Panics
    /// If an index is not a column of `data_t`.
    fn gather_rows_of_transpose(
        &self,
        data_t: &Self::Matrix,
        indices: &[usize],
    ) -> Result<Self::Matrix, Self::Error>;
    /// Copies the grid of `shape` of `src`'s entries at `from` onto the grid of `dst`'s at
    /// `to`.
    ///
    /// # Panics
    /// If a grid reaches past its matrix's entries.
    fn copy_grid(
        &self,
        src: &Self::Matrix,
        from: Grid,
        dst: &mut Self::Matrix,
        to: Grid,
        shape: [usize; 3],
    ) -> Result<(), Self::Error>;
    /// The lower triangle of `m` (entries with column ≤ row, or < row without the diagonal);
    /// the rest are zero.
    fn lower_triangle(
        &self,
        m: &Self::Matrix,
        include_diagonal: bool,
    ) -> Result<Self::Matrix, Self::Error>;
    /// `L⁻¹ B`, or `L⁻ᵀ B` when `transposed`, for the lower triangle `L` of the square `l`
    /// (entries above its diagonal are not read). Every entry is NaN when `L` has a zero on its
    /// diagonal, so that a fit sees a non-finite loss.
    ///
    /// # Panics
    /// If `l` is not square or `b` has another number of rows.
    fn solve_lower(
        &self,
        l: &Self::Matrix,
        b: &Self::Matrix,
        transposed: bool,
    ) -> Result<Self::Matrix, Self::Error>;
    /// The lower Cholesky factor L of the symmetric positive-definite `m` (L Lᵀ = m; only
    /// its lower triangle is read). Every entry is NaN when `m` is not positive definite (a
    /// pivot is not positive), so that a fit sees a non-finite loss.
    ///
    /// # Panics
    /// If `m` is not square.
    fn cholesky(&self, m: &Self::Matrix) -> Result<Self::Matrix, Self::Error>;
    /// The patches of every image in `images` (`B x C_in·H·W`, one per row) that the
    /// convolution `geometry` reads (im2col): `(B·P) x (C_in·k·k)` for P = H_out·W_out, image
    /// b's patches in rows b·P .. (b+1)·P, zero where a patch reaches into the padding.
    ///
    /// # Panics
    /// If the shapes do not fit the geometry.
    fn im2col(&self, images: &Self::Matrix, geometry: Conv2d) -> Result<Self::Matrix, Self::Error>;
    /// The adjoint of [`Backend::im2col`] (col2im): each patch entry added back into the image
    /// entry it was read from, for `images` images.
    ///
    /// # Panics
    /// If the shapes do not fit the geometry.
    fn col2im(
        &self,
        patches: &Self::Matrix,
        geometry: Conv2d,
        images: usize,
    ) -> Result<Self::Matrix, Self::Error>;
    /// Independent standard-normal draws. The same seed gives the same draws on the same
    /// backend; backends draw differently from one another.
    fn standard_normal(
        &self,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> Result<Self::Matrix, Self::Error>;
    /// Independent draws uniform on [low, high) (`low < high`, both finite). Seeded as
    /// [`Backend::standard_normal`].
    fn uniform(
        &self,
        rows: usize,
        cols: usize,
        range: (f64, f64),
        seed: u64,
    ) -> Result<Self::Matrix, Self::Error>;
    /// `x` with `count` distinct entries of each row, chosen uniformly, replaced: each by the
    /// range's low or high end with probability ½ (by `low` where the two are equal). The
    /// corruption of a denoising autoencoder's input. Seeded as [`Backend::standard_normal`].
    ///
    /// # Panics
    /// If `count` passes the number of columns.
    fn replace_in_rows(
        &self,
        x: &Self::Matrix,
        count: usize,
        range: (T, T),
        seed: u64,
    ) -> Result<Self::Matrix, Self::Error>;

    /// A `rows x cols` matrix with every entry `value`, its sign of zero too: a constant made
    /// where it is used, with nothing copied from the host.
    fn filled(&self, rows: usize, cols: usize, value: T) -> Result<Self::Matrix, Self::Error> {
        let zeros = self.zeros(rows, cols)?;
        match value {
            // 0 + v is v, but for v = −0, which 0 + v turns into +0.
            v if v == T::zero() && v.is_sign_positive() => Ok(zeros),
            v if v == T::zero() => self.unary(UnaryOp::Neg, &zeros),
            v => self.unary(UnaryOp::Shift(v), &zeros),
        }
    }

    /// `acc + op(a) op(b)`, into `acc`: a product added to a gradient already summed there (a
    /// value used by several products, a weight shared across the steps of a sequence). The
    /// default is the product and then the addition, `acc + p` as a sweep adds its
    /// contributions; a GPU adds inside the product (cuBLAS's β = 1), one launch where that is
    /// two.
    fn matmul_add(
        &self,
        acc: &mut Self::Matrix,
        a: &Self::Matrix,
        ta: bool,
        b: &Self::Matrix,
        tb: bool,
    ) -> Result<(), Self::Error> {
        let product = self.matmul(a, ta, b, tb)?;
        *acc = self.binary(BinaryOp::Add, acc, &product)?;
        Ok(())
    }

    /// `acc + g`, into `acc`: two contributions to one gradient summed, in the order the
    /// reverse sweep meets them.
    fn add_into(&self, acc: &mut Self::Matrix, g: Self::Matrix) -> Result<(), Self::Error> {
        *acc = self.binary(BinaryOp::Add, acc, &g)?;
        Ok(())
    }

    /// A copy of `m`.
    fn copy(&self, m: &Self::Matrix) -> Result<Self::Matrix, Self::Error> {
        self.unary(UnaryOp::Scale(T::one()), m)
    }

    /// `x w + b`, a dense layer, with the row `b` added to every row of the product.
    fn affine(
        &self,
        x: &Self::Matrix,
        w: &Self::Matrix,
        b: &Self::Matrix,
    ) -> Result<Self::Matrix, Self::Error> {
        self.binary(BinaryOp::Add, &self.matmul(x, false, w, false)?, b)
    }

    /// `g` summed over the axes along which an operand of `shape` was broadcast.
    fn unbroadcast(
        &self,
        g: &Self::Matrix,
        shape: (usize, usize),
    ) -> Result<Self::Matrix, Self::Error> {
        let (r, c) = self.shape(g);
        match (shape.0 == 1 && r != 1, shape.1 == 1 && c != 1) {
            (true, true) => self.sum(g, Reduce::All),
            (true, false) => self.sum(g, Reduce::EachColumn),
            (false, true) => self.sum(g, Reduce::EachRow),
            (false, false) => self.copy(g),
        }
    }

    /// Vector-Jacobian products of `a op b` (output `y`), for whichever operands `need` them.
    fn binary_vjp(
        &self,
        op: BinaryOp,
        [a, b, y, g]: [&Self::Matrix; 4],
        need: (bool, bool),
    ) -> Result<OperandGradients<Self::Matrix>, Self::Error> {
        // A product made here is already its operand's gradient where that operand was not
        // broadcast: on a GPU each copy is a launch, and launches are what a small step costs.
        let reduced = |g, to| reduced_to(self, g, to);
        let ga = match (need.0, op) {
            (false, _) => None,
            (true, BinaryOp::Add | BinaryOp::Sub) => Some(self.unbroadcast(g, self.shape(a))?),
            (true, BinaryOp::Mul) => Some(reduced(self.binary(BinaryOp::Mul, g, b)?, a)?),
            (true, BinaryOp::Div) => Some(reduced(self.binary(BinaryOp::Div, g, b)?, a)?),
        };
        let gb = match (need.1, op) {
            (false, _) => None,
            (true, BinaryOp::Add) => Some(self.unbroadcast(g, self.shape(b))?),
            (true, BinaryOp::Sub) => Some(reduced(self.unary(UnaryOp::Neg, g)?, b)?),
            (true, BinaryOp::Mul) => Some(reduced(self.binary(BinaryOp::Mul, g, a)?, b)?),
            // d(a/b)/db = −y/b.
            (true, BinaryOp::Div) => {
                let gy = self.binary(BinaryOp::Mul, g, y)?;
                let minus = self.binary(BinaryOp::Div, &gy, b)?;
                Some(reduced(self.unary(UnaryOp::Neg, &minus)?, b)?)
            }
        };
        Ok((ga, gb))
    }

    /// `[x; x; ...]`: `times` copies of `x` stacked.
    fn tile_rows(&self, x: &Self::Matrix, times: usize) -> Result<Self::Matrix, Self::Error> {
        let (r, c) = self.shape(x);
        // The transpose of x holds x's rows one after another; the result's transpose is
        // `times` columns of that, side by side.
        let rows_in_order = self.reshape(self.transpose(x)?, r * c, 1);
        let ones = self.unary(UnaryOp::Shift(T::one()), &self.zeros(r * c, times)?)?;
        // A product with 1 keeps every bit (an addition of 0 would turn −0 into +0).
        let copies = self.binary(BinaryOp::Mul, &ones, &rows_in_order)?;
        self.transpose(&self.reshape(copies, c, r * times))
    }

    /// Vector-Jacobian product of [`Backend::tile_rows`]: the sum of the `times` blocks of rows
    /// of `g`.
    fn untile_rows(&self, g: &Self::Matrix, times: usize) -> Result<Self::Matrix, Self::Error> {
        let (rows, c) = self.shape(g);
        let r = rows / times;
        // Column k of this is the transpose of block k, read as one column.
        let by_copy = self.reshape(self.transpose(g)?, r * c, times);
        let summed = self.sum(&by_copy, Reduce::EachRow)?;
        self.transpose(&self.reshape(summed, c, r))
    }

    /// The `rows x cols` block of `m` whose first entry is (`row`, `col`).
    ///
    /// # Panics
    /// If the block reaches past `m`.
    fn block(
        &self,
        m: &Self::Matrix,
        at: (usize, usize),
        (rows, cols): (usize, usize),
    ) -> Result<Self::Matrix, Self::Error> {
        let shape = self.shape(m);
        assert_fits("block", (rows, cols), at, shape);
        self.gather_grid(m, Grid::block(shape.0, at), (rows, cols))
    }

    /// `g` placed at (`row`, `col`) inside zeros of `shape`: the vector-Jacobian product of
    /// [`Backend::block`].
    fn embed(
        &self,
        g: &Self::Matrix,
        shape: (usize, usize),
        at: (usize, usize),
    ) -> Result<Self::Matrix, Self::Error> {
        let grid = self.shape(g);
        assert_fits("embed", grid, at, shape);
        let mut out = self.zeros(shape.0, shape.1)?;
        self.copy_grid(
            g,
            Grid::block(grid.0, (0, 0)),
            &mut out,
            Grid::block(shape.0, at),
            [grid.0, grid.1, 1],
        )?;
        Ok(out)
    }

    /// `parts` joined side by side or stacked.
    ///
    /// # Panics
    /// If `parts` is empty, or their rows (side by side) or columns (stacked) differ.
    fn concat(&self, parts: &[&Self::Matrix], how: Concat) -> Result<Self::Matrix, Self::Error> {
        assert!(!parts.is_empty(), "concat of nothing");
        let shapes: Vec<(usize, usize)> = parts.iter().map(|p| self.shape(p)).collect();
        let (first, along) = match how {
            Concat::Columns => (shapes[0].0, shapes.iter().map(|s| s.1).sum()),
            Concat::Rows => (shapes[0].1, shapes.iter().map(|s| s.0).sum()),
        };
        let (rows, cols) = match how {
            Concat::Columns => (first, along),
            Concat::Rows => (along, first),
        };
        let mut out = self.zeros(rows, cols)?;
        let mut at = 0;
        for (part, &(r, c)) in parts.iter().zip(&shapes) {
            let (fits, corner, step) = match how {
                Concat::Columns => (r == rows, (0, at), c),
                Concat::Rows => (c == cols, (at, 0), r),
            };
            let differ = match how {
                Concat::Columns => "concat_columns: row counts differ",
                Concat::Rows => "concat_rows: column counts differ",
            };
            assert!(fits, "{differ}");
            let to = Grid::block(rows, corner);
            self.copy_grid(part, Grid::block(r, (0, 0)), &mut out, to, [r, c, 1])?;
            at += step;
        }
        Ok(out)
    }

    /// The diagonal of the square `m`, as a column.
    ///
    /// # Panics
    /// If `m` is not square.
    fn diagonal(&self, m: &Self::Matrix) -> Result<Self::Matrix, Self::Error> {
        let (n, c) = self.shape(m);
        assert_eq!(n, c, "diagonal of a non-square {n}x{c} matrix");
        let mut out = self.zeros(n, 1)?;
        self.copy_grid(
            m,
            Grid::diagonal(n),
            &mut out,
            Grid::block(n, (0, 0)),
            [n, 1, 1],
        )?;
        Ok(out)
    }

    /// The square matrix with the entries of the vector `v` on its diagonal.
    ///
    /// # Panics
    /// If `v` is not a row or a column.
    fn diagonal_matrix(&self, v: &Self::Matrix) -> Result<Self::Matrix, Self::Error> {
        let (r, c) = self.shape(v);
        assert!(r == 1 || c == 1, "diagonal_matrix needs a vector");
        let n = r * c;
        let mut out = self.zeros(n, n)?;
        self.copy_grid(
            v,
            Grid::block(n, (0, 0)),
            &mut out,
            Grid::diagonal(n),
            [n, 1, 1],
        )?;
        Ok(out)
    }

    /// μ + e^ℓ ε entry by entry (R x d), a reparameterised Gaussian draw, from `[μ, ℓ, ε]`,
    /// each R x d or 1 x d (shared by every row). Fused, and so written by each backend: as
    /// three ops it was three launches on a GPU forward and four back.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or R.
    fn normal_draw(&self, parts: DrawParts<&Self::Matrix>) -> Result<Self::Matrix, Self::Error>;

    /// The vector-Jacobian products of [`Backend::normal_draw`] with output gradient `g`
    /// (R x d), for the operands that `need` them: g for μ, (g ε) e^ℓ for ℓ and g e^ℓ for ε,
    /// each summed down the rows for a shared operand (for ℓ before the factor e^ℓ).
    fn normal_draw_vjp(
        &self,
        parts: DrawParts<&Self::Matrix>,
        g: &Self::Matrix,
        need: [bool; 3],
    ) -> Result<DrawParts<Option<Self::Matrix>>, Self::Error>;

    /// Σ_j KL(N(μq_ij, σq_ij²) ‖ N(μp_ij, σp_ij²)) for each row (R x 1), from the means and
    /// log standard deviations `[μq, ln σq, μp, ln σp]`, each R x d or 1 x d (shared by every
    /// row): ½((σq/σp)² + u² − 1) − ln(σq/σp) per entry, with u = (μq − μp)/σp. Fused, as the
    /// draw is.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or R.
    fn diag_normal_kl(
        &self,
        params: NormalPair<&Self::Matrix>,
    ) -> Result<Self::Matrix, Self::Error>;

    /// The vector-Jacobian products of [`Backend::diag_normal_kl`] with output gradient `g`
    /// (R x 1), for the parameters that `need` them: per entry, times g_i, u/σp for μq, −u/σp
    /// for μp, (σq/σp)² − 1 for ln σq and 1 − (σq/σp)² − u² for ln σp, summed down the rows
    /// for a shared parameter.
    fn diag_normal_kl_vjp(
        &self,
        params: NormalPair<&Self::Matrix>,
        g: &Self::Matrix,
        need: [bool; 4],
    ) -> Result<NormalPair<Option<Self::Matrix>>, Self::Error>;

    /// A 1x1 matrix that is zero when every entry of every one of `xs` is finite, and
    /// non-zero or NaN otherwise: the check of a step's gradients, read back once.
    fn non_finite_total(&self, xs: &[&Self::Matrix]) -> Result<Self::Matrix, Self::Error> {
        // Σ 0·x is 0 if every entry is finite and NaN otherwise (unlike Σ x², it cannot
        // overflow).
        let mut total = self.zeros(1, 1)?;
        for x in xs {
            let zero_or_nan = self.sum(&self.unary(UnaryOp::Scale(T::zero()), x)?, Reduce::All)?;
            total = self.binary(BinaryOp::Add, &total, &zero_or_nan)?;
        }
        Ok(total)
    }

    /// [`Backend::adam`] on each of several parameters: a GPU updates them all in a launch or
    /// two, where a launch each was a fifth of a small step's launches.
    fn adam_all(
        &self,
        update: AdamUpdate<T>,
        slots: &mut [AdamSlot<'_, Self::Matrix>],
    ) -> Result<(), Self::Error> {
        for slot in slots {
            self.adam(update, slot.param, slot.first, slot.second, slot.grad)?;
        }
        Ok(())
    }

    /// Vector-Jacobian product of a sum (`g` has the reduced shape): `g` spread over `shape`,
    /// copied with step 0 along the reduced axes (so a −0 stays −0, as on the CPU's tape).
    fn sum_vjp(
        &self,
        g: &Self::Matrix,
        (rows, cols): (usize, usize),
    ) -> Result<Self::Matrix, Self::Error> {
        let (g_rows, g_cols) = self.shape(g);
        self.gather_grid(g, Grid::broadcast(g_rows, g_cols), (rows, cols))
    }

    /// A `rows x cols` matrix whose entries, in column-major order, are `src`'s along the grid
    /// `from` (a block, a broadcast): [`Backend::copy_grid`] into a new matrix, which a GPU
    /// leaves unset rather than zeroing first, since the copy writes every entry.
    fn gather_grid(
        &self,
        src: &Self::Matrix,
        from: Grid,
        (rows, cols): (usize, usize),
    ) -> Result<Self::Matrix, Self::Error> {
        let mut out = self.zeros(rows, cols)?;
        let to = Grid::block(rows, (0, 0));
        self.copy_grid(src, from, &mut out, to, [rows, cols, 1])?;
        Ok(out)
    }
}
