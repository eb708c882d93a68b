//! The host's kernels that move entries around: blocks, concatenation, tiling, and an operand
//! of a fused op read with its rows broadcast.

use crate::kernels::{buffers, row_block};
use crate::ops::Concat;
use crate::real::Real;
use nalgebra::DMatrix;

/// Entry (i, j) of an `R x d` or `1 x d` operand of such an op, read as `R x d`.
#[inline(always)]
pub(crate) fn row_broadcast_entry<T: Real>(m: &DMatrix<T>, i: usize, j: usize) -> T {
    let rows = m.nrows();
    m.as_slice()[if rows == 1 { j } else { i + j * rows }]
}

/// The `rows x cols` block of `m` at `(row, col)`: the host's `Backend::block`.
///
/// # Panics
/// If the block reaches past `m`.
pub(crate) fn block<T: Real>(
    m: &DMatrix<T>,
    (row, col): (usize, usize),
    (rows, cols): (usize, usize),
) -> DMatrix<T> {
    assert!(
        row + rows <= m.nrows() && col + cols <= m.ncols(),
        "block: a {rows}x{cols} block at ({row}, {col}) does not fit in a {}x{} matrix",
        m.nrows(),
        m.ncols()
    );
    if rows == m.nrows() {
        // Whole columns of a column-major matrix are one contiguous stretch: copied as such
        // (the view's `into_owned` went entry by entry, a fifth of a regression step on 10⁴
        // rows).
        let mut out = buffers::uninitialized(rows, cols);
        out.as_mut_slice()
            .copy_from_slice(&m.as_slice()[col * rows..(col + cols) * rows]);
        out
    } else if cols == m.ncols() && col == 0 {
        row_block(m, row, rows)
    } else {
        m.view((row, col), (rows, cols)).into_owned()
    }
}

/// `parts` side by side or stacked: the host's `Backend::concat`.
///
/// # Panics
/// If `parts` is empty or their rows (side by side) or columns (stacked) differ.
pub(crate) fn concat<T: Real>(parts: &[&DMatrix<T>], how: Concat) -> DMatrix<T> {
    let first = parts.first().expect("concat of nothing");
    match how {
        Concat::Columns => {
            let rows = first.nrows();
            assert!(
                parts.iter().all(|v| v.nrows() == rows),
                "concat_columns: row counts differ"
            );
            let cols = parts.iter().map(|v| v.ncols()).sum();
            let mut out = buffers::uninitialized(rows, cols);
            let mut at = 0;
            for v in parts {
                out.columns_mut(at, v.ncols()).copy_from(*v);
                at += v.ncols();
            }
            out
        }
        Concat::Rows => {
            let cols = first.ncols();
            assert!(
                parts.iter().all(|v| v.ncols() == cols),
                "concat_rows: column counts differ"
            );
            let rows = parts.iter().map(|v| v.nrows()).sum();
            let mut out = buffers::uninitialized(rows, cols);
            let mut at = 0;
            for v in parts {
                out.rows_mut(at, v.nrows()).copy_from(*v);
                at += v.nrows();
            }
            out
        }
    }
}

/// Places `g` at `(row, col)` inside zeros of `shape`: the vector-Jacobian product of a slice,
/// the host's `Backend::embed`.
pub(crate) fn embed<T: Real>(
    g: &DMatrix<T>,
    shape: (usize, usize),
    (row, col): (usize, usize),
) -> DMatrix<T> {
    let mut out = buffers::zeros(shape.0, shape.1);
    out.view_mut((row, col), g.shape()).copy_from(g);
    out
}

/// `times` copies of `v` stacked.
pub(crate) fn tile_rows<T: Real>(v: &DMatrix<T>, times: usize) -> DMatrix<T> {
    let r = v.nrows();
    let mut out = buffers::uninitialized(r * times, v.ncols());
    if r > 0 {
        let sources = v.as_slice().chunks_exact(r);
        for (column, source) in out.as_mut_slice().chunks_exact_mut(r * times).zip(sources) {
            if r == 1 {
                // One entry repeated: a fill, not `times` one-entry copies.
                column.fill(source[0]);
            } else {
                column
                    .chunks_exact_mut(r)
                    .for_each(|copy| copy.copy_from_slice(source));
            }
        }
    }
    out
}

/// Sums the `times` stacked blocks of `g`: the vector-Jacobian product of `Var::tile_rows`.
pub(crate) fn untile<T: Real>(g: &DMatrix<T>, times: usize) -> DMatrix<T> {
    let r = g.nrows() / times;
    let mut out = buffers::zeros(r, g.ncols());
    if r > 0 {
        let blocks = g.as_slice().chunks_exact(r * times);
        for (column, blocks) in out.as_mut_slice().chunks_exact_mut(r).zip(blocks) {
            for block in blocks.chunks_exact(r) {
                column.iter_mut().zip(block).for_each(|(o, &v)| *o += v);
            }
        }
    }
    out
}
