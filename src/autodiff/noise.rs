//! Noise made where the tape runs: the draws of reparameterised samples, generators and
//! denoising corruptions.
//!
//! On the CPU the draws come from the run's generator, entry by entry in column-major order.
//! The emulated device draws the same, so that a run there can be checked against the CPU's to
//! the bit. A GPU draws on the device, from its counter-based generator seeded by one number
//! drawn from the run's, so that no noise is copied over: the same seed gives the same draws on
//! the same device and build, but not the CPU's.

use super::tape::{Op, Tape, Value, Var};
use crate::backend::{Kernels, draws};
use crate::real::Real;
use rand::{Rng, RngExt};

impl<'p, T: Real> Tape<'p, T> {
    /// A `rows x cols` constant of independent standard-normal draws: the noise of a
    /// reparameterised sample.
    pub fn standard_normal<'t, G: Rng + ?Sized>(
        &'t self,
        rows: usize,
        cols: usize,
        rng: &mut G,
    ) -> Var<'t, T>
    where
        'p: 't,
    {
        match self.drawing_kernels() {
            Some(_) => {
                let seed = rng.random();
                let draws = self.run(|k| k.standard_normal(rows, cols, seed));
                self.push(Value::of(draws), Op::Constant)
            }
            None => self.constant(draws::standard_normal(rows, cols, rng)),
        }
    }

    /// A `rows x cols` constant of independent draws uniform on [low, high) (drawn in f64 on
    /// the host).
    ///
    /// # Panics
    /// Unless `low < high`, both finite.
    pub fn uniform<'t, G: Rng + ?Sized>(
        &'t self,
        rows: usize,
        cols: usize,
        (low, high): (f64, f64),
        rng: &mut G,
    ) -> Var<'t, T>
    where
        'p: 't,
    {
        assert!(
            low < high && low.is_finite() && high.is_finite(),
            "uniform draws need finite low < high, not [{low}, {high})"
        );
        match self.drawing_kernels() {
            Some(_) => {
                let seed = rng.random();
                let draws = self.run(|k| k.uniform(rows, cols, (low, high), seed));
                self.push(Value::of(draws), Op::Constant)
            }
            None => self.constant(draws::uniform(rows, cols, (low, high), rng)),
        }
    }

    /// The kernels of a device that draws its own noise (a GPU), or `None` where the draws are
    /// made on the host (the CPU, the emulated device).
    fn drawing_kernels(&self) -> Option<&Kernels> {
        Some(self.kernels()).filter(|k| k.draws_on_device())
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// A constant copy of this value with `count` distinct entries of each row, chosen
    /// uniformly, replaced: each by `low` or `high` with probability ½ (by `low` alone where
    /// the two are equal, with no coin drawn). The masking (`(0, 0)`) and salt-and-pepper
    /// (the data's minimum and maximum) corruptions of a denoising autoencoder. No gradient
    /// flows through it.
    ///
    /// On the emulated device the value is read back, replaced on the host as on the CPU and
    /// copied over again; a GPU replaces in place.
    ///
    /// # Panics
    /// If `count` passes the number of columns.
    pub fn replace_in_rows<G: Rng + ?Sized>(
        self,
        count: usize,
        (low, high): (T, T),
        rng: &mut G,
    ) -> Var<'t, T> {
        let tape = self.tape();
        match tape.drawing_kernels() {
            Some(_) => {
                let seed = rng.random();
                let replaced = tape.run(|k| {
                    Var::with_matrices([self], |[x]| k.replace_in_rows(x, count, (low, high), seed))
                });
                tape.push(Value::of(replaced), Op::Constant)
            }
            None => {
                let mut x = self.value().clone_owned();
                draws::replace_in_rows(&mut x, count, (low, high), rng);
                tape.constant(x)
            }
        }
    }
}
