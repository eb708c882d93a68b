//! The convolutions and their derivatives, composed from the contract's kernels (patches, one
//! product, a reordering copy), so that each is written once for every device.

use super::{Backend, OperandGradients};
use crate::ops::Conv2d;
use crate::real::Real;

impl Conv2d {
    /// `(B·P) x C_out` (a row per output position) to `B x (C_out·P)` (an image per row).
    fn positions_to_images<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        m: &B::Matrix,
        images: usize,
    ) -> Result<B::Matrix, B::Error> {
        let (by_position, by_image, shape) = self.layouts(images);
        let mut out = b.zeros(images, self.output_len())?;
        b.copy_grid(m, by_position, &mut out, by_image, shape)?;
        Ok(out)
    }

    /// The inverse of [`Conv2d::positions_to_images`].
    fn images_to_positions<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        m: &B::Matrix,
    ) -> Result<B::Matrix, B::Error> {
        let images = b.shape(m).0;
        let (by_position, by_image, shape) = self.layouts(images);
        let mut out = b.zeros(images * self.positions(), self.out_channels)?;
        b.copy_grid(m, by_image, &mut out, by_position, shape)?;
        Ok(out)
    }

    /// The convolution of `images` (`B x C_in·H·W`) with `kernel`, on backend `b`.
    pub(crate) fn forward<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        images: &B::Matrix,
        kernel: &B::Matrix,
    ) -> Result<B::Matrix, B::Error> {
        let by_position = b.matmul(&b.im2col(images, *self)?, false, kernel, true)?;
        self.positions_to_images(b, &by_position, b.shape(images).0)
    }

    /// The transposed convolution of `outputs` (`B x C_out·H_out·W_out`) with `kernel`:
    /// Cᵀ applied to each row, on backend `b`.
    pub(crate) fn transpose<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        outputs: &B::Matrix,
        kernel: &B::Matrix,
    ) -> Result<B::Matrix, B::Error> {
        let by_position = self.images_to_positions(b, outputs)?;
        let patches = b.matmul(&by_position, false, kernel, false)?;
        b.col2im(&patches, *self, b.shape(outputs).0)
    }

    /// The convolution of `x` with `kernel`, or (`transposed`) its transpose, on backend `b`.
    pub(crate) fn apply<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        x: &B::Matrix,
        kernel: &B::Matrix,
        transposed: bool,
    ) -> Result<B::Matrix, B::Error> {
        if transposed {
            self.transpose(b, x, kernel)
        } else {
            self.forward(b, x, kernel)
        }
    }

    /// The gradients of [`Conv2d::apply`] with input, kernel and output gradient `values`.
    pub(crate) fn apply_vjp<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        values: [&B::Matrix; 3],
        transposed: bool,
        need: (bool, bool),
    ) -> Result<OperandGradients<B::Matrix>, B::Error> {
        if transposed {
            self.transpose_vjp(b, values, need)
        } else {
            self.conv_vjp(b, values, need)
        }
    }

    /// The gradient of a kernel read through patches: y_pos = patches · Kᵀ gives
    /// dK = g_posᵀ · patches, for `g` as images and `patches_of` the images read.
    fn kernel_vjp<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        g: &B::Matrix,
        patches_of: &B::Matrix,
    ) -> Result<B::Matrix, B::Error> {
        let g_by_position = self.images_to_positions(b, g)?;
        b.matmul(&g_by_position, true, &b.im2col(patches_of, *self)?, false)
    }

    /// Gradients of the convolution y = conv(images, kernel) from the output gradient `g`.
    pub(crate) fn conv_vjp<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        [images, kernel, g]: [&B::Matrix; 3],
        need: (bool, bool),
    ) -> Result<OperandGradients<B::Matrix>, B::Error> {
        let gi = need.0.then(|| self.transpose(b, g, kernel)).transpose()?;
        let gk = need.1.then(|| self.kernel_vjp(b, g, images)).transpose()?;
        Ok((gi, gk))
    }

    /// Gradients of the transposed convolution y = convᵀ(outputs, kernel) from `g`.
    pub(crate) fn transpose_vjp<T: Real, B: Backend<T>>(
        &self,
        b: &B,
        [outputs, kernel, g]: [&B::Matrix; 3],
        need: (bool, bool),
    ) -> Result<OperandGradients<B::Matrix>, B::Error> {
        // The adjoint of Cᵀ is C; y = col2im(O_pos · K) gives dK = O_posᵀ · im2col(g).
        let go = need.0.then(|| self.forward(b, g, kernel)).transpose()?;
        let gk = need.1.then(|| self.kernel_vjp(b, outputs, g)).transpose()?;
        Ok((go, gk))
    }
}
