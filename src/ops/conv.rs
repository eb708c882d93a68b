//! 2-D convolution and its transpose on the tape, for images stored one per row.
//!
//! An image with C channels of H x W pixels is one row of C·H·W entries, channel by channel and
//! each channel row by row (index c·H·W + y·W + x) — the layout the data readers give for
//! C = 1. A kernel is a `C_out x (C_in·k·k)` matrix, row o holding output channel o's weights in
//! the same order. The convolution is computed as one matrix product over the patches of every
//! image (im2col); its transpose, the product with Cᵀ for the convolution's sparse matrix C, is
//! the convolution's own input-gradient map (col2im).

use super::Grid;

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

    pub(crate) fn check(&self, op: &str) {
        assert!(self.is_valid(), "{op}: invalid geometry {self:?}");
    }

    /// Every (output position, patch column, input entry) that one image's convolution reads
    /// — positions y·W_out + x, columns (c·k + i)·k + j, taps on the padding left out. The
    /// same for every image, so im2col and its adjoint walk one list.
    pub(crate) fn taps(&self) -> Vec<(usize, usize, usize)> {
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
    pub(crate) fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Entry (b, q, o) (image, position, output channel) as a row per output position,
    /// `(B·P) x C_out`, and as an image per row, `B x (C_out·P)`.
    pub(crate) fn layouts(&self, images: usize) -> (Grid, Grid, [usize; 3]) {
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
}
