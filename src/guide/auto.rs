//! A guide chosen at run time: one type for every global family, so that a command-line flag
//! or a setting can pick the approximation without generic code at the call site.

use super::{
    DiagGaussianGuide, FullRankGaussianGuide, LowRankGaussianGuide, PointMass, PointMassGuide,
};
use crate::autodiff::{Tape, Var};
use crate::dist::{Gaussian, LowRankNormal};
use crate::error::Result;
use crate::model::{GaussianGuide, Guide, VariationalFamily};
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// Which global guide ([`AutoGuide::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuideFamily {
    /// Independent Gaussians ([`DiagGaussianGuide`]).
    Diagonal,
    /// One Gaussian with a full covariance ([`FullRankGaussianGuide`]).
    FullRank,
    /// A covariance of rank r plus a diagonal ([`LowRankGaussianGuide`]).
    LowRank {
        /// r.
        rank: usize,
    },
    /// A point mass: the mode ([`PointMassGuide`]).
    PointMass,
}

/// One of the global guides, picked by a [`GuideFamily`].
#[derive(Clone, Debug)]
pub enum AutoGuide {
    /// See [`GuideFamily::Diagonal`].
    Diagonal(DiagGaussianGuide),
    /// See [`GuideFamily::FullRank`].
    FullRank(FullRankGaussianGuide),
    /// See [`GuideFamily::LowRank`].
    LowRank(LowRankGaussianGuide),
    /// See [`GuideFamily::PointMass`].
    PointMass(PointMassGuide),
}

impl AutoGuide {
    /// Registers the chosen guide's parameters as `{name}.*` in `store` (mean 0, sd `init_sd`).
    ///
    /// # Errors
    /// As the chosen guide's `new`.
    pub fn new<T: Real>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        family: GuideFamily,
        init_sd: T,
    ) -> Result<Self> {
        Ok(match family {
            GuideFamily::Diagonal => {
                AutoGuide::Diagonal(DiagGaussianGuide::new(store, name, dim, init_sd)?)
            }
            GuideFamily::FullRank => {
                AutoGuide::FullRank(FullRankGaussianGuide::new(store, name, dim, init_sd)?)
            }
            GuideFamily::LowRank { rank } => {
                AutoGuide::LowRank(LowRankGaussianGuide::new(store, name, dim, rank, init_sd)?)
            }
            GuideFamily::PointMass => {
                AutoGuide::PointMass(PointMassGuide::new(store, name, dim, init_sd)?)
            }
        })
    }

    /// The family it was made for.
    pub fn kind(&self) -> GuideFamily {
        match self {
            AutoGuide::Diagonal(_) => GuideFamily::Diagonal,
            AutoGuide::FullRank(_) => GuideFamily::FullRank,
            AutoGuide::LowRank(g) => GuideFamily::LowRank { rank: g.rank() },
            AutoGuide::PointMass(_) => GuideFamily::PointMass,
        }
    }
}

/// `$body` with `$g` bound to whichever guide is inside.
macro_rules! each_guide {
    ($self:expr, $g:ident => $body:expr) => {
        match $self {
            AutoGuide::Diagonal($g) => $body,
            AutoGuide::FullRank($g) => $body,
            AutoGuide::LowRank($g) => $body,
            AutoGuide::PointMass($g) => $body,
        }
    };
}

/// The family an [`AutoGuide`] produces on a tape.
#[derive(Clone, Copy, Debug)]
pub enum AutoFamily<'t, T: Real> {
    /// A diagonal or full-rank Gaussian.
    Gaussian(Gaussian<'t, T>),
    /// A low-rank-plus-diagonal Gaussian.
    LowRank(LowRankNormal<'t, T>),
    /// A point mass.
    PointMass(PointMass<'t, T>),
}

/// `$body` with `$f` bound to whichever family is inside.
macro_rules! each_family {
    ($self:expr, $f:ident => $body:expr) => {
        match $self {
            AutoFamily::Gaussian($f) => $body,
            AutoFamily::LowRank($f) => $body,
            AutoFamily::PointMass($f) => $body,
        }
    };
}

impl<'t, T: Real> VariationalFamily<'t, T> for AutoFamily<'t, T> {
    fn rows(&self) -> usize {
        each_family!(self, f => VariationalFamily::rows(f))
    }
    fn dim(&self) -> usize {
        each_family!(self, f => VariationalFamily::dim(f))
    }
    fn rsample<G: Rng + ?Sized>(&self, particles: usize, rng: &mut G) -> Var<'t, T> {
        each_family!(self, f => VariationalFamily::rsample(f, particles, rng))
    }
    fn log_prob(&self, z: Var<'t, T>) -> Var<'t, T> {
        each_family!(self, f => VariationalFamily::log_prob(f, z))
    }
    fn stop_gradient(&self) -> Self {
        match self {
            AutoFamily::Gaussian(f) => AutoFamily::Gaussian(f.stop_gradient()),
            AutoFamily::LowRank(f) => AutoFamily::LowRank(f.stop_gradient()),
            AutoFamily::PointMass(f) => AutoFamily::PointMass(VariationalFamily::stop_gradient(f)),
        }
    }
    fn as_gaussian(&self) -> Option<Gaussian<'t, T>> {
        match self {
            AutoFamily::Gaussian(g) => Some(*g),
            _ => None,
        }
    }
    fn entropy(&self) -> Option<Var<'t, T>> {
        each_family!(self, f => VariationalFamily::entropy(f))
    }
}

impl<T: Real> Guide<T> for AutoGuide {
    type Family<'t>
        = AutoFamily<'t, T>
    where
        T: 't;

    fn dim(&self) -> usize {
        each_guide!(self, g => Guide::<T>::dim(g))
    }

    fn family<'t>(&self, tape: &'t Tape<'t, T>, x: Var<'t, T>) -> AutoFamily<'t, T> {
        match self {
            AutoGuide::Diagonal(g) => AutoFamily::Gaussian(g.family(tape, x)),
            AutoGuide::FullRank(g) => AutoFamily::Gaussian(g.family(tape, x)),
            AutoGuide::LowRank(g) => AutoFamily::LowRank(g.family(tape, x)),
            AutoGuide::PointMass(g) => AutoFamily::PointMass(g.family(tape, x)),
        }
    }
}

impl<T: Real> GaussianGuide<T> for AutoGuide {
    fn mean(&self, store: &ParamStore<T>) -> DVector<T> {
        each_guide!(self, g => GaussianGuide::mean(g, store))
    }
    fn covariance(&self, store: &ParamStore<T>) -> DMatrix<T> {
        each_guide!(self, g => GaussianGuide::covariance(g, store))
    }
    fn start_at(
        &self,
        store: &mut ParamStore<T>,
        mean: &DVector<T>,
        precision: &DMatrix<T>,
    ) -> Result<()> {
        each_guide!(self, g => GaussianGuide::start_at(g, store, mean, precision))
    }
}
