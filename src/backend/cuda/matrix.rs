//! A matrix in a GPU's memory.

use crate::error::Result;
use crate::real::Real;
use cudarc::driver::CudaSlice;
use nalgebra::DMatrix;

/// A column-major `rows x cols` matrix in a GPU's memory, made and read back by
/// [`super::Gpu`]. (An empty matrix keeps one unused entry: the driver refuses empty
/// allocations.)
pub struct CudaMatrix<T> {
    pub(super) data: CudaSlice<T>,
    pub(super) rows: usize,
    pub(super) cols: usize,
}

impl<T: Real> CudaMatrix<T> {
    /// `(rows, columns)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The same entries, in column-major order, as a `rows x cols` matrix (no copy).
    ///
    /// # Panics
    /// If the number of entries differs.
    pub(crate) fn reshaped(self, rows: usize, cols: usize) -> Self {
        assert_eq!(
            self.rows * self.cols,
            rows * cols,
            "reshape: {}x{} into {rows}x{cols}",
            self.rows,
            self.cols
        );
        CudaMatrix { rows, cols, ..self }
    }

    /// The ordinal of the GPU it is on.
    pub fn ordinal(&self) -> usize {
        self.data.stream().context().ordinal()
    }

    /// A host copy, once the kernels queued before it on its stream have run.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the copy, or a kernel before it, failed.
    pub fn to_host(&self) -> Result<DMatrix<T>> {
        let stream = self.data.stream();
        let mut entries = stream.clone_dtoh(&self.data).map_err(|e| {
            super::device_error(stream.context().ordinal(), "copying from the GPU", e)
        })?;
        entries.truncate(self.rows * self.cols);
        Ok(DMatrix::from_vec(self.rows, self.cols, entries))
    }
}

impl<T> std::fmt::Debug for CudaMatrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaMatrix({}x{})", self.rows, self.cols)
    }
}
