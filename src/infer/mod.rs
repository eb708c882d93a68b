//! Estimators of the bound, the fitting loop, Laplace approximations and Pareto-smoothed
//! importance sampling.

pub(crate) mod chunked;
mod estimator;
mod laplace;
mod psis;
mod svi;

pub use estimator::{Estimator, GradientEstimator, Objective};
pub use laplace::{Laplace, NEWTON_TOLERANCE};
pub use psis::Psis;
pub use svi::{DEFAULT_PARAMETER_TOLERANCE, DEFAULT_TOLERANCE, FitReport, Svi, SviConfig, SviLoss};
