//! The amortized guide: a network that maps each data row to its own diagonal Gaussian q(z | x).

use crate::autodiff::{Tape, Var};
use crate::dist::{DiagNormal, Gaussian};
use crate::error::{Error, Result};
use crate::model::Guide;
use crate::nn::{Activation, Identity, Init, Linear, Mlp, Network};
use crate::params::ParamStore;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// q(z | x) = N(g(x), diag h(x)) with g = g₂ ∘ g₁ and h = h₂ ∘ h₁ sharing the trunk g₁ = h₁: a
/// network trunk, then two linear heads for the mean (`{name}.mean`) and the log variance
/// (`{name}.log_var`).
///
/// The trunk is any [`Network`] (an [`Mlp`] by default; [`Identity`] for a linear encoder).
/// Use it with a [`Scope::Local`](crate::model::Scope::Local) likelihood: the family it builds
/// has one distribution per row of the batch.
#[derive(Clone, Debug)]
pub struct GaussianEncoder<N = Mlp> {
    trunk: N,
    mean: Linear,
    log_var: Linear,
}

impl<N> GaussianEncoder<N> {
    /// Heads of size `latent` on `trunk` (data columns in, features out, its own activations),
    /// with weights drawn by `init`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `latent` is 0; [`Error::Parameter`] if a name is taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        trunk: N,
        latent: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self>
    where
        N: Network<T>,
    {
        if latent == 0 {
            return Err(Error::invalid("latent dimension", 0, "at least 1"));
        }
        let width = trunk.outputs();
        let init = init.resolve(Activation::Identity);
        let mean = Linear::new(store, &format!("{name}.mean"), width, latent, init, rng)?;
        let log_var = Linear::new(store, &format!("{name}.log_var"), width, latent, init, rng)?;
        Ok(GaussianEncoder {
            trunk,
            mean,
            log_var,
        })
    }

    /// The trunk.
    pub fn trunk(&self) -> &N {
        &self.trunk
    }

    /// The heads: (mean, log variance), to initialise them from data.
    pub fn heads(&self) -> (&Linear, &Linear) {
        (&self.mean, &self.log_var)
    }

    /// Input width.
    pub fn inputs<T: Real>(&self) -> usize
    where
        N: Network<T>,
    {
        self.trunk.inputs()
    }

    /// The means and standard deviations of q(z | x) for each row of `x`, off the tape.
    pub fn encode<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> (DMatrix<T>, DMatrix<T>)
    where
        N: Network<T>,
    {
        let tape = Tape::for_evaluation(store);
        let q = self.diag(tape.constant(x.clone()));
        let sd = q.log_sd.exp();
        ((*q.mean.value()).clone(), (*sd.value()).clone())
    }

    fn diag<'t, T: Real>(&self, x: Var<'t, T>) -> DiagNormal<'t, T>
    where
        N: Network<T>,
    {
        let h = self.trunk.forward(x);
        // log σ = ½ log σ².
        DiagNormal {
            mean: self.mean.forward(h),
            log_sd: self.log_var.forward(h).scale(c(0.5)),
        }
    }
}

impl GaussianEncoder<Identity> {
    /// A linear encoder: mean and log variance both affine in x (no trunk), as in a linear VAE.
    ///
    /// # Errors
    /// As [`GaussianEncoder::new`], and for `inputs` of 0.
    pub fn linear<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        inputs: usize,
        latent: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        if inputs == 0 {
            return Err(Error::invalid("input width", 0, "at least 1"));
        }
        Self::new(store, name, Identity { width: inputs }, latent, init, rng)
    }
}

impl<T: Real, N: Network<T>> Guide<T> for GaussianEncoder<N> {
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

    fn row_wise(&self) -> bool {
        true
    }
}
