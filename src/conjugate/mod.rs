//! Conjugate Gaussian models whose posterior and evidence are known exactly: the reference
//! answers that prove a fit right.

mod gaussian_mean;
mod linear_regression;
mod posterior;

pub use gaussian_mean::GaussianMean;
pub use linear_regression::LinearRegression;
pub use posterior::{Accuracy, Comparison, GaussianPosterior};
