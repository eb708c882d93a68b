//! A matrix in a GPU's memory.

use cudarc::driver::CudaSlice;

/// A column-major `rows x cols` matrix in a GPU's memory, made and read back by
/// [`super::Gpu`]. (An empty matrix keeps one unused entry: the driver refuses empty
/// allocations.)
pub struct CudaMatrix<T> {
    pub(super) data: CudaSlice<T>,
    pub(super) rows: usize,
    pub(super) cols: usize,
}

impl<T> CudaMatrix<T> {
    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

impl<T> std::fmt::Debug for CudaMatrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaMatrix({}x{})", self.rows, self.cols)
    }
}
