//! Reductions: which entries a sum or a log-sum-exp combines.

/// Which entries a reduction combines.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reduce {
    /// Everything, to 1x1.
    All,
    /// Along each row, to a column (R x 1).
    EachRow,
    /// Down each column, to a row (1 x C).
    EachColumn,
}

impl Reduce {
    pub(crate) fn out_shape(self, (r, c): (usize, usize)) -> (usize, usize) {
        match self {
            Reduce::All => (1, 1),
            Reduce::EachRow => (r, 1),
            Reduce::EachColumn => (1, c),
        }
    }

    /// Index into the reduced output of input entry (i, j).
    #[inline]
    pub(crate) fn slot(self, i: usize, j: usize) -> (usize, usize) {
        match self {
            Reduce::All => (0, 0),
            Reduce::EachRow => (i, 0),
            Reduce::EachColumn => (0, j),
        }
    }
}
