//! The amortized guide: a network that maps each data row to its own diagonal Gaussian q(z | x).

use super::Guide;
use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::{Error, Result};
use crate::nn::{Activation, Init, Linear, Mlp};
use crate::params::ParamStore;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// q(z | x) = N(g(x), diag h(x)) with g = g₂ ∘ g₁ and h = h₂ ∘ h₁ sharing the trunk g₁ = h₁: an
/// MLP trunk (`{name}.trunk`), then two linear heads for the mean (`{name}.mean`) and the log
/// variance (`{name}.log_var`).
///
/// Use it with a [`Scope::Local`](super::Scope::Local) likelihood: the family it builds has one
/// distribution per row of the batch.
#[derive(Clone, Debug)]
pub struct GaussianEncoder {
    trunk: Option<Mlp>,
    mean: Linear,
    log_var: Linear,
    inputs: usize,
}

impl GaussianEncoder {
    /// An encoder from `inputs` columns through hidden layers of the given widths (each followed
    /// by `activation`; none is allowed) to a `latent`-dimensional Gaussian.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero sizes; [`Error::Parameter`] if a name is taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        inputs: usize,
        hidden: &[usize],
        latent: usize,
        activation: Activation,
        rng: &mut R,
    ) -> Result<Self> {
        if inputs == 0 || latent == 0 || hidden.contains(&0) {
            return Err(Error::invalid(
                "encoder sizes",
                format!("{inputs} -> {hidden:?} -> {latent}"),
                "sizes of at least 1",
            ));
        }
        let trunk = match hidden {
            [] => None,
            _ => {
                let sizes: Vec<usize> = std::iter::once(inputs)
                    .chain(hidden.iter().copied())
                    .collect();
                Some(Mlp::new(
                    store,
                    &format!("{name}.trunk"),
                    &sizes,
                    activation,
                    activation,
                    rng,
                )?)
            }
        };
        let width = hidden.last().copied().unwrap_or(inputs);
        let mean = Linear::new(
            store,
            &format!("{name}.mean"),
            width,
            latent,
            Init::Xavier,
            rng,
        )?;
        let log_var = Linear::new(
            store,
            &format!("{name}.log_var"),
            width,
            latent,
            Init::Xavier,
            rng,
        )?;
        Ok(GaussianEncoder {
            trunk,
            mean,
            log_var,
            inputs,
        })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The means and standard deviations of q(z | x) for each row of `x`, off the tape.
    pub fn encode<T: Real>(
        &self,
        store: &ParamStore<T>,
        x: &DMatrix<T>,
    ) -> (DMatrix<T>, DMatrix<T>) {
        let tape = Tape::with_params(store);
        let q = self.diag(tape.constant(x.clone()));
        let sd = q.log_sd.exp();
        ((*q.mean.value()).clone(), (*sd.value()).clone())
    }

    fn diag<'t, T: Real>(&self, x: Var<'t, T>) -> DiagNormal<'t, T> {
        let h = match &self.trunk {
            Some(trunk) => trunk.forward(x),
            None => x,
        };
        // log σ = ½ log σ².
        DiagNormal {
            mean: self.mean.forward(h),
            log_sd: self.log_var.forward(h).scale(c(0.5)),
        }
    }
}

impl<T: Real> Guide<T> for GaussianEncoder {
    type Family<'t>
        = Gaussian<'t, T>
    where
        T: 't;

    fn dim(&self) -> usize {
        self.mean.outputs()
    }

    fn family<'t>(&self, _tape: &'t Tape<'t, T>, x: Var<'t, T>) -> Gaussian<'t, T> {
        Gaussian::Diag(self.diag(x))
    }
}
