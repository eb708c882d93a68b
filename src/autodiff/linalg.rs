//! Linear algebra on the tape: matrix products, transposes, and what a Cholesky-parameterised
//! Gaussian needs (lower triangles, diagonals, triangular solves).

use super::tape::{Op, Var};
use crate::autodiff::{BinaryOp, UnaryOp};
use crate::backend::{Backend, Cpu, Grid, OperandGradients};
use crate::kernels::{buffers, matmul, matmul_add};
use crate::real::Real;
use nalgebra::DMatrix;

impl<'t, T: Real> Var<'t, T> {
    fn product(self, other: Var<'t, T>, ta: bool, tb: bool) -> Self {
        self.same_tape(&other);
        let op = || Op::MatMul {
            a: self.id,
            b: other.id,
            ta,
            tb,
        };
        if let Some(y) = Var::on_device([self, other], op, |k, [a, b]| k.matmul(a, ta, b, tb)) {
            return y;
        }
        let Ok(value) = Var::with_values([self, other], |[a, b]| Cpu.matmul(a, ta, b, tb));
        self.record(value, op())
    }

    /// `self * w + b`, a dense layer's pre-activation, with `b` a single row added to every row
    /// of the product. The same as `self.matmul(w) + b`, in one node: the bias is broadcast
    /// into the output first and the product's kernel adds to it, so neither the sum nor its
    /// gradient takes a pass (or a matrix) of its own.
    ///
    /// # Panics
    /// If the inner dimensions differ or `b` is not one row as wide as `w`.
    pub fn affine(self, w: Var<'t, T>, b: Var<'t, T>) -> Self {
        assert_eq!(
            b.shape(),
            (1, w.shape().1),
            "affine: the bias is not one row as wide as the weights"
        );
        let op = || Op::Affine {
            x: self.id,
            w: w.id,
            b: b.id,
        };
        if let Some(y) = Var::on_device([self, w, b], op, |k, [x, w, b]| k.affine(x, w, b)) {
            return y;
        }
        let Ok(value) = Var::with_values([self, w, b], |[x, w, b]| Cpu.affine(x, w, b));
        self.record(value, op())
    }

    /// Matrix product `self * other`.
    pub fn matmul(self, other: Var<'t, T>) -> Self {
        self.product(other, false, false)
    }
    /// `self * otherᵀ`, without forming the transpose.
    pub fn matmul_t(self, other: Var<'t, T>) -> Self {
        self.product(other, false, true)
    }
    /// `selfᵀ * other`, without forming the transpose.
    pub fn t_matmul(self, other: Var<'t, T>) -> Self {
        self.product(other, true, false)
    }

    /// The transpose.
    pub fn transpose(self) -> Self {
        let op = || Op::Transpose(self.id);
        if let Some(y) = Var::on_device([self], op, |k, [a]| k.transpose(a)) {
            return y;
        }
        let value = self.with_value(|v| {
            if v.nrows() == 1 || v.ncols() == 1 {
                transposed(buffers::copy(v))
            } else {
                v.transpose()
            }
        });
        self.record(value, Op::Transpose(self.id))
    }

    /// The lower triangle (entries with column ≤ row, or < row without the diagonal); the rest
    /// are zero.
    pub fn lower_triangle(self, include_diagonal: bool) -> Self {
        let op = || Op::LowerTriangle {
            a: self.id,
            include_diagonal,
        };
        if let Some(y) = Var::on_device([self], op, |k, [m]| k.lower_triangle(m, include_diagonal))
        {
            return y;
        }
        let value = self.with_value(|v| lower_mask(v, include_diagonal));
        self.record(value, op())
    }

    /// The diagonal of a square matrix, as a column (d x 1).
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn diagonal(self) -> Self {
        let op = || Op::Diagonal(self.id);
        if let Some(y) = Var::on_device([self], op, |k, [m]| k.diagonal(m)) {
            return y;
        }
        let value = self.with_value(|v| {
            assert!(
                v.is_square(),
                "diagonal of a non-square {}x{} matrix",
                v.nrows(),
                v.ncols()
            );
            DMatrix::from_fn(v.nrows(), 1, |i, _| v[(i, i)])
        });
        self.record(value, op())
    }

    /// The square diagonal matrix whose diagonal is this row or column vector.
    ///
    /// # Panics
    /// If the value is not a vector.
    pub fn diagonal_matrix(self) -> Self {
        let op = || Op::DiagonalMatrix(self.id);
        if let Some(y) = Var::on_device([self], op, |k, [v]| k.diagonal_matrix(v)) {
            return y;
        }
        let value = self.with_value(|v| {
            assert!(
                v.nrows() == 1 || v.ncols() == 1,
                "diagonal_matrix needs a vector"
            );
            DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(v.as_slice()))
        });
        self.record(value, op())
    }

    /// `L⁻¹ B` for this lower-triangular `L` (entries above the diagonal are ignored), by forward
    /// substitution. A zero on the diagonal gives NaN entries rather than a panic, so that a
    /// fitting loop sees a non-finite loss and can react.
    pub fn solve_lower(self, b: Var<'t, T>) -> Self {
        let op = || Op::SolveLower {
            l: self.id,
            b: b.id,
        };
        if let Some(y) = Var::on_device([self, b], op, |k, [l, b]| k.solve_lower(l, b, false)) {
            return y;
        }
        let value = Var::with_values([self, b], |[l, rhs]| solve_lower(l, rhs, false));
        self.record(value, op())
    }

    /// The lower Cholesky factor L of the symmetric part S = ½(A + Aᵀ) of this square matrix
    /// (S = L Lᵀ). Reading the symmetric part makes the op a function of every entry, so that its
    /// gradient is the symmetric one a finite-difference check sees. A matrix that is not
    /// positive definite gives NaN entries rather than a panic, so that a fitting loop sees a
    /// non-finite loss and can react.
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn cholesky(self) -> Self {
        let (r, c) = self.shape();
        assert!(r == c, "cholesky of a non-square {r}x{c} matrix");
        let op = || Op::Cholesky(self.id);
        if let Some(y) = Var::on_device([self], op, |k, [a]| k.cholesky(a)) {
            return y;
        }
        let value = self.with_value(|a| {
            let Ok(l) = cholesky(&Cpu, a);
            l
        });
        self.record(value, op())
    }
}

/// The lower Cholesky factor L of the symmetric part S = ½(A + Aᵀ) of the square `a`, on
/// backend `b`: all NaN where S is not positive definite.
pub(crate) fn cholesky<T: Real, B: Backend<T>>(
    b: &B,
    a: &B::Matrix,
) -> Result<B::Matrix, B::Error> {
    let sum = b.binary(BinaryOp::Add, a, &b.transpose(a)?)?;
    b.cholesky(&b.unary(UnaryOp::Scale(T::of_f64(0.5)), &sum)?)
}

/// The host's [`Backend::cholesky`]: L with L Lᵀ = `m`, or all NaN.
pub(crate) fn cholesky_of_symmetric<T: Real>(m: &DMatrix<T>) -> DMatrix<T> {
    let (r, c) = m.shape();
    m.clone()
        .cholesky()
        .map(|factor| factor.l())
        .unwrap_or_else(|| DMatrix::from_element(r, c, T::of_f64(f64::NAN)))
}

/// Vector-Jacobian product of `L = chol(S)`, S = ½(A + Aᵀ), on backend `b`. From
/// dS = dL Lᵀ + L dLᵀ, dL = L Φ(L⁻¹ dS L⁻ᵀ) with Φ the lower triangle with its diagonal halved
/// (Murray 2016), so the gradient in S is L⁻ᵀ Φ(Lᵀ Ḡ) L⁻¹, and the symmetric part passes on
/// its symmetric half.
pub(crate) fn cholesky_vjp<T: Real, B: Backend<T>>(
    b: &B,
    l: &B::Matrix,
    g: &B::Matrix,
) -> Result<B::Matrix, B::Error> {
    let n = b.shape(l).0;
    let half = UnaryOp::Scale(T::of_f64(0.5));
    // Entries of Ḡ above the diagonal belong to L's constant zeros.
    let lower_g = b.lower_triangle(g, true)?;
    let mut p = b.lower_triangle(&b.matmul(l, true, &lower_g, false)?, true)?;
    let halved = b.unary(half, &b.diagonal(&p)?)?;
    b.copy_grid(
        &halved,
        Grid::block(n, (0, 0)),
        &mut p,
        Grid::diagonal(n),
        [n, 1, 1],
    )?;
    // Y = L⁻ᵀ P, then (Y L⁻¹)ᵀ = L⁻ᵀ Yᵀ: both are solves with Lᵀ (all NaN when L is singular).
    let y = b.solve_lower(l, &p, true)?;
    let s_transposed = b.solve_lower(l, &b.transpose(&y)?, true)?;
    let sum = b.binary(BinaryOp::Add, &b.transpose(&s_transposed)?, &s_transposed)?;
    b.unary(half, &sum)
}

pub(crate) fn lower_mask<T: Real>(m: &DMatrix<T>, include_diagonal: bool) -> DMatrix<T> {
    let mut out = m.clone();
    let rows = m.nrows();
    for (j, col) in out.as_mut_slice().chunks_exact_mut(rows.max(1)).enumerate() {
        // Rows above the diagonal (and the diagonal itself unless kept) are zeroed.
        let end = if include_diagonal { j } else { j + 1 };
        col[..end.min(rows)].fill(T::zero());
    }
    out
}

/// Vector-Jacobian products of `C = op(A) op(B)`.
pub(crate) fn matmul_vjp<T: Real>(
    a: &DMatrix<T>,
    b: &DMatrix<T>,
    ta: bool,
    tb: bool,
    g: &DMatrix<T>,
    need: (bool, bool),
) -> OperandGradients<DMatrix<T>> {
    product_vjp(
        |_, x, tx, y, ty| matmul(x, tx, y, ty),
        [a, b, g],
        ta,
        tb,
        need,
    )
}

/// Vector-Jacobian products of `C = op(A) op(B)` by any backend's `product(operand, x, tx, y,
/// ty)` (`op(x) op(y)`, the gradient of operand 0, A, or 1, B), for the matrices [A, B, G].
pub(crate) fn product_vjp<M, R>(
    mut product: impl FnMut(usize, &M, bool, &M, bool) -> R,
    [a, b, g]: [&M; 3],
    ta: bool,
    tb: bool,
    need: (bool, bool),
) -> OperandGradients<R> {
    // With A' = op(A), B' = op(B): dA' = G B'ᵀ and dB' = A'ᵀ G; transpose back where op did.
    let ga = need.0.then(|| {
        if ta {
            product(0, b, tb, g, true)
        } else {
            product(0, g, false, b, !tb)
        }
    });
    let gb = need.1.then(|| {
        if tb {
            product(1, g, true, a, ta)
        } else {
            product(1, a, !ta, g, false)
        }
    });
    (ga, gb)
}

/// `x w + b` with the row `b` broadcast down the rows: the bias is written into the output
/// first and the product's kernel adds to it.
pub(crate) fn affine<T: Real>(x: &DMatrix<T>, w: &DMatrix<T>, b: &DMatrix<T>) -> DMatrix<T> {
    let rows = x.nrows();
    let mut out = buffers::uninitialized(rows, w.ncols());
    if rows > 0 {
        for (column, &bias) in out.as_mut_slice().chunks_exact_mut(rows).zip(b.iter()) {
            column.fill(bias);
        }
    }
    matmul_add(x, false, w, false, out)
}

/// Vector-Jacobian products of `X = L⁻¹ B`: dB = L⁻ᵀ G and dL = -tril(dB Xᵀ).
pub(crate) fn solve_lower_vjp<T: Real, B: Backend<T>>(
    b: &B,
    [l, x, g]: [&B::Matrix; 3],
    need: (bool, bool),
) -> Result<OperandGradients<B::Matrix>, B::Error> {
    let gb = b.solve_lower(l, g, true)?;
    let gl = need
        .0
        .then(|| {
            let outer = b.matmul(&gb, false, x, true)?;
            b.unary(UnaryOp::Neg, &b.lower_triangle(&outer, true)?)
        })
        .transpose()?;
    Ok((gl, need.1.then_some(gb)))
}

/// `L⁻¹ B`, or `L⁻ᵀ B` when `transposed`, for the lower triangle `L` of `l`; all NaN when `L`
/// has a zero on its diagonal.
///
/// # Panics
/// If `l` is not square or `b` has another number of rows.
pub(crate) fn solve_lower<T: Real>(l: &DMatrix<T>, b: &DMatrix<T>, transposed: bool) -> DMatrix<T> {
    assert!(
        l.is_square() && l.nrows() == b.nrows(),
        "solve_lower: shapes do not fit"
    );
    let solved = if transposed {
        l.tr_solve_lower_triangular(b)
    } else {
        l.solve_lower_triangular(b)
    };
    solved.unwrap_or_else(|| DMatrix::from_element(b.nrows(), b.ncols(), T::of_f64(f64::NAN)))
}

/// `m`ᵀ, in `m`'s storage when `m` is a vector (whose transpose has the same entries in the
/// same order).
pub(crate) fn transposed<T: Real>(m: DMatrix<T>) -> DMatrix<T> {
    let (rows, cols) = m.shape();
    if rows == 1 || cols == 1 {
        m.reshape_generic(nalgebra::Dyn(cols), nalgebra::Dyn(rows))
    } else {
        m.transpose()
    }
}
