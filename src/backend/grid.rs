//! Where a grid of entries lies in a matrix's storage: what slicing, concatenation and
//! diagonals have in common, so that one copy kernel does all of them on every backend.

/// A `rows x cols` grid of entries inside a matrix's column-major storage: entry (i, j) of the
/// grid is at `offset + i * row_step + j * col_step`.
///
/// A block of an `r`-row matrix starting at (row, col) steps by 1 down and by `r` across
/// ([`Grid::block`]); the diagonal of an `n x n` matrix steps by `n + 1` ([`Grid::diagonal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) offset: usize,
    pub(crate) row_step: usize,
    pub(crate) col_step: usize,
}

impl Grid {
    /// The entries of an `rows`-row matrix from (`row`, `col`) on, as they are laid out.
    pub(crate) fn block(rows: usize, (row, col): (usize, usize)) -> Grid {
        Grid {
            offset: row + col * rows,
            row_step: 1,
            col_step: rows,
        }
    }

    /// The diagonal of an `n x n` matrix, as a column.
    pub(crate) fn diagonal(n: usize) -> Grid {
        Grid {
            offset: 0,
            row_step: n + 1,
            col_step: 0,
        }
    }

    /// The storage index of entry (i, j).
    pub(crate) fn at(&self, i: usize, j: usize) -> usize {
        self.offset + i * self.row_step + j * self.col_step
    }

    /// Checks that a `rows x cols` grid lies inside storage of `len` entries.
    ///
    /// # Panics
    /// If it does not: a programming error, as a slice out of bounds is on the tape.
    pub(crate) fn assert_within(&self, (rows, cols): (usize, usize), len: usize, what: &str) {
        if rows > 0 && cols > 0 {
            let last = self.at(rows - 1, cols - 1);
            assert!(
                last < len,
                "{what}: a {rows}x{cols} grid at {self:?} reaches entry {last} of {len}"
            );
        }
    }
}

/// Which way parts are joined: side by side (`[a b]`) or stacked (`[a; b]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Concat {
    Columns,
    Rows,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_and_a_diagonal_address_the_entries_nalgebra_stores_there() {
        let m = nalgebra::DMatrix::from_fn(4, 5, |i, j| (10 * i + j) as f64);
        let block = Grid::block(4, (1, 2));
        assert_eq!(m.as_slice()[block.at(2, 1)], m[(3, 3)]);
        let square = nalgebra::DMatrix::from_fn(3, 3, |i, j| (10 * i + j) as f64);
        let diagonal = Grid::diagonal(3);
        assert_eq!(square.as_slice()[diagonal.at(2, 0)], square[(2, 2)]);
    }

    #[test]
    #[should_panic(expected = "reaches entry 23 of 20")]
    fn a_grid_past_the_end_is_refused() {
        Grid::block(4, (0, 4)).assert_within((4, 2), 20, "columns");
    }

    #[test]
    fn an_empty_grid_fits_anywhere() {
        Grid::block(4, (9, 9)).assert_within((0, 3), 0, "rows");
    }
}
