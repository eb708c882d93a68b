//! 2-D convolution and its transpose on the tape, for images stored one per row.
//!
//! An image with C channels of H x W pixels is one row of C·H·W entries, channel by channel and
//! each channel row by row (index c·H·W + y·W + x) — the layout the data readers give for
//! C = 1. A kernel is a `C_out x (C_in·k·k)` matrix, row o holding output channel o's weights in
//! the same order. The convolution is computed as one matrix product over the patches of every
//! image (im2col); its transpose, the product with Cᵀ for the convolution's sparse matrix C, is
//! the convolution's own input-gradient map (col2im).

use super::tape::{Op, Var};
use crate::kernels::matmul;
use crate::real::Real;
use nalgebra::DMatrix;

/// The geometry of a 2-D convolution: what it reads and how it slides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels C_in.
    pub in_channels: usize,
    /// Input height H.
    pub height: usize,
    /// Input width W.
    pub width: usize,
    /// Output channels C_out.
    pub out_channels: usize,
    /// The kernel's side k.
    pub kernel: usize,
    /// The step between positions.
    pub stride: usize,
    /// Zeros added on every side.
    pub padding: usize,
}

impl Conv2d {
    /// Output height ⌊(H + 2p − k)/s⌋ + 1.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output width ⌊(W + 2p − k)/s⌋ + 1.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Entries of one input image: C_in·H·W.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Entries of one output image: C_out·H_out·W_out.
    pub fn output_len(&self) -> usize {
        self.out_channels * self.out_height() * self.out_width()
    }

    /// The kernel's shape: `C_out x (C_in·k·k)`.
    pub fn kernel_shape(&self) -> (usize, usize) {
        (
            self.out_channels,
            self.in_channels * self.kernel * self.kernel,
        )
    }

    /// True if the geometry is usable: positive sizes, a kernel that fits the padded input.
    pub fn is_valid(&self) -> bool {
        self.in_channels > 0
            && self.out_channels > 0
            && self.kernel > 0
            && self.stride > 0
            && self.height + 2 * self.padding >= self.kernel
            && self.width + 2 * self.padding >= self.kernel
    }

    fn check(&self, op: &str) {
        assert!(self.is_valid(), "{op}: invalid geometry {self:?}");
    }

    /// Every (output position, patch column, input entry) that one image's convolution reads
    /// — positions y·W_out + x, columns (c·k + i)·k + j, taps on the padding left out. The
    /// same for every image, so im2col and its adjoint walk one list.
    fn taps(&self) -> Vec<(usize, usize, usize)> {
        let (oh, ow, k) = (self.out_height(), self.out_width(), self.kernel);
        let mut taps = Vec::with_capacity(oh * ow * self.kernel_shape().1);
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..self.in_channels {
                    for i in 0..k {
                        for j in 0..k {
                            let row = (y * self.stride + i).checked_sub(self.padding);
                            let col = (x * self.stride + j).checked_sub(self.padding);
                            if let (Some(row), Some(col)) = (row, col)
                                && row < self.height
                                && col < self.width
                            {
                                let source = (c * self.height + row) * self.width + col;
                                taps.push((y * ow + x, (c * k + i) * k + j, source));
                            }
                        }
                    }
                }
            }
        }
        taps
    }

    /// Patches of every image: `(B·P) x (C_in·k·k)`, P = H_out·W_out, image b's patches in rows
    /// b·P .. (b+1)·P.
    fn im2col<T: Real>(&self, images: &DMatrix<T>) -> DMatrix<T> {
        let p = self.out_height() * self.out_width();
        let mut out = DMatrix::zeros(images.nrows() * p, self.kernel_shape().1);
        let taps = self.taps();
        for b in 0..images.nrows() {
            for &(position, column, source) in &taps {
                out[(b * p + position, column)] = images[(b, source)];
            }
        }
        out
    }

    /// The adjoint of [`Conv2d::im2col`]: patch entries added back into `B` images.
    fn col2im<T: Real>(&self, patches: &DMatrix<T>, images: usize) -> DMatrix<T> {
        let p = self.out_height() * self.out_width();
        let mut out = DMatrix::zeros(images, self.input_len());
        let taps = self.taps();
        for b in 0..images {
            for &(position, column, source) in &taps {
                out[(b, source)] += patches[(b * p + position, column)];
            }
        }
        out
    }

    /// `(B·P) x C_out` (a row per output position) to `B x (C_out·P)` (an image per row).
    fn positions_to_images<T: Real>(&self, m: &DMatrix<T>, images: usize) -> DMatrix<T> {
        let p = self.out_height() * self.out_width();
        DMatrix::from_fn(images, self.output_len(), |b, e| m[(b * p + e % p, e / p)])
    }

    /// The inverse of [`Conv2d::positions_to_images`].
    fn images_to_positions<T: Real>(&self, m: &DMatrix<T>) -> DMatrix<T> {
        let p = self.out_height() * self.out_width();
        DMatrix::from_fn(m.nrows() * p, self.out_channels, |r, o| {
            m[(r / p, o * p + r % p)]
        })
    }

    /// The convolution of `images` (`B x C_in·H·W`) with `kernel`.
    fn forward<T: Real>(&self, images: &DMatrix<T>, kernel: &DMatrix<T>) -> DMatrix<T> {
        let by_position = matmul(&self.im2col(images), false, kernel, true);
        self.positions_to_images(&by_position, images.nrows())
    }

    /// The transposed convolution of `outputs` (`B x C_out·H_out·W_out`) with `kernel`:
    /// Cᵀ applied to each row.
    fn transpose<T: Real>(&self, outputs: &DMatrix<T>, kernel: &DMatrix<T>) -> DMatrix<T> {
        let patches = matmul(&self.images_to_positions(outputs), false, kernel, false);
        self.col2im(&patches, outputs.nrows())
    }

    /// Gradients of the convolution y = conv(images, kernel) from the output gradient `g`.
    pub(crate) fn conv_vjp<T: Real>(
        &self,
        images: &DMatrix<T>,
        kernel: &DMatrix<T>,
        g: &DMatrix<T>,
        need: (bool, bool),
    ) -> (Option<DMatrix<T>>, Option<DMatrix<T>>) {
        let gi = need.0.then(|| self.transpose(g, kernel));
        // y_pos = patches · Kᵀ: dK = g_posᵀ · patches.
        let gk = need.1.then(|| {
            matmul(
                &self.images_to_positions(g),
                true,
                &self.im2col(images),
                false,
            )
        });
        (gi, gk)
    }

    /// Gradients of the transposed convolution y = convᵀ(outputs, kernel) from `g`.
    pub(crate) fn transpose_vjp<T: Real>(
        &self,
        outputs: &DMatrix<T>,
        kernel: &DMatrix<T>,
        g: &DMatrix<T>,
        need: (bool, bool),
    ) -> (Option<DMatrix<T>>, Option<DMatrix<T>>) {
        // The adjoint of Cᵀ is C.
        let go = need.0.then(|| self.forward(g, kernel));
        let gk = need.1.then(|| {
            // y = col2im(O_pos · K): dK = O_posᵀ · im2col(g).
            matmul(
                &self.images_to_positions(outputs),
                true,
                &self.im2col(g),
                false,
            )
        });
        (go, gk)
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// The 2-D convolution (cross-correlation, as deep-learning libraries compute it) of these
    /// images (`B x C_in·H·W`, one per row) with `kernel` (`C_out x C_in·k·k`); returns
    /// `B x C_out·H_out·W_out`. Add a bias per output channel separately.
    ///
    /// # Panics
    /// If the geometry is invalid or the shapes do not fit it.
    pub fn conv2d(self, kernel: Var<'t, T>, geometry: Conv2d) -> Self {
        geometry.check("conv2d");
        let value = Var::with_values([self, kernel], |[x, k]| {
            assert!(
                x.ncols() == geometry.input_len() && k.shape() == geometry.kernel_shape(),
                "conv2d: images {}x{} and kernel {}x{} do not fit {geometry:?}",
                x.nrows(),
                x.ncols(),
                k.nrows(),
                k.ncols()
            );
            geometry.forward(x, k)
        });
        self.record(
            value,
            Op::Conv2d {
                input: self.id,
                kernel: kernel.id,
                geometry,
                transposed: false,
            },
        )
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
        let value = Var::with_values([self, kernel], |[y, k]| {
            assert!(
                y.ncols() == geometry.output_len() && k.shape() == geometry.kernel_shape(),
                "conv_transpose2d: inputs {}x{} and kernel {}x{} do not fit {geometry:?}",
                y.nrows(),
                y.ncols(),
                k.nrows(),
                k.ncols()
            );
            geometry.transpose(y, k)
        });
        self.record(
            value,
            Op::Conv2d {
                input: self.id,
                kernel: kernel.id,
                geometry,
                transposed: true,
            },
        )
    }
}
