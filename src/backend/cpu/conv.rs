//! The host's convolution kernels: the patches a convolution reads (im2col) and their adjoint.

use crate::ops::Conv2d;
use crate::real::Real;
use nalgebra::DMatrix;

impl Conv2d {
    /// Patches of every image: `(B·P) x (C_in·k·k)`, P = H_out·W_out, image b's patches in rows
    /// b·P .. (b+1)·P. The host's `Backend::im2col`.
    pub(crate) fn im2col<T: Real>(&self, images: &DMatrix<T>) -> DMatrix<T> {
        let p = self.positions();
        let mut out = DMatrix::zeros(images.nrows() * p, self.kernel_shape().1);
        let taps = self.taps();
        for b in 0..images.nrows() {
            for &(position, column, source) in &taps {
                out[(b * p + position, column)] = images[(b, source)];
            }
        }
        out
    }

    /// The adjoint of [`Conv2d::im2col`]: patch entries added back into `B` images, in the
    /// order of the output positions. The host's `Backend::col2im`.
    pub(crate) fn col2im<T: Real>(&self, patches: &DMatrix<T>, images: usize) -> DMatrix<T> {
        let p = self.positions();
        let mut out = DMatrix::zeros(images, self.input_len());
        let taps = self.taps();
        for b in 0..images {
            for &(position, column, source) in &taps {
                out[(b, source)] += patches[(b * p + position, column)];
            }
        }
        out
    }
}
