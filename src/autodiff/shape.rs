//! Operations that move entries around: slices, concatenation, reshaping and tiling.

use super::tape::{Op, Var};
use crate::backend::Concat;
use crate::kernels::{buffers, row_block};
use crate::real::Real;
use nalgebra::DMatrix;

/// `(R, d)`: the shape of a fused op's entries whose operands are each `R x d` or `1 x d`
/// (one row shared by every row), R the most rows among them.
///
/// # Panics
/// If their widths differ or one has a number of rows other than 1 or R, naming `op`.
pub(crate) fn rows_broadcast(op: &str, shapes: &[(usize, usize)]) -> (usize, usize) {
    let rows = shapes.iter().map(|s| s.0).max().unwrap_or(0);
    let width = shapes.first().map_or(0, |s| s.1);
    for &(r, d) in shapes {
        assert!(
            d == width && (r == 1 || r == rows),
            "{op}: operands of shapes {shapes:?} (each R x d or 1 x d, one d)"
        );
    }
    (rows, width)
}

/// Entry (i, j) of an `R x d` or `1 x d` operand of such an op, read as `R x d`.
#[inline(always)]
pub(crate) fn row_broadcast_entry<T: Real>(m: &DMatrix<T>, i: usize, j: usize) -> T {
    let rows = m.nrows();
    m.as_slice()[if rows == 1 { j } else { i + j * rows }]
}

impl<'t, T: Real> Var<'t, T> {
    /// Columns `start .. start + n`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn columns(self, start: usize, n: usize) -> Self {
        let op = || Op::Columns { a: self.id, start };
        let rows = self.shape().0;
        if let Some(y) = Var::on_device([self], op, |k, [m]| k.block(m, (0, start), (rows, n))) {
            return y;
        }
        // Columns of a column-major matrix are one contiguous stretch: copied as such (the
        // view's `into_owned` went entry by entry, a fifth of a regression step on 10⁴ rows).
        let value = self.with_value(|v| {
            let rows = v.nrows();
            assert!(start + n <= v.ncols(), "columns: columns past the end");
            let mut out = buffers::uninitialized(rows, n);
            out.as_mut_slice()
                .copy_from_slice(&v.as_slice()[start * rows..(start + n) * rows]);
            out
        });
        self.record(value, op())
    }

    /// Rows `start .. start + n`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn rows(self, start: usize, n: usize) -> Self {
        let op = || Op::Rows { a: self.id, start };
        let cols = self.shape().1;
        if let Some(y) = Var::on_device([self], op, |k, [m]| k.block(m, (start, 0), (n, cols))) {
            return y;
        }
        let value = self.with_value(|v| row_block(v, start, n));
        self.record(value, op())
    }

    /// Side-by-side concatenation `[a b ...]`.
    ///
    /// # Panics
    /// If `parts` is empty or the row counts differ.
    pub fn concat_columns(parts: &[Var<'t, T>]) -> Self {
        let first = parts.first().expect("concat_columns of nothing");
        let op = || Op::ConcatColumns(parts.iter().map(|p| p.id).collect());
        if let Some(y) = Var::on_device_all(parts, op, |k, m| k.concat(m, Concat::Columns)) {
            return y;
        }
        let out = Var::with_all(parts, |values| {
            let rows = values[0].nrows();
            assert!(
                values.iter().all(|v| v.nrows() == rows),
                "concat_columns: row counts differ"
            );
            let cols = values.iter().map(|v| v.ncols()).sum();
            let mut out = buffers::uninitialized(rows, cols);
            let mut at = 0;
            for v in values {
                out.columns_mut(at, v.ncols()).copy_from(*v);
                at += v.ncols();
            }
            out
        });
        first.record(out, op())
    }

    /// Stacked concatenation `[a; b; ...]`.
    ///
    /// # Panics
    /// If `parts` is empty or the column counts differ.
    pub fn concat_rows(parts: &[Var<'t, T>]) -> Self {
        let first = parts.first().expect("concat_rows of nothing");
        let op = || Op::ConcatRows(parts.iter().map(|p| p.id).collect());
        if let Some(y) = Var::on_device_all(parts, op, |k, m| k.concat(m, Concat::Rows)) {
            return y;
        }
        let out = Var::with_all(parts, |values| {
            let cols = values[0].ncols();
            assert!(
                values.iter().all(|v| v.ncols() == cols),
                "concat_rows: column counts differ"
            );
            let rows = values.iter().map(|v| v.nrows()).sum();
            let mut out = buffers::uninitialized(rows, cols);
            let mut at = 0;
            for v in values {
                out.rows_mut(at, v.nrows()).copy_from(*v);
                at += v.nrows();
            }
            out
        });
        first.record(out, op())
    }

    /// The same entries in column-major order, as a `rows x cols` matrix.
    ///
    /// # Panics
    /// If the number of entries differs.
    pub fn reshape(self, rows: usize, cols: usize) -> Self {
        let (r, c) = self.shape();
        assert_eq!(
            r * c,
            rows * cols,
            "reshape: {} entries into {rows}x{cols}",
            r * c
        );
        if (r, c) == (rows, cols) {
            return self;
        }
        let op = || Op::Reshape(self.id);
        if let Some(y) = Var::on_device([self], op, |k, [x]| Ok(k.copy(x)?.reshaped(rows, cols))) {
            return y;
        }
        let value = self.with_value(|v| DMatrix::from_column_slice(rows, cols, v.as_slice()));
        self.record(value, op())
    }

    /// `[x; x; ...]`, `times` copies stacked.
    pub fn tile_rows(self, times: usize) -> Self {
        let op = || Op::TileRows { a: self.id, times };
        if let Some(y) = Var::on_device([self], op, |k, [x]| k.tile_rows(x, times)) {
            return y;
        }
        let value = self.with_value(|v| tile_rows(v, times));
        self.record(value, op())
    }
}

/// Places `g` at `(row, col)` inside zeros of `shape`: the vector-Jacobian product of a slice.
pub(crate) fn embed<T: Real>(
    g: &DMatrix<T>,
    shape: (usize, usize),
    row: usize,
    col: usize,
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

/// Sums the `times` stacked blocks of `g`: the vector-Jacobian product of [`Var::tile_rows`].
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
