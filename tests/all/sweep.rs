//! The scale sweep's hardest corners, with the crate's defaults: every fit must reach its exact
//! posterior (KL ≤ 0.01 nats to the family's target, means within 0.05 posterior sds, sds within
//! 5%) and say it converged. `cargo run --release --example sweep` runs the whole table.

use super::common::sweep::{self, Cell, Model};

fn check(cells: &[Cell]) {
    for cell in cells {
        for diag in [false, true] {
            let cell = Cell { diag, ..*cell };
            let outcome = sweep::run(&cell, 11).unwrap();
            assert!(
                outcome.converged && outcome.misses.is_empty(),
                "{cell:?}: converged {}, {} steps, misses {:?}",
                outcome.converged,
                outcome.steps,
                outcome.misses
            );
        }
    }
}

fn cell(model: Model, dim: usize, rows: usize, noise_sd: f64, scale: f64, offset_sds: f64) -> Cell {
    Cell {
        model,
        diag: false,
        dim,
        rows,
        noise_sd,
        scale,
        offset_sds,
    }
}

#[test]
fn the_mean_model_reaches_its_posterior_at_every_scale_and_offset() {
    check(&[
        cell(Model::Mean, 50, 5, 100.0, 1e-3, 1e3),
        cell(Model::Mean, 10, 10_000, 0.01, 1e3, 1e3),
        cell(Model::Mean, 1, 100, 1.0, 1e3, 0.0),
        cell(Model::Mean, 50, 100, 0.01, 1e-3, 0.0),
    ]);
}

#[test]
fn linear_regression_reaches_its_posterior_with_features_from_1e_minus_3_to_1e3() {
    check(&[
        cell(Model::Linreg, 10, 10_000, 0.01, 1e3, 1e3),
        cell(Model::Linreg, 50, 5, 1.0, 1e-3, 0.0),
        cell(Model::Linreg, 50, 100, 1.0, 1.0, 1e3),
        cell(Model::Linreg, 1, 100, 0.01, 1e-3, 1e3),
    ]);
}
