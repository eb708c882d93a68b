//! Estimators of the bound and the fitting loop.

mod estimator;
mod laplace;
mod svi;

pub use estimator::{Estimator, GradientEstimator, Objective};
pub use laplace::{Laplace, NEWTON_TOLERANCE};
pub use svi::{DEFAULT_PARAMETER_TOLERANCE, DEFAULT_TOLERANCE, FitReport, Svi, SviConfig, SviLoss};
