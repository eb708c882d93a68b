//! p(x | z) = N(f(z), diag σ²) with a network f: the Gaussian VAE's decoder.

use super::validate_decoder;
use crate::autodiff::Var;
use crate::dist::LN_SQRT_2PI;
use crate::error::{Result, require_positive};
use crate::model::{Decoder, Likelihood, Scope};
use crate::nn::{Mlp, Network};
use crate::params::{ParamId, ParamStore};
use crate::real::{Real, c};
use nalgebra::DMatrix;

/// The observation variance of a [`GaussianDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ObservationVariance {
    /// A fixed c: the reconstruction term is −‖x − f(z)‖² / (2c), so C = 1/(2c) trades
    /// reconstruction against the KL term.
    Fixed(f64),
    /// One learned variance for every dimension.
    LearnedScalar,
    /// One learned variance per data dimension.
    LearnedPerDimension,
}

/// How the variance is held.
#[derive(Clone, Debug)]
enum Variance {
    Fixed(f64),
    /// softplus(raw) + a floor; `raw` is 1 x 1 or 1 x D.
    Learned(ParamId),
}

/// Smallest learned variance: keeps the log density bounded when the fit is perfect.
const VARIANCE_FLOOR: f64 = 1e-6;

/// p(x | z) = Π_j N(x_j; f_j(z), σ_j²) with f a network (an [`Mlp`] by default, with an identity
/// output) for a local latent: row i of z explains row i of x.
#[derive(Clone, Debug)]
pub struct GaussianDecoder<N = Mlp> {
    net: N,
    variance: Variance,
}

impl<N> GaussianDecoder<N> {
    /// A decoder whose mean is the network `net` (latent in, data columns out; give it an
    /// identity output activation). A learned variance starts at 1 (stored as softplus⁻¹(1), as
    /// `{name}.variance`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a fixed variance that is not a positive finite number;
    /// [`crate::Error::Parameter`] if the name is taken.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        net: N,
        variance: ObservationVariance,
    ) -> Result<Self>
    where
        N: Network<T>,
    {
        // softplus⁻¹(1) = ln(e − 1).
        let inverse_softplus_one = T::of_f64((std::f64::consts::E - 1.0).ln());
        let mut learned = |cols| {
            store.add(
                format!("{name}.variance"),
                DMatrix::from_element(1, cols, inverse_softplus_one),
            )
        };
        let variance = match variance {
            ObservationVariance::Fixed(v) => {
                Variance::Fixed(require_positive("observation variance", v)?)
            }
            ObservationVariance::LearnedScalar => Variance::Learned(learned(1)?),
            ObservationVariance::LearnedPerDimension => Variance::Learned(learned(net.outputs())?),
        };
        Ok(GaussianDecoder { net, variance })
    }

    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// Sets every learned variance to `variance` (above the floor of 1e-6); a fixed variance
    /// stays as it is.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] unless `variance` is a positive finite number.
    pub fn set_variance<T: Real>(&self, store: &mut ParamStore<T>, variance: f64) -> Result<()> {
        require_positive("observation variance", variance)?;
        if let Variance::Learned(id) = self.variance {
            // softplus⁻¹(v) = v + ln(1 − e^{−v}), stable for small and large v.
            let excess = (variance - VARIANCE_FLOOR).max(VARIANCE_FLOOR);
            let raw = excess + (-(-excess).exp_m1()).ln();
            let shape = store.get(id).shape();
            store.set(id, DMatrix::from_element(shape.0, shape.1, T::of_f64(raw)))?;
        }
        Ok(())
    }

    /// The current variances (1 x 1 or 1 x D).
    pub fn variance<T: Real>(&self, store: &ParamStore<T>) -> DMatrix<T> {
        match self.variance {
            Variance::Fixed(v) => DMatrix::from_element(1, 1, T::of_f64(v)),
            Variance::Learned(id) => store
                .get(id)
                .map(|r| crate::autodiff::softplus(r) + T::of_f64(VARIANCE_FLOOR)),
        }
    }
}

impl<T: Real, N: Network<T>> Decoder<T> for GaussianDecoder<N> {
    /// The mean f(z) of each row of `z`.
    fn mean<'t>(&self, z: Var<'t, T>) -> Var<'t, T> {
        self.net.forward(z)
    }
}

impl<T: Real, N: Network<T>> Likelihood<T> for GaussianDecoder<N> {
    fn scope(&self) -> Scope {
        Scope::Local
    }

    fn log_likelihood<'t>(&self, x: Var<'t, T>, z: Var<'t, T>) -> Var<'t, T> {
        let squared = (x - self.net.forward(z)).square(); // n x D
        let d = c::<T>(x.shape().1 as f64);
        match self.variance {
            Variance::Fixed(v) => {
                let norm = d * (c::<T>(0.5 * v.ln()) + c(LN_SQRT_2PI));
                squared.row_sums().scale(c(-0.5 / v)).shift(-norm)
            }
            Variance::Learned(id) => {
                let variance = z.tape().param(id).softplus().shift(c(VARIANCE_FLOOR)); // 1 x 1 or 1 x D
                let per_dim = (squared / variance + variance.ln())
                    .scale(c(-0.5))
                    .shift(-c::<T>(LN_SQRT_2PI));
                per_dim.row_sums()
            }
        }
    }

    fn validate(&self, x: &DMatrix<T>, latent_dim: usize) -> Result<()> {
        validate_decoder(&self.net, x, latent_dim)
    }
}
