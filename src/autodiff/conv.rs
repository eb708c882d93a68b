//! 2-D convolution and its transpose on the tape, for images stored one per row.
//!
//! An image with C channels of H x W pixels is one row of C·H·W entries, channel by channel and
//! each channel row by row (index c·H·W + y·W + x) — the layout the data readers give for
//! C = 1. A kernel is a `C_out x (C_in·k·k)` matrix, row o holding output channel o's weights in
//! the same order. The convolution is computed as one matrix product over the patches of every
//! image (im2col); its transpose, the product with Cᵀ for the convolution's sparse matrix C, is
//! the convolution's own input-gradient map (col2im).

use super::tape::{Op, Var};
use crate::backend::{Backend, Cpu, DeviceMatrix, Grid, Kernels, OperandGradients};
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

    /// Output positions per image: H_out·W_out.
    fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Patches of every image: `(B·P) x (C_in·k·k)`, P = H_out·W_out, image b's patches in rows
    /// b·P .. (b+1)·P. The host's [`Backend::im2col`].
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
    /// order of the output positions. The host's [`Backend::col2im`].
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

    /// Entry (b, q, o) (image, position, output channel) as a row per output position,
    /// `(B·P) x C_out`, and as an image per row, `B x (C_out·P)`.
    fn layouts(&self, images: usize) -> (Grid, Grid, [usize; 3]) {
        let p = self.positions();
        let by_position = Grid {
            offset: 0,
            steps: [p, 1, images * p],
        };
        let by_image = Grid {
            offset: 0,
            steps: [1, images, images * p],
        };
        (by_position, by_image, [images, p, self.out_channels])
    }

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
            geometry,
            transposed,
        };
        let on_device =
            |k: &Kernels, [x, w]: [&DeviceMatrix<T>; 2]| k.conv(x, w, geometry, transposed);
        if let Some(y) = Var::on_device([self, kernel], op, on_device) {
            return y;
        }
        let value = Var::with_values([self, kernel], |[x, w]| {
            let Ok(y) = geometry.apply(&Cpu, x, w, transposed);
            y
        });
        self.record(value, op())
    }
}
