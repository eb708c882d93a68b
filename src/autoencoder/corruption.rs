//! Corruptions of the input for denoising autoencoders: the model sees x̃, reconstructs x.

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// How a denoising autoencoder's input is corrupted at each step (never when encoding after
/// training).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Corruption {
    /// The input as it is.
    None,
    /// Masking: in each row, a fraction ν of the features (⌊ν D⌉, chosen uniformly without
    /// replacement) set to 0.
    Masking(f64),
    /// Additive Gaussian noise: x̃ ~ N(x, σ² I).
    Gaussian(f64),
    /// Salt and pepper: in each row, a fraction ν of the features set to the data's minimum or
    /// maximum, each with probability ½.
    SaltAndPepper(f64),
}

impl Corruption {
    /// Checks the setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a fraction outside [0, 1] or a negative or non-finite σ.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Corruption::Masking(v) | Corruption::SaltAndPepper(v) if !(0.0..=1.0).contains(&v) => {
                Err(Error::invalid(
                    "corruption fraction",
                    v,
                    "a fraction in [0, 1]",
                ))
            }
            Corruption::Gaussian(s) if !(s >= 0.0 && s.is_finite()) => {
                Err(Error::invalid("corruption sd", s, "a finite number >= 0"))
            }
            _ => Ok(()),
        }
    }

    /// A corrupted copy of `x`; `range` is the data's (minimum, maximum), for salt and pepper.
    pub fn apply<T: Real, R: Rng + ?Sized>(
        &self,
        x: &DMatrix<T>,
        range: (T, T),
        rng: &mut R,
    ) -> DMatrix<T> {
        let tape = Tape::new();
        self.apply_on(tape.constant(x.clone()), range, rng)
            .value()
            .clone_owned()
    }

    /// The corrupted input on `x`'s tape, a constant made where the tape runs (what
    /// [`Corruption::apply`] returns, on the CPU).
    pub(crate) fn apply_on<'t, T: Real, R: Rng + ?Sized>(
        &self,
        x: Var<'t, T>,
        range: (T, T),
        rng: &mut R,
    ) -> Var<'t, T> {
        let (rows, cols) = x.shape();
        let count = |fraction: f64| (fraction * cols as f64).round() as usize;
        match *self {
            Corruption::None => x.detach(),
            Corruption::Gaussian(sd) => {
                x.detach()
                    + x.tape()
                        .standard_normal(rows, cols, rng)
                        .scale(T::of_f64(sd))
            }
            Corruption::Masking(fraction) => {
                x.replace_in_rows(count(fraction), (T::zero(), T::zero()), rng)
            }
            Corruption::SaltAndPepper(fraction) => x.replace_in_rows(count(fraction), range, rng),
        }
    }
}
