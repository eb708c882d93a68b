//! Linear-Gaussian latent models in closed form: principal component analysis, probabilistic
//! PCA (Tipping & Bishop 1999) and factor analysis. They are the exact answers that amortized
//! SGVB must reach on a linear VAE (Lucas et al. 2019). Everything here is in f64.

mod factor_analysis;
mod pca;
mod ppca;
mod subspace;

pub use factor_analysis::{FactorAnalysis, FactorAnalysisFit};
pub use pca::Pca;
pub use ppca::Ppca;
pub use subspace::largest_principal_angle;

use crate::error::{Error, Result};
use crate::validate::check_finite;
use nalgebra::{DMatrix, DVector};

/// Column means and the covariance with divisor n (the maximum-likelihood estimate).
pub(crate) fn mean_and_covariance(x: &DMatrix<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let n = x.nrows() as f64;
    let mean = DVector::from_fn(x.ncols(), |j, _| x.column(j).sum() / n);
    let centered = centered(x, &mean);
    (mean, centered.transpose() * &centered / n)
}

/// `x` with `mean` subtracted from every row.
fn centered(x: &DMatrix<f64>, mean: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[j])
}

/// Checks data and a latent dimension for a model with `q` components of `x`'s columns.
fn validate(x: &DMatrix<f64>, q: usize, strictly_fewer: bool) -> Result<()> {
    if x.nrows() < 2 || x.ncols() == 0 {
        return Err(Error::EmptyData {
            what: "data (at least two rows and one column)",
        });
    }
    check_finite("data", x)?;
    let d = x.ncols();
    if q == 0 || q > d || (strictly_fewer && q == d) {
        return Err(Error::invalid(
            "latent dimension",
            q,
            if strictly_fewer {
                "between 1 and the data dimension minus 1"
            } else {
                "between 1 and the data dimension"
            },
        ));
    }
    Ok(())
}

/// Eigenvalues in decreasing order with their unit eigenvectors as columns, each vector's
/// largest-magnitude entry made positive so that results do not depend on the solver's signs.
pub(crate) fn sorted_eigen(symmetric: DMatrix<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let eig = symmetric.symmetric_eigen();
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let values = DVector::from_iterator(order.len(), order.iter().map(|&k| eig.eigenvalues[k]));
    let mut vectors = DMatrix::from_fn(eig.eigenvectors.nrows(), order.len(), |i, j| {
        eig.eigenvectors[(i, order[j])]
    });
    for mut column in vectors.column_iter_mut() {
        let pivot = column
            .iter()
            .copied()
            .fold(0.0f64, |a, v| if v.abs() > a.abs() { v } else { a });
        if pivot < 0.0 {
            column.neg_mut();
        }
    }
    (values, vectors)
}

/// Mean log density of the rows of `x` under N(mean, covariance), by Cholesky.
fn mean_log_density(
    x: &DMatrix<f64>,
    mean: &DVector<f64>,
    covariance: &DMatrix<f64>,
) -> Result<f64> {
    let chol = covariance
        .clone()
        .cholesky()
        .ok_or(Error::NotPositiveDefinite {
            what: "model covariance",
        })?;
    let half_log_det: f64 = chol.l().diagonal().iter().map(|v| v.ln()).sum();
    let whitened = chol
        .l()
        .solve_lower_triangular(&centered(x, mean).transpose())
        .expect("positive diagonal");
    let d = x.ncols() as f64;
    let quad = whitened.norm_squared() / x.nrows() as f64;
    Ok(-0.5 * quad - half_log_det - d * crate::dist::LN_SQRT_2PI)
}
