//! The point-mass guide: q(z) = δ(z − m), whose fit is the posterior's mode (MAP).

use super::{DiagonalReference, register_mean};
use crate::autodiff::{Tape, Var};
use crate::error::Result;
use crate::model::{GaussianGuide, Guide, VariationalFamily};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// A point mass at m = m₀ + s₀ ⊙ u, with the free `{name}.mean` (u, 1 x d) measured from the
/// frozen `{name}.reference_mean` (m₀) and `{name}.reference_log_sd` (ln s₀).
///
/// Its "bound" is log p(x, m): maximising it finds the mode of the joint density of z (MAP).
/// For a program, z is the unconstrained parameters, so the mode includes the log-Jacobian of
/// the transforms (Stan's `jacobian=true`): it is the centre of a Laplace approximation in
/// that space, and it exists for hierarchical scales whose constrained density has none at 0.
/// There is no spread: summaries have sd 0, and no importance weights can be formed.
#[derive(Clone, Debug)]
pub struct PointMassGuide {
    mean: ParamId,
    reference: DiagonalReference,
    dim: usize,
}

impl PointMassGuide {
    /// Registers the guide's parameters in `store`, at m = 0, with steps in units of
    /// `step_scale`.
    ///
    /// # Errors
    /// As [`crate::guide::DiagGaussianGuide::new`].
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        step_scale: T,
    ) -> Result<Self> {
        let mean = register_mean(store, name, dim, step_scale)?;
        let reference = DiagonalReference::register(
            store,
            name,
            DMatrix::from_element(1, dim, step_scale.ln()),
        )?;
        Ok(PointMassGuide {
            mean,
            reference,
            dim,
        })
    }

    /// The point mass on `tape`.
    fn distribution<'t, T: Real>(&self, tape: &'t Tape<'t, T>) -> PointMass<'t, T> {
        let scale = tape.param(self.reference.log_sd).exp();
        PointMass {
            point: self.reference.location_on(tape, self.mean, scale),
        }
    }
}

/// The point mass on a tape: every draw is the point.
#[derive(Clone, Copy, Debug)]
pub struct PointMass<'t, T: Real> {
    /// `1 x d` location.
    pub point: Var<'t, T>,
}

impl<'t, T: Real> VariationalFamily<'t, T> for PointMass<'t, T> {
    fn rows(&self) -> usize {
        1
    }
    fn dim(&self) -> usize {
        self.point.shape().1
    }
    fn rsample<G: Rng + ?Sized>(&self, particles: usize, _rng: &mut G) -> Var<'t, T> {
        self.point.tile_rows(particles)
    }
    /// 0 for every row: the bound of a point mass is log p(x, m), with no entropy term (a
    /// density with respect to the point's own counting measure).
    fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        z.tape().filled(z.shape().0, 1, T::zero())
    }
    fn stop_gradient(&self) -> Self {
        PointMass {
            point: self.point.detach(),
        }
    }
}

guide_from_parameters!(PointMassGuide => PointMass);

impl<T: Real> GaussianGuide<T> for PointMassGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        self.reference.location(store, self.mean)
    }

    /// Zero: a point has no spread.
    fn covariance(&self, _store: &ParamStore<T>) -> DMatrix<T> {
        DMatrix::zeros(self.dim, self.dim)
    }

    /// The point at `mean`, later steps in units of 1/√Λ_jj.
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()> {
        let d = self.reference.start(store, self.dim, mean, precision)?;
        store.set(self.mean, DMatrix::zeros(1, d))
    }
}
