//! Evaluating a [`Vae`]'s bounds (the ELBO, the IWAE, any [`Objective`]) on data of any size,
//! in chunks that bound each tape's memory.

use super::Vae;
use crate::backend::Placed;
use crate::error::{Error, Result};
use crate::infer::{Estimator, Objective, chunked};
use crate::memory::{EVALUATION_BUDGET, ensure_available, entries};
use crate::model::{Decoder, Prior};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// The shape of one evaluation tape's chunk of `columns`-wide data with `particles` draws per
/// row, as (rows, particles): as many rows as the budget allows with all their particles, or,
/// where one row's particles alone pass it (an IWAE with K = 1000 on 784 pixels), one row with
/// as many of its particles as fit.
fn chunk_shape(particles: usize, columns: usize) -> (usize, usize) {
    let per_row = particles.max(1).saturating_mul(columns.max(1));
    if per_row <= EVALUATION_BUDGET {
        (chunked::per_tape(per_row), particles)
    } else {
        (1, chunked::per_tape(columns))
    }
}

/// One tape's share of an evaluation: rows `start .. start + rows`, `particles` of each row's
/// draws.
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    rows: usize,
    particles: usize,
}

/// A row's bound from the bounds of its particle chunks (`(K_c, bound_c)`, K particles in all):
/// the ELBO's estimates are means over particles, so the chunks' are averaged with weights
/// K_c / K; the IWAE's are log-mean-exps, so log Σ_c exp(bound_c + ln K_c) − ln K.
fn combine_particle_chunks(estimator: Estimator, parts: &[(usize, f64)]) -> f64 {
    let k: usize = parts.iter().map(|&(kc, _)| kc).sum();
    let k = k as f64;
    if estimator == Estimator::Iwae {
        let logs: Vec<f64> = parts.iter().map(|&(kc, b)| b + (kc as f64).ln()).collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return top;
        }
        top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln() - k.ln()
    } else {
        parts.iter().map(|&(kc, b)| kc as f64 * b).sum::<f64>() / k
    }
}

impl<T: Real, P: Prior<T>, D: Decoder<T>> Vae<T, P, D> {
    /// The mean per row of `data` of any bound (`objective`), evaluated in chunks of rows (or,
    /// where one row's particles pass the budget, of one row's particles) that keep each tape
    /// within [`EVALUATION_BUDGET`] entries, so memory stays bounded.
    ///
    /// The chunks run in parallel on rayon's threads, each on an evaluation tape with its own
    /// generator seeded from `rng`. The chunks, their seeds and the order in which their sums
    /// are added depend only on the data's size, never on the thread count: the result is the
    /// same to the bit on any number of threads.
    ///
    /// # Errors
    /// As [`Svi::validate_data`] and [`Objective::validate`]; [`Error::TooLarge`] if even one
    /// row's particles do not fit in memory.
    ///
    /// [`Svi::validate_data`]: crate::infer::Svi::validate_data
    pub fn bound<R: Rng + ?Sized>(
        &self,
        data: &DMatrix<T>,
        objective: Objective,
        rng: &mut R,
    ) -> Result<f64> {
        objective.validate()?;
        self.svi.validate_data(data)?;
        self.check_evaluation_size(objective.particles, data.ncols())?;
        let log_jacobian = self.log_jacobian(data.ncols());
        let data = &*self.standardize(data);
        let (rows_per_chunk, particles_per_chunk) = chunk_shape(objective.particles, data.ncols());
        // Row by row, each row's particle chunks in turn: the order the seeds are drawn in.
        let chunks: Vec<Chunk> = chunked::spans(data.nrows(), rows_per_chunk)
            .flat_map(|(start, rows)| {
                chunked::spans(objective.particles, particles_per_chunk).map(
                    move |(_, particles)| Chunk {
                        start,
                        rows,
                        particles,
                    },
                )
            })
            .collect();
        // The networks and their parameters, not the trainer (whose optimizer is not Sync).
        let (svi, params, device) = (&self.svi, &self.params, self.training.device);
        let sums = chunked::run_seeded(&chunks, rng, |chunk, rng| {
            // Validated above as a whole; the result is the sum over the chunk's rows.
            let rows = Placed::from(data.rows(chunk.start, chunk.rows).into_owned());
            let objective = Objective {
                particles: chunk.particles,
                ..objective
            };
            svi.evaluate_batch(params, &rows, &objective, rng, device)
        })?;
        let total: f64 = if particles_per_chunk >= objective.particles {
            sums.iter().sum()
        } else {
            // One row per chunk: each row's particle chunks are consecutive.
            let per_row = objective.particles.div_ceil(particles_per_chunk);
            chunks
                .chunks(per_row)
                .zip(sums.chunks(per_row))
                .map(|(parts, bounds)| {
                    let parts: Vec<(usize, f64)> = parts
                        .iter()
                        .map(|c| c.particles)
                        .zip(bounds.iter().copied())
                        .collect();
                    combine_particle_chunks(objective.estimator, &parts)
                })
                .sum()
        };
        Ok(total / data.nrows() as f64 - log_jacobian)
    }

    /// Checks that a bound with `particles` draws per row of `columns`-wide data fits in memory
    /// (what [`Vae::bound`] checks first), so that a program can refuse an evaluation it could
    /// not finish before it spends time training.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the tapes of rayon's threads, each for at least one row with all
    /// its particles, would not fit.
    pub fn check_evaluation_size(&self, particles: usize, columns: usize) -> Result<()> {
        // A tape holds a few matrices of particles x (data + latent) entries per row, and every
        // thread holds one. All of a row's particles are counted, though a row whose particles
        // pass the budget is evaluated in chunks of them: a K whose single row would not fit in
        // memory at once is refused, not left to run for days in chunks.
        let latent = Prior::<T>::dim(&self.svi.prior);
        ensure_available::<T>(
            "an evaluation",
            format!("{particles} particles per row"),
            entries(&[
                chunk_shape(particles, columns).0,
                particles,
                columns.max(1) + latent,
                8,
                rayon::current_num_threads(),
            ]),
        )
    }

    /// Mean ELBO per row of `data` in nats (one draw per row; the KL analytic for a Gaussian
    /// prior).
    ///
    /// # Errors
    /// As [`Svi::validate_data`](crate::infer::Svi::validate_data).
    pub fn elbo<R: Rng + ?Sized>(&self, data: &DMatrix<T>, rng: &mut R) -> Result<f64> {
        self.bound(data, Objective::new(self.elbo_form, 1), rng)
    }

    /// Mean importance-weighted bound per row with `k` samples (Burda et al. 2016): an estimate
    /// of the log-likelihood from below that tightens as `k` grows. Computed in chunks of rows,
    /// so memory stays bounded for any `k` that fits one row.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `k` is 0; as [`Vae::bound`].
    pub fn iwae<R: Rng + ?Sized>(&self, data: &DMatrix<T>, k: usize, rng: &mut R) -> Result<f64> {
        if k == 0 {
            return Err(Error::invalid("IWAE samples", 0, "at least 1"));
        }
        self.bound(data, Objective::new(Estimator::Iwae, k), rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounds of a row's particle chunks, each from its own log weights, combine to the
    /// bound over all of them.
    #[test]
    fn particle_chunks_combine_to_the_bound_over_all_particles() {
        let log_w = [-3.0, -1.5, -2.2, -0.4, -5.0];
        let log_mean_exp = |w: &[f64]| {
            let top = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            top + (w.iter().map(|v| (v - top).exp()).sum::<f64>() / w.len() as f64).ln()
        };
        let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
        let (first, rest) = log_w.split_at(2);
        let iwae = [(2, log_mean_exp(first)), (3, log_mean_exp(rest))];
        let combined = combine_particle_chunks(Estimator::Iwae, &iwae);
        assert!((combined - log_mean_exp(&log_w)).abs() < 1e-12);
        let elbo = [(2, mean(first)), (3, mean(rest))];
        let combined = combine_particle_chunks(Estimator::Elbo, &elbo);
        assert!((combined - mean(&log_w)).abs() < 1e-12);
    }
}
