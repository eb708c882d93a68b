//! The one training loop. Every model in the crate trains through [`Trainer::run`]: the
//! variational fits of [`Svi`](crate::infer::Svi), the VAE, and whatever a user writes.
//!
//! A model gives the engine a [`Loss`]: a scalar to minimise, computed on a tape from a
//! minibatch. The engine owns everything around it — minibatching with N/B scaling,
//! data-parallel shards where the loss is a sum over rows, skipping non-finite steps and the
//! typed divergence error, gradient clipping, learning-rate schedules, Polyak averaging, the
//! convergence rule — and updates the parameters in [`ParamGroup`]s, each with its own
//! optimizer, schedule and update frequency (or frozen). [`Observer`]s see every step and epoch
//! and may stop the run; a run ends with a [`StopReason`]. [`Checkpoint`]s save and restore a
//! store, a trainer and a generator, for any model.
//!
//! ```
//! use elbo::autodiff::{Tape, Var};
//! use elbo::engine::{Batch, Loss, ParamGroup, StopReason, Trainer, TrainerSettings};
//! use elbo::optim::{Adam, LearningRate};
//! use elbo::{ParamId, ParamStore};
//! use nalgebra::DMatrix;
//! use rand::SeedableRng;
//!
//! /// Least squares for a mean: Σ_i ‖x_i − μ‖², a sum over rows.
//! struct Mean(ParamId);
//!
//! impl Loss<f64> for Mean {
//!     fn loss<'t, R: rand::Rng + ?Sized>(
//!         &self,
//!         tape: &'t Tape<'t, f64>,
//!         batch: &Batch<'_, f64>,
//!         _rng: &mut R,
//!     ) -> elbo::Result<Var<'t, f64>> {
//!         let x = tape.constant_placed(batch.x);
//!         Ok((x - tape.param(self.0)).square().sum() * batch.scale)
//!     }
//!     fn row_separable(&self) -> bool {
//!         true
//!     }
//! }
//!
//! # fn main() -> elbo::Result<()> {
//! let data = DMatrix::from_fn(200, 2, |i, j| (i % 7) as f64 + 10.0 * j as f64);
//! let mut store = ParamStore::new();
//! let mu = store.add("mu", DMatrix::zeros(1, 2))?;
//! let settings = TrainerSettings { batch_size: Some(50), ..TrainerSettings::default() };
//! let group = ParamGroup::new("all", [mu], Adam::default())
//!     .with_learning_rate(LearningRate::Exponential { start: 0.5, end: 1e-3, steps: 2000 });
//! let mut trainer = Trainer::new(settings, vec![group])?;
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
//! let report = trainer.run(&Mean(mu), &mut store, &data, &mut rng, 3000, &mut [])?;
//! assert_eq!(report.stop, StopReason::StepBudget);
//! let column_means = data.row_mean();
//! assert!((store.get(mu) - column_means).abs().max() < 0.05);
//! # Ok(())
//! # }
//! ```

mod average;
mod checkpoint;
mod convergence;
mod group;
mod loss;
mod observer;
mod shard;
mod sharding;
mod trainer;
mod training_data;

pub use checkpoint::Checkpoint;
pub use convergence::Trend;
pub use group::ParamGroup;
pub use loss::{Batch, Loss};
pub use observer::{Control, EpochEvent, Observer, StepEvent};
pub use trainer::{RunReport, StopReason, Trainer, TrainerSettings};
pub use training_data::TrainingData;
