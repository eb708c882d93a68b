//! An optimizer written with the public API alone — Adagrad — fits a conjugate model to its
//! exact posterior, keeps its state keyed by parameter id, survives a checkpoint, and refuses
//! gradients of another store.

use super::common;

use elbo::autodiff::{Gradients, Tape};
use elbo::conjugate::GaussianMean;
use elbo::engine::{Checkpoint, ParamGroup, Trainer, TrainerSettings};
use elbo::guide::DiagGaussianGuide;
use elbo::infer::{Objective, Svi, SviConfig};
use elbo::model::GaussianGuide;
use elbo::optim::{LearningRate, Optimizer, OptimizerState};
use elbo::{Error, ParamId, ParamStore};
use nalgebra::DMatrix;
use std::collections::BTreeMap;

/// Adagrad (Duchi et al. 2011): G ← G + g², θ ← θ − lr · g / (√G + ε).
#[derive(Default)]
struct Adagrad {
    squares: BTreeMap<ParamId, DMatrix<f64>>,
}

impl Optimizer<f64> for Adagrad {
    fn step(
        &mut self,
        params: &mut ParamStore<f64>,
        grads: &Gradients<f64>,
        lr: f64,
    ) -> elbo::Result<()> {
        grads.check_store(params)?;
        for (id, g) in grads.iter() {
            let squares = self
                .squares
                .entry(id)
                .or_insert_with(|| DMatrix::zeros(g.nrows(), g.ncols()));
            let value = params.get_mut(id);
            for ((p, s), &g) in value.iter_mut().zip(squares.iter_mut()).zip(g.iter()) {
                *s += g * g;
                *p -= lr * g / (s.sqrt() + 1e-10);
            }
        }
        Ok(())
    }

    fn state(&self) -> OptimizerState<f64> {
        OptimizerState {
            counters: Vec::new(),
            slots: self
                .squares
                .iter()
                .map(|(&id, s)| (id, "squares".to_string(), s.clone()))
                .collect(),
        }
    }

    fn restore(&mut self, state: OptimizerState<f64>) -> elbo::Result<()> {
        self.squares = state.slots.into_iter().map(|(id, _, s)| (id, s)).collect();
        Ok(())
    }
}

#[test]
fn adagrad_from_the_public_api_fits_the_exact_posterior_mean() {
    let mut rng = common::rng(3);
    let model = GaussianMean::new(2.0).unwrap();
    let (_, data) = model.simulate(4, 60, &mut rng).unwrap();
    let mut store = ParamStore::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 4, 0.1).unwrap();
    let svi = Svi::new(model.prior(4).unwrap(), model.likelihood(4).unwrap(), guide);
    // The whole budget, from q's own start: the test is of the optimizer, not of the start
    // or the convergence rule.
    let config = SviConfig {
        steps: 4000,
        learning_rate: LearningRate::Constant(0.5),
        trainer: TrainerSettings {
            tolerance: None,
            ..SviConfig::default().trainer
        },
        ..SviConfig::default()
    };
    svi.fit(
        &mut store,
        &data,
        &mut Adagrad::default(),
        &config,
        &mut rng,
    )
    .unwrap();
    let exact = model.posterior(&data).unwrap();
    let mean = svi.guide.mean(&store);
    let sd = svi.guide.covariance(&store).diagonal().map(f64::sqrt);
    for j in 0..4 {
        // The path-derivative gradient vanishes at the exact posterior: the fit settles there.
        assert!(
            (mean[j] - exact.mean[j]).abs() < 1e-3 * exact.sd()[j],
            "mean {mean} vs {}",
            exact.mean
        );
        assert!((sd[j] / exact.sd()[j] - 1.0).abs() < 1e-3, "sd {sd}");
    }
}

#[test]
fn a_custom_optimizers_state_is_checkpointed_by_parameter_name() {
    let data = common::normal_matrix(40, 3, 5);
    let model = GaussianMean::new(1.0).unwrap();
    let build = |store: &mut ParamStore<f64>| {
        let guide = DiagGaussianGuide::new(store, "q", 3, 0.1).unwrap();
        let svi = Svi::new(model.prior(3).unwrap(), model.likelihood(3).unwrap(), guide);
        let group = ParamGroup::all("q", store, Adagrad::default())
            .with_learning_rate(LearningRate::Constant(0.1));
        (
            svi,
            Trainer::new(TrainerSettings::default(), vec![group]).unwrap(),
        )
    };
    let mut store = ParamStore::new();
    let (svi, mut trainer) = build(&mut store);
    let mut rng = common::rng(6);
    let loss = svi.loss(Objective::default());
    trainer
        .run(&loss, &mut store, &data, &mut rng, 50, &mut [])
        .unwrap();
    let path = std::env::temp_dir().join(format!("elbo-adagrad-{}.json", std::process::id()));
    trainer.save(&path, &store, &rng, &()).unwrap();
    trainer
        .run(&loss, &mut store, &data, &mut rng, 50, &mut [])
        .unwrap();

    let mut fresh = ParamStore::new();
    let (svi2, mut trainer2) = build(&mut fresh);
    let mut rng2 = common::rng(0);
    Checkpoint::read(&path)
        .unwrap()
        .restore(&mut fresh, &mut trainer2, &mut rng2)
        .unwrap();
    let loss2 = svi2.loss(Objective::default());
    trainer2
        .run(&loss2, &mut fresh, &data, &mut rng2, 50, &mut [])
        .unwrap();
    for (a, b) in store.ids().zip(fresh.ids()) {
        assert_eq!(store.get(a), fresh.get(b), "{}", store.name(a));
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn gradients_of_another_store_are_refused_not_applied() {
    let mut mine = ParamStore::<f64>::new();
    let w = mine.add("w", DMatrix::from_element(1, 2, 1.0)).unwrap();
    let mut other = ParamStore::<f64>::new();
    let v = other.add("w", DMatrix::from_element(1, 2, 1.0)).unwrap();
    let grads = {
        let tape = Tape::with_params(&other);
        let loss = tape.param(v).square().sum();
        tape.backward(loss)
    };
    for optimizer in [
        &mut Adagrad::default() as &mut dyn Optimizer<f64>,
        &mut elbo::optim::Adam::default(),
        &mut elbo::optim::Sgd::new(0.5).unwrap(),
    ] {
        assert!(matches!(
            optimizer.step(&mut mine, &grads, 0.1),
            Err(Error::ForeignGradients)
        ));
    }
    assert_eq!(mine.get(w).as_slice(), &[1.0, 1.0]);
    // Looking up a foreign id is a programming error, caught in release builds too.
    let lookup = std::panic::catch_unwind(|| grads.param(w).is_some());
    assert!(lookup.is_err());
}
