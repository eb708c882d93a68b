//! Corruptions of the input for denoising autoencoders: the model sees x̃, reconstructs x.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

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
        let mut out = x.clone();
        let d = x.ncols();
        match *self {
            Corruption::None => {}
            Corruption::Gaussian(sd) => {
                let sd = T::of_f64(sd);
                out.iter_mut()
                    .for_each(|v| *v += sd * T::standard_normal(rng));
            }
            Corruption::Masking(fraction) | Corruption::SaltAndPepper(fraction) => {
                let count = (fraction * d as f64).round() as usize;
                let mut columns: Vec<usize> = (0..d).collect();
                for i in 0..x.nrows() {
                    // A partial Fisher–Yates shuffle picks `count` distinct columns.
                    for k in 0..count {
                        let pick = k + rng.random_range(0..d - k);
                        columns.swap(k, pick);
                        out[(i, columns[k])] = match self {
                            Corruption::Masking(_) => T::zero(),
                            _ if rng.random::<bool>() => range.1,
                            _ => range.0,
                        };
                    }
                }
            }
        }
        out
    }
}
