//! The LSTM cell against its formula and by finite differences; the sequence autoencoder on
//! noisy sine waves.

use super::common;

use elbo::ParamStore;
use elbo::autodiff::{GradCheck, Tape, check_param_gradients};
use elbo::autoencoder::{AutoencoderLoss, Codec, Objective, SequenceAutoencoder};
use elbo::data::NoisySines;
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::nn::{Activation, Lstm};
use elbo::optim::{Adam, LearningRate};
use nalgebra::DMatrix;

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

#[test]
fn an_lstm_step_follows_its_formula() {
    let mut store = ParamStore::new();
    let lstm = Lstm::new(&mut store, "cell", 2, 3, &mut common::rng(1)).unwrap();
    let x = common::normal_matrix(1, 2, 2);
    let (h0, c0) = (
        common::normal_matrix(1, 3, 3),
        common::normal_matrix(1, 3, 4),
    );
    let tape = Tape::for_evaluation(&store);
    let (h, c) = lstm.step(
        tape.constant(x.clone()),
        (tape.constant(h0.clone()), tape.constant(c0.clone())),
    );
    let w = store.get(store.id("cell.weight").unwrap());
    let b = store.get(store.id("cell.bias").unwrap());
    let input = DMatrix::from_row_slice(1, 5, &[x[0], x[1], h0[0], h0[1], h0[2]]);
    let gates = input * w + b;
    for k in 0..3 {
        let (i, f) = (sigmoid(gates[k]), sigmoid(gates[3 + k]));
        let (g, o) = (gates[6 + k].tanh(), sigmoid(gates[9 + k]));
        let cell = f * c0[k] + i * g;
        assert!((c.value()[k] - cell).abs() < 1e-12);
        assert!((h.value()[k] - o * cell.tanh()).abs() < 1e-12);
    }
}

#[test]
fn lstm_gradients_through_several_steps_match_finite_differences() {
    let mut store = ParamStore::new();
    let lstm = Lstm::new(&mut store, "cell", 3, 4, &mut common::rng(5)).unwrap();
    let xs = common::normal_matrix(2, 9, 6);
    let weights = common::normal_matrix(2, 4, 7);
    let report = check_param_gradients(&store, GradCheck::default(), |tape| {
        let x = tape.constant(xs.clone());
        let mut state = lstm.zero_state(x, 2);
        for t in 0..3 {
            state = lstm.step(x.columns(3 * t, 3), state);
        }
        (state.0 * tape.constant(weights.clone())).sum()
    });
    assert!(report.passed(1e-6), "{report:?}");
}

#[test]
fn a_sequence_autoencoder_learns_noisy_sine_waves() {
    // 300 waves of 16 steps, random frequency and phase, noise sd 0.05.
    let mut rng = common::rng(8);
    let steps = 16;
    let waves = NoisySines::<f64>::generate(300, steps, 0.05, &mut rng)
        .unwrap()
        .noisy;
    let mut store = ParamStore::new();
    let model = SequenceAutoencoder::new(
        &mut store,
        "seq",
        (steps, 1),
        16,
        4,
        (Activation::Tanh, Activation::Identity),
        &mut rng,
    )
    .unwrap();
    let mse = |store: &ParamStore<f64>| {
        (model.reconstruct(store, &waves) - &waves)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / 300.0
    };
    let before = mse(&store);
    let loss = AutoencoderLoss {
        autoencoder: &model,
        objective: Objective::default(),
        range: (-1.0, 1.0),
    };
    let group = ParamGroup::all("all", &store, Adam::default()).with_learning_rate(
        LearningRate::Exponential {
            start: 0.01,
            end: 1e-3,
            steps: 1500,
        },
    );
    let settings = TrainerSettings {
        batch_size: Some(50),
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, vec![group]).unwrap();
    trainer
        .run(&loss, &mut store, &waves, &mut rng, 1500, &mut [])
        .unwrap();
    let after = mse(&store);
    // A wave's squared norm is about 8 (16 steps of mean square ½).
    println!("squared error per wave {before} -> {after}");
    assert!(after < 0.25 * before, "{before} -> {after}");
}

/// The noise is what was asked for (its sample variance within a Monte Carlo tolerance), the
/// clean waves are sines of unit amplitude, and bad sizes are refused.
#[test]
fn noisy_sines_have_the_noise_asked_for() {
    let mut rng = common::rng(9);
    let (count, steps, sd) = (400, 20, 0.3);
    let waves = NoisySines::<f64>::generate(count, steps, sd, &mut rng).unwrap();
    let n = (count * steps) as f64;
    let variance = (&waves.noisy - &waves.clean)
        .iter()
        .map(|e| e * e)
        .sum::<f64>()
        / n;
    // The sample variance of n normal draws has sd σ²·√(2/n); allow four of them.
    assert!(
        (variance - sd * sd).abs() < 4.0 * sd * sd * (2.0 / n).sqrt(),
        "{variance}"
    );
    assert!(waves.clean.iter().all(|v| v.abs() <= 1.0));
    // Each clean wave satisfies the sine recurrence x_{t+1} + x_{t-1} = 2 cos(ω) x_t with one
    // ω in the stated range.
    for row in waves.clean.row_iter().take(20) {
        let omega = ((row[2] + row[0]) / (2.0 * row[1])).acos();
        if row[1].abs() > 0.1 {
            assert!(NoisySines::<f64>::FREQUENCIES.contains(&omega), "{omega}");
            for t in 1..steps - 1 {
                assert!((row[t + 1] + row[t - 1] - 2.0 * omega.cos() * row[t]).abs() < 1e-9);
            }
        }
    }
    assert!(NoisySines::<f64>::generate(0, 5, 0.1, &mut rng).is_err());
    assert!(NoisySines::<f64>::generate(5, 0, 0.1, &mut rng).is_err());
    assert!(NoisySines::<f64>::generate(5, 5, -0.1, &mut rng).is_err());
    assert!(NoisySines::<f64>::generate(5, 5, f64::NAN, &mut rng).is_err());
}
