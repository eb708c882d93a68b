//! Where a grid of entries lies in a matrix's storage: what slicing, concatenation, diagonals
//! and the convolutions' reorderings have in common, so that one copy kernel does all of them
//! on every backend.

/// A grid of entries inside a matrix's column-major storage, up to three axes deep: entry
/// (i, j, l) of the grid is at `offset + i * steps[0] + j * steps[1] + l * steps[2]`.
///
/// A block of an `r`-row matrix starting at (row, col) steps by 1 down and by `r` across
/// ([`Grid::block`]); the diagonal of an `n x n` matrix steps by `n + 1` ([`Grid::diagonal`]);
/// a third axis reorders a stack of blocks in one copy (the convolutions' positions and
/// channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) offset: usize,
    pub(crate) steps: [usize; 3],
}

impl Grid {
    /// The entries of an `rows`-row matrix from (`row`, `col`) on, as they are laid out.
    pub(crate) fn block(rows: usize, (row, col): (usize, usize)) -> Grid {
        Grid {
            offset: row + col * rows,
            steps: [1, rows, 0],
        }
    }

    /// The diagonal of an `n x n` matrix, as a column.
    pub(crate) fn diagonal(n: usize) -> Grid {
        Grid {
            offset: 0,
            steps: [n + 1, 0, 0],
        }
    }

    /// A `rows x cols` matrix read as if each axis of length 1 were repeated (step 0 along
    /// it): copied onto a larger block, the broadcast of a row, a column or a scalar.
    pub(crate) fn broadcast(rows: usize, cols: usize) -> Grid {
        Grid {
            offset: 0,
            steps: [usize::from(rows != 1), if cols == 1 { 0 } else { rows }, 0],
        }
    }

    /// The storage index of entry (i, j, l).
    pub(crate) fn at(&self, [i, j, l]: [usize; 3]) -> usize {
        self.offset + i * self.steps[0] + j * self.steps[1] + l * self.steps[2]
    }

    /// Checks that a grid of `shape` lies inside storage of `len` entries.
    ///
    /// # Panics
    /// If it does not: a programming error, as a slice out of bounds is on the tape.
    pub(crate) fn assert_within(&self, shape: [usize; 3], len: usize, what: &str) {
        if shape.iter().all(|&n| n > 0) {
            let last = self.at(shape.map(|n| n - 1));
            assert!(
                last < len,
                "{what}: a {shape:?} grid at {self:?} reaches entry {last} of {len}"
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
        assert_eq!(m.as_slice()[block.at([2, 1, 0])], m[(3, 3)]);
        let square = nalgebra::DMatrix::from_fn(3, 3, |i, j| (10 * i + j) as f64);
        let diagonal = Grid::diagonal(3);
        assert_eq!(square.as_slice()[diagonal.at([2, 0, 0])], square[(2, 2)]);
    }

    #[test]
    fn a_broadcast_grid_repeats_the_axes_of_length_one() {
        let row = nalgebra::DMatrix::from_row_slice(1, 3, &[1.0, 2.0, 3.0]);
        let grid = Grid::broadcast(1, 3);
        grid.assert_within([4, 3, 1], 3, "row");
        assert_eq!(row.as_slice()[grid.at([3, 2, 0])], 3.0);
        let column = nalgebra::DMatrix::from_column_slice(2, 1, &[5.0, 6.0]);
        let grid = Grid::broadcast(2, 1);
        grid.assert_within([2, 7, 1], 2, "column");
        assert_eq!(column.as_slice()[grid.at([1, 6, 0])], 6.0);
        assert_eq!(Grid::broadcast(1, 1).at([9, 9, 0]), 0);
        // A full matrix is read as it is laid out.
        assert_eq!(Grid::broadcast(4, 5), Grid::block(4, (0, 0)));
    }

    #[test]
    #[should_panic(expected = "reaches entry 23 of 20")]
    fn a_grid_past_the_end_is_refused() {
        Grid::block(4, (0, 4)).assert_within([4, 2, 1], 20, "columns");
    }

    #[test]
    fn an_empty_grid_fits_anywhere() {
        Grid::block(4, (9, 9)).assert_within([0, 3, 1], 0, "rows");
    }
}
