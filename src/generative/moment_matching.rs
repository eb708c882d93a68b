//! The generative moment matching network: a generator trained directly on a sample-based
//! distance between its output and the data, the maximum mean discrepancy.

use super::generator::Generator;
use super::mmd::GaussianMmd;
use crate::autodiff::{Tape, Var};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::nn::{Network, check_width};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// A generator trained by descending the unbiased MMD² between each minibatch and as many
/// generated rows, under a sum of Gaussians of several bandwidths ([`GaussianMmd`]). One
/// parameter group; no adversary.
#[derive(Clone, Debug)]
pub struct MomentMatching<G> {
    /// G (unconditional).
    pub generator: Generator<G>,
    /// The discrepancy (its bandwidths).
    pub mmd: GaussianMmd,
}

impl<T: Real, G: Network<T>> Loss<T> for MomentMatching<G> {
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        let rows = batch.x.nrows();
        let real = tape.constant_placed(batch.x);
        let fake = self.generator.generate(tape, None, rows.max(2), rng);
        Ok(self.mmd.mmd2_for_gradients(real, fake))
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.mmd.validate()?;
        self.generator.validate()?;
        if self.generator.classes != 0 {
            return Err(Error::invalid(
                "moment-matching generator classes",
                self.generator.classes,
                "0 (a conditional moment-matching generator is not built)",
            ));
        }
        if data.nrows() < 2 {
            return Err(Error::EmptyData {
                what: "data for MMD² (at least two rows)",
            });
        }
        check_width(data, self.generator.network.outputs(), 0)
    }
}
