//! The scale sweep: conjugate models fitted with the crate's defaults on data of every scale,
#![allow(dead_code)]
//! offset, feature spread, dimension, size and noise level, each against its exact posterior.
//! Shared by `tests/all/sweep.rs` (a few cells) and `examples/sweep.rs` (the whole table).

use elbo::conjugate::{Accuracy, GaussianMean, GaussianPosterior, LinearRegression};
use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::infer::{Svi, SviConfig};
use elbo::model::{GaussianGuide, Likelihood};
use elbo::optim::Adam;
use elbo::prior::StandardNormal;
use elbo::{ParamStore, Real};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::time::Instant;

/// Which conjugate model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// z ~ N(0, I), x_i ~ N(z, s² I).
    Mean,
    /// w ~ N(0, I), y = X w + e, e ~ N(0, s²), with feature sds from 1e-3 to 1e3 in one design.
    Linreg,
}

/// One cell of the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// The model.
    pub model: Model,
    /// Mean-field (true) or full-rank guide.
    pub diag: bool,
    /// Latent dimension.
    pub dim: usize,
    /// Data rows.
    pub rows: usize,
    /// Noise sd before the data are scaled.
    pub noise_sd: f64,
    /// The data's unit: every value ×scale (and so the noise sd; the mean model's latent too,
    /// while regression weights, ratios of units, stay as they are).
    pub scale: f64,
    /// How far the truth sits from zero, in (approximate) posterior sds.
    pub offset_sds: f64,
}

/// What a cell's fit reached.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The ELBO's shortfall from the family's best, in nats (`Comparison::excess_kl`).
    pub kl: f64,
    /// Largest mean error in posterior sds.
    pub mean_err_sd: f64,
    /// Largest relative sd error.
    pub sd_rel_err: f64,
    /// Steps taken.
    pub steps: usize,
    /// Whether the fit converged before its step budget.
    pub converged: bool,
    /// Seconds for the Laplace start and the fit.
    pub seconds: f64,
    /// What the fit missed of the default accuracy (empty: a pass).
    pub misses: Vec<String>,
}

/// Every cell of the table: scales {1e-3, 1, 1e3}, truths 0 or 1e3 posterior sds from
/// zero, dimensions {1, 10, 50}, rows {5, 100, 10000}, noise sds {0.01, 1, 100}, both models
/// and both families.
pub fn grid() -> Vec<Cell> {
    let mut cells = Vec::new();
    for model in [Model::Mean, Model::Linreg] {
        for diag in [false, true] {
            for dim in [1, 10, 50] {
                for rows in [5, 100, 10_000] {
                    for noise_sd in [0.01, 1.0, 100.0] {
                        for scale in [1e-3, 1.0, 1e3] {
                            for offset_sds in [0.0, 1e3] {
                                cells.push(Cell {
                                    model,
                                    diag,
                                    dim,
                                    rows,
                                    noise_sd,
                                    scale,
                                    offset_sds,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    cells
}

/// Standard normal draws.
fn normals(rows: usize, cols: usize, rng: &mut Pcg64) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| f64::standard_normal(rng))
}

/// A truth `unit · N(0, 1) ± offset_sds · sd_j` for latent sds `sd`.
fn truth(cell: &Cell, unit: f64, sd: &DVector<f64>, rng: &mut Pcg64) -> DVector<f64> {
    let g = normals(sd.len(), 1, rng);
    DVector::from_fn(sd.len(), |j, _| {
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        unit * g[j] + sign * cell.offset_sds * sd[j]
    })
}

/// The cell's data and the noise sd the model is told.
pub fn data(cell: &Cell, seed: u64) -> (DMatrix<f64>, f64) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (n, d) = (cell.rows, cell.dim);
    let s = cell.noise_sd * cell.scale;
    match cell.model {
        Model::Mean => {
            let post_sd = DVector::from_element(d, 1.0 / (1.0 + n as f64 / (s * s)).sqrt());
            let z = truth(cell, cell.scale, &post_sd, &mut rng);
            let noise = normals(n, d, &mut rng);
            (DMatrix::from_fn(n, d, |i, j| z[j] + s * noise[(i, j)]), s)
        }
        Model::Linreg => {
            // Feature sds 1e-3 … 1e3 (in the data's unit), log-spaced, each feature with a
            // mean of one sd.
            let feature_sd = DVector::from_fn(d, |j, _| {
                let spread = if d == 1 {
                    1.0
                } else {
                    10f64.powf(-3.0 + 6.0 * j as f64 / (d - 1) as f64)
                };
                cell.scale * spread
            });
            let post_sd = feature_sd.map(|f| 1.0 / (1.0 + 2.0 * n as f64 * f * f / (s * s)).sqrt());
            let w = truth(cell, 1.0, &post_sd, &mut rng);
            let x = normals(n, d, &mut rng);
            let noise = normals(n, 1, &mut rng);
            let mut data = DMatrix::zeros(n, d + 1);
            for i in 0..n {
                let mut y = s * noise[i];
                for j in 0..d {
                    data[(i, j)] = feature_sd[j] * (1.0 + x[(i, j)]);
                    y += data[(i, j)] * w[j];
                }
                data[(i, d)] = y;
            }
            (data, s)
        }
    }
}

/// Fits the cell with the crate's defaults — the Laplace start, [`SviConfig::default`] and
/// [`Adam::default`] — and compares the fit with the exact posterior.
pub fn run(cell: &Cell, seed: u64) -> elbo::Result<Outcome> {
    let (data, s) = data(cell, seed);
    let d = cell.dim;
    match cell.model {
        Model::Mean => {
            let model = GaussianMean::new(s)?;
            fit(
                cell,
                model.posterior(&data)?,
                model.likelihood::<f64>(d)?,
                &data,
                seed,
            )
        }
        Model::Linreg => {
            let model = LinearRegression::new(s)?;
            fit(
                cell,
                model.posterior(&data)?,
                model.likelihood::<f64>()?,
                &data,
                seed,
            )
        }
    }
}

fn fit<L: Likelihood<f64>>(
    cell: &Cell,
    exact: GaussianPosterior,
    likelihood: L,
    data: &DMatrix<f64>,
    seed: u64,
) -> elbo::Result<Outcome> {
    let prior = StandardNormal::new(cell.dim)?;
    let mut store = ParamStore::new();
    if cell.diag {
        let guide = DiagGaussianGuide::new(&mut store, "q", cell.dim, 1.0)?;
        measure(
            cell,
            &exact,
            Svi::new(prior, likelihood, guide),
            store,
            data,
            seed,
        )
    } else {
        let guide = FullRankGaussianGuide::new(&mut store, "q", cell.dim, 1.0)?;
        measure(
            cell,
            &exact,
            Svi::new(prior, likelihood, guide),
            store,
            data,
            seed,
        )
    }
}

fn measure<L: Likelihood<f64>, G: GaussianGuide<f64>>(
    cell: &Cell,
    exact: &GaussianPosterior,
    svi: Svi<StandardNormal, L, G>,
    mut store: ParamStore<f64>,
    data: &DMatrix<f64>,
    seed: u64,
) -> elbo::Result<Outcome> {
    let start = Instant::now();
    svi.start_at_laplace(&mut store, data)?;
    let report = svi.fit(
        &mut store,
        data,
        &mut Adam::default(),
        &SviConfig::default(),
        &mut Pcg64::seed_from_u64(seed.wrapping_add(1)),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let cmp = exact.compare(
        &svi.guide.mean(&store),
        &svi.guide.covariance(&store),
        cell.diag,
    )?;
    Ok(Outcome {
        kl: cmp.excess_kl,
        mean_err_sd: cmp.mean_err_sd,
        sd_rel_err: cmp.sd_rel_err,
        steps: report.steps,
        converged: report.converged,
        seconds,
        misses: cmp.misses(&Accuracy::default()),
    })
}
