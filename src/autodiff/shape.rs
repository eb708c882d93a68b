//! Operations that move entries around: slices, concatenation, reshaping and tiling.

use super::tape::{Op, Var};
use crate::ops::Concat;
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    /// Columns `start .. start + n`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn columns(self, start: usize, n: usize) -> Self {
        let rows = self.shape().0;
        let op = || Op::Columns { a: self.id, start };
        Var::apply([self], op, |k, [m]| k.block(m, (0, start), (rows, n)))
    }

    /// Rows `start .. start + n`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn rows(self, start: usize, n: usize) -> Self {
        let cols = self.shape().1;
        let op = || Op::Rows { a: self.id, start };
        Var::apply([self], op, |k, [m]| k.block(m, (start, 0), (n, cols)))
    }

    /// Side-by-side concatenation `[a b ...]`.
    ///
    /// # Panics
    /// If `parts` is empty or the row counts differ.
    pub fn concat_columns(parts: &[Var<'t, T>]) -> Self {
        let op = || Op::ConcatColumns(parts.iter().map(|p| p.id).collect());
        Var::apply_all(parts, op, |k, m| k.concat(m, Concat::Columns))
    }

    /// Stacked concatenation `[a; b; ...]`.
    ///
    /// # Panics
    /// If `parts` is empty or the column counts differ.
    pub fn concat_rows(parts: &[Var<'t, T>]) -> Self {
        let op = || Op::ConcatRows(parts.iter().map(|p| p.id).collect());
        Var::apply_all(parts, op, |k, m| k.concat(m, Concat::Rows))
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
        Var::apply([self], op, |k, [x]| Ok(k.copy(x)?.reshaped(rows, cols)))
    }

    /// `[x; x; ...]`, `times` copies stacked.
    pub fn tile_rows(self, times: usize) -> Self {
        let op = || Op::TileRows { a: self.id, times };
        Var::apply([self], op, |k, [x]| k.tile_rows(x, times))
    }
}
