//! Convolutional layers: a 2-D convolution or transposed convolution with a bias per output
//! channel, as [`Network`]s on images stored one per row.

use super::{Init, Network};
use crate::autodiff::{Conv2d, Var};
use crate::error::{Error, Result};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// A convolution (or, `transposed`, its transpose) with a kernel `{name}.kernel`
/// (`C_out x C_in·k·k`) and a bias per output channel `{name}.bias` (`1 x C_out`; for the
/// transpose, per input channel `1 x C_in`).
#[derive(Clone, Debug)]
pub struct ConvLayer {
    geometry: Conv2d,
    transposed: bool,
    kernel: ParamId,
    bias: ParamId,
}

impl ConvLayer {
    /// A convolution mapping `C_in·H·W` columns to `C_out·H_out·W_out`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid geometry; [`Error::Parameter`] if a name is
    /// taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        geometry: Conv2d,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Self::build(store, name, geometry, false, init, rng)
    }

    /// The transpose of the convolution with `geometry`: maps `C_out·H_out·W_out` columns back
    /// to `C_in·H·W` (an upsampling decoder layer for a strided encoder layer).
    ///
    /// # Errors
    /// As [`ConvLayer::new`].
    pub fn transposed<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        geometry: Conv2d,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Self::build(store, name, geometry, true, init, rng)
    }

    fn build<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        geometry: Conv2d,
        transposed: bool,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        if !geometry.is_valid() {
            return Err(Error::invalid(
                "convolution geometry",
                format!("{geometry:?}"),
                "positive sizes, stride and kernel, and a kernel no larger than the padded input",
            ));
        }
        let (rows, cols) = geometry.kernel_shape();
        let kernel = if transposed {
            // Each output entry of the transpose sums about C_out·k²/s² terms, not C_out: the
            // draws for a fan-in of C_out are scaled down to that.
            let k2 = (geometry.kernel * geometry.kernel) as f64;
            let taps = (k2 / (geometry.stride * geometry.stride) as f64).max(1.0);
            init.weights::<T, R>(rows, cols, rng)
                .map(|w| w * T::of_f64(taps.sqrt().recip()))
        } else {
            // Each output sums C_in·k·k terms: the fan-in is the kernel's row length.
            init.weights::<T, R>(cols, rows, rng).transpose()
        };
        let bias_len = if transposed {
            geometry.in_channels
        } else {
            geometry.out_channels
        };
        let kernel = store.add(format!("{name}.kernel"), kernel)?;
        let bias = store.add(format!("{name}.bias"), DMatrix::zeros(1, bias_len))?;
        Ok(ConvLayer {
            geometry,
            transposed,
            kernel,
            bias,
        })
    }

    /// The geometry.
    pub fn geometry(&self) -> Conv2d {
        self.geometry
    }

    /// The parameter ids: (kernel, bias).
    pub fn params(&self) -> (ParamId, ParamId) {
        (self.kernel, self.bias)
    }
}

impl<T: Real> Network<T> for ConvLayer {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        let g = self.geometry;
        let (y, channels, per_channel) = if self.transposed {
            let y = x.conv_transpose2d(tape.param(self.kernel), g);
            (y, g.in_channels, g.height * g.width)
        } else {
            let y = x.conv2d(tape.param(self.kernel), g);
            (y, g.out_channels, g.out_height() * g.out_width())
        };
        // Each channel's bias over its pixels: the outer product 1_P bᵀ is P x C, whose
        // column-major entries run pixel by pixel within each channel — the row layout.
        let ones = tape.filled(per_channel, 1, T::one());
        let spread = ones
            .matmul(tape.param(self.bias))
            .reshape(1, channels * per_channel);
        y + spread
    }

    fn inputs(&self) -> usize {
        if self.transposed {
            self.geometry.output_len()
        } else {
            self.geometry.input_len()
        }
    }

    fn outputs(&self) -> usize {
        if self.transposed {
            self.geometry.input_len()
        } else {
            self.geometry.output_len()
        }
    }
}
