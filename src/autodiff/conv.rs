//! 2-D convolution and its transpose on the tape, for images stored one per row.
//!
//! An image with C channels of H x W pixels is one row of C·H·W entries, channel by channel and
//! each channel row by row (index c·H·W + y·W + x) — the layout the data readers give for
//! C = 1. A kernel is a `C_out x (C_in·k·k)` matrix, row o holding output channel o's weights in
//! the same order. The convolution is computed as one matrix product over the patches of every
//! image (im2col); its transpose, the product with Cᵀ for the convolution's sparse matrix C, is
//! the convolution's own input-gradient map (col2im).

use super::tape::{Op, Var};
use crate::ops::Conv2d;
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    /// The 2-D convolution (cross-correlation, as deep-learning libraries compute it) of these
    /// images (`B x C_in·H·W`, one per row) with `kernel` (`C_out x C_in·k·k`); returns
    /// `B x C_out·H_out·W_out`. Add a bias per output channel separately.
    ///
    /// # Panics
    /// If the geometry is invalid or the shapes do not fit it.
    pub fn conv2d(self, kernel: Var<'t, T>, geometry: Conv2d) -> Self {
        geometry.check("conv2d");
        self.conv(kernel, geometry, false)
    }

    /// The transposed convolution: the product with Cᵀ for the sparse matrix C of
    /// [`Var::conv2d`] with this `geometry`, mapping `B x C_out·H_out·W_out` back to
    /// `B x C_in·H·W` (upsampling when the stride exceeds 1). Its forward pass is the
    /// convolution's input-gradient.
    ///
    /// # Panics
    /// If the geometry is invalid or the shapes do not fit it.
    pub fn conv_transpose2d(self, kernel: Var<'t, T>, geometry: Conv2d) -> Self {
        geometry.check("conv_transpose2d");
        self.conv(kernel, geometry, true)
    }

    /// The convolution, or its transpose, of this after checking the shapes.
    fn conv(self, kernel: Var<'t, T>, geometry: Conv2d, transposed: bool) -> Self {
        let (what, len) = if transposed {
            ("conv_transpose2d: inputs", geometry.output_len())
        } else {
            ("conv2d: images", geometry.input_len())
        };
        let ((r, c), (kr, kc)) = (self.shape(), kernel.shape());
        assert!(
            c == len && (kr, kc) == geometry.kernel_shape(),
            "{what} {r}x{c} and kernel {kr}x{kc} do not fit {geometry:?}"
        );
        let op = || Op::Conv2d {
            input: self.id,
            kernel: kernel.id,
            geometry: Box::new(geometry),
            transposed,
        };
        Var::apply([self, kernel], op, |k, [x, w]| {
            k.conv(x, w, geometry, transposed)
        })
    }
}
