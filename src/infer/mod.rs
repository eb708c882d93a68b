//! Estimators of the bound and the fitting loop.

mod estimator;
mod svi;

pub use estimator::{Estimator, GradientEstimator, Objective};
pub use svi::{FitReport, Svi, SviConfig, SviLoss};
