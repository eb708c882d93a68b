//! The host's linear algebra: the affine layer, lower triangles, triangular solves, the
//! Cholesky factor and transposes.

use crate::kernels::{buffers, matmul_add};
use crate::real::Real;
use nalgebra::DMatrix;

/// The host's `Backend::cholesky`: L with L Lᵀ = `m`, or all NaN.
pub(crate) fn cholesky_of_symmetric<T: Real>(m: &DMatrix<T>) -> DMatrix<T> {
    let (r, c) = m.shape();
    m.clone()
        .cholesky()
        .map(|factor| factor.l())
        .unwrap_or_else(|| DMatrix::from_element(r, c, T::of_f64(f64::NAN)))
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
