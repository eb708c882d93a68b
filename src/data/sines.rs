//! Noisy sine waves of random frequency and phase: a small sequence data set whose clean
//! signal is known, for sequence models (the LSTM autoencoder) to be judged against it.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use std::ops::Range;

/// Waves as rows, one column per time step: `noisy` is what a model sees, `clean` the signal
/// underneath it.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisySines<T: Real> {
    /// sin(ω t + φ) plus independent N(0, noise²) per step.
    pub noisy: DMatrix<T>,
    /// sin(ω t + φ).
    pub clean: DMatrix<T>,
}

impl<T: Real> NoisySines<T> {
    /// Angular frequencies ω are drawn uniformly from this range (radians per step): between
    /// about 1/21 and 1/8 of a cycle a step, so that a wave of 16 steps shows one to two
    /// cycles and no aliasing.
    pub const FREQUENCIES: Range<f64> = 0.3..0.8;

    /// `count` waves of `steps` steps, t = 0, 1, …, each with ω uniform in
    /// [`Self::FREQUENCIES`] and φ uniform in [0, 2π), plus noise of standard deviation
    /// `noise`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `count` or `steps` is 0 or `noise` is negative or not
    /// finite.
    pub fn generate<R: Rng + ?Sized>(
        count: usize,
        steps: usize,
        noise: f64,
        rng: &mut R,
    ) -> Result<Self> {
        if count == 0 || steps == 0 {
            return Err(Error::invalid(
                "sine waves (count, steps)",
                format!("({count}, {steps})"),
                "at least one wave of at least one step",
            ));
        }
        if !(noise >= 0.0 && noise.is_finite()) {
            return Err(Error::invalid(
                "noise standard deviation",
                noise,
                "a finite number >= 0",
            ));
        }
        let mut clean = DMatrix::zeros(count, steps);
        let mut noisy = DMatrix::zeros(count, steps);
        for i in 0..count {
            let frequency = rng.random_range(Self::FREQUENCIES);
            let phase = rng.random_range(0.0..std::f64::consts::TAU);
            for t in 0..steps {
                let signal = (frequency * t as f64 + phase).sin();
                clean[(i, t)] = T::of_f64(signal);
                noisy[(i, t)] = T::of_f64(signal + noise * f64::standard_normal(rng));
            }
        }
        Ok(NoisySines { noisy, clean })
    }
}
