//! The engine: parameter groups alternate and a frozen group stays put to the bit; observers see
//! every step and epoch and can stop a run; runs end with the right stop reason; divergence is a
//! typed error naming the culprit; groups are checked against the store.

use super::common;

use elbo::autodiff::{Gradients, Tape, Var};
use elbo::engine::{
    Batch, Control, EpochEvent, Loss, Observer, ParamGroup, StepEvent, StopReason, Trainer,
    TrainerSettings,
};
use elbo::optim::{Adam, LearningRate, Optimizer, Sgd};
use elbo::{Error, ParamId, ParamStore};
use nalgebra::DMatrix;
use std::cell::RefCell;
use std::rc::Rc;

/// Σ_i ‖x_i − a ∘ b‖² · N/B: both parameters matter to the loss.
struct Product {
    a: ParamId,
    b: ParamId,
    /// Make the loss NaN for this group's updates.
    poison_group: Option<usize>,
}

impl Loss<f64> for Product {
    fn loss<'t, R: rand::Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, f64>,
        batch: &Batch<'_, f64>,
        _rng: &mut R,
    ) -> elbo::Result<Var<'t, f64>> {
        let x = tape.constant_placed(batch.x);
        let loss = (x - tape.param(self.a) * tape.param(self.b)).square().sum() * batch.scale;
        Ok(if self.poison_group == Some(batch.group) {
            loss * f64::NAN
        } else {
            loss
        })
    }

    fn row_separable(&self) -> bool {
        true
    }
}

/// What a counting optimizer saw.
#[derive(Default)]
struct Calls {
    calls: usize,
    saw: Vec<ParamId>,
}

/// Counts its calls and moves nothing.
struct Counting(Rc<RefCell<Calls>>);

impl Optimizer<f64> for Counting {
    fn step(
        &mut self,
        params: &mut ParamStore<f64>,
        grads: &Gradients<f64>,
        _lr: f64,
    ) -> elbo::Result<()> {
        grads.check_store(params)?;
        let mut me = self.0.borrow_mut();
        me.calls += 1;
        let ids: Vec<_> = grads.iter().map(|(id, _)| id).collect();
        me.saw.extend(ids);
        Ok(())
    }
}

fn setup() -> (ParamStore<f64>, ParamId, ParamId, DMatrix<f64>) {
    let mut store = ParamStore::new();
    let a = store.add("a", DMatrix::from_element(1, 3, 0.5)).unwrap();
    let b = store.add("b", DMatrix::from_element(1, 3, 1.5)).unwrap();
    let data = common::normal_matrix(64, 3, 1).add_scalar(1.0);
    (store, a, b, data)
}

#[test]
fn groups_update_at_their_own_frequency_and_only_their_own_parameters() {
    let (mut store, a, b, data) = setup();
    let counter = Rc::new(RefCell::new(Calls::default()));
    let groups = vec![
        ParamGroup::new("a", [a], Adam::default()).with_learning_rate(LearningRate::Constant(0.01)),
        ParamGroup::new("b", [b], Counting(Rc::clone(&counter))).every(4),
    ];
    let settings = TrainerSettings {
        batch_size: Some(16),
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, groups).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: None,
    };
    let b_before = store.get(b).clone();
    let report = trainer
        .run(&loss, &mut store, &data, &mut common::rng(2), 10, &mut [])
        .unwrap();
    assert_eq!(report.stop, StopReason::StepBudget);
    assert_eq!(report.losses.len(), 10);
    // Steps 0, 4 and 8; each time the gradient held b alone (a loaded as a constant).
    drop(trainer);
    let counter = counter.borrow();
    assert_eq!(counter.calls, 3);
    assert_eq!(counter.saw, vec![b, b, b]);
    assert_eq!(store.get(b), &b_before);
}

#[test]
fn a_frozen_group_keeps_its_values_to_the_bit_while_the_other_trains() {
    let (mut store, a, b, data) = setup();
    let b_before = store.get(b).clone();
    let groups = vec![
        ParamGroup::new("a", [a], Adam::default()).with_learning_rate(LearningRate::Constant(0.05)),
        ParamGroup::new("b", [b], Adam::default()).frozen(true),
    ];
    let mut trainer = Trainer::new(TrainerSettings::default(), groups).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: None,
    };
    let report = trainer
        .run(&loss, &mut store, &data, &mut common::rng(3), 400, &mut [])
        .unwrap();
    assert_eq!(store.get(b), &b_before);
    // a ∘ b reaches the column means: a = mean / b.
    let target = data.row_mean().component_div(&b_before);
    assert!(
        (store.get(a) - target).abs().max() < 1e-3,
        "{}",
        store.get(a)
    );
    assert!(report.losses[0] > *report.losses.last().unwrap());
}

/// Records what it is shown; stops after `stop_after` steps.
struct Recorder {
    steps: Vec<usize>,
    rows: Vec<usize>,
    epochs: Vec<(usize, f64)>,
    stop_after: usize,
}

impl Observer<f64> for Recorder {
    fn on_step(&mut self, event: &StepEvent<'_>) -> Control {
        self.steps.push(event.steps_done);
        self.rows.push(event.rows_in_epoch);
        if event.steps_done >= self.stop_after {
            Control::Stop
        } else {
            Control::Continue
        }
    }
    fn on_epoch(&mut self, event: &EpochEvent<'_, f64>) -> Control {
        self.epochs.push((event.epoch, event.loss));
        Control::Continue
    }
}

#[test]
fn observers_see_every_step_and_epoch_and_can_stop_the_run() {
    let (mut store, a, b, data) = setup();
    let group = ParamGroup::new("a", [a], Sgd::new(0.0).unwrap())
        .with_learning_rate(LearningRate::Constant(1e-9));
    let settings = TrainerSettings {
        batch_size: Some(20), // 64 rows: batches of 20, 20, 20 and 4
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, vec![group]).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: None,
    };
    let mut recorder = Recorder {
        steps: vec![],
        rows: vec![],
        epochs: vec![],
        stop_after: 9,
    };
    let report = trainer
        .run(
            &loss,
            &mut store,
            &data,
            &mut common::rng(4),
            100,
            &mut [&mut recorder],
        )
        .unwrap();
    assert_eq!(report.stop, StopReason::Observer);
    assert_eq!(report.steps, 9);
    assert_eq!(recorder.steps, (1..=9).collect::<Vec<_>>());
    assert_eq!(recorder.rows, vec![20, 40, 60, 64, 20, 40, 60, 64, 20]);
    assert_eq!(recorder.epochs.len(), 2);
    // The epoch's loss per row: Σ_steps loss · B/N over N. With a learning rate of 1e-9 the
    // parameters barely move, so it is the full-data loss per row.
    let per_row = |store: &ParamStore<f64>| {
        let fit = store.get(a).component_mul(store.get(b));
        (0..64)
            .map(|i| (data.row(i) - &fit).norm_squared())
            .sum::<f64>()
            / 64.0
    };
    for (_, loss) in &recorder.epochs {
        assert!((loss - per_row(&store)).abs() < 1e-6 * loss, "{loss}");
    }
    // The next run continues the count.
    trainer
        .run(&loss, &mut store, &data, &mut common::rng(4), 3, &mut [])
        .unwrap();
    assert_eq!(trainer.steps_done(), 12);
}

#[test]
fn the_tolerance_rule_ends_a_settled_run_as_converged() {
    let (mut store, a, b, data) = setup();
    let group =
        ParamGroup::new("a", [a], Adam::default()).with_learning_rate(LearningRate::Constant(0.05));
    let settings = TrainerSettings {
        tolerance: Some(1e-6),
        check_every: 50,
        ..TrainerSettings::default()
    };
    let mut trainer = Trainer::new(settings, vec![group]).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: None,
    };
    let report = trainer
        .run(
            &loss,
            &mut store,
            &data,
            &mut common::rng(5),
            100_000,
            &mut [],
        )
        .unwrap();
    assert_eq!(report.stop, StopReason::Converged);
    assert!(report.steps < 100_000 && report.steps.is_multiple_of(50));
}

#[test]
fn a_group_whose_loss_is_never_finite_diverges_with_a_typed_error() {
    let (mut store, a, b, data) = setup();
    let groups = vec![
        ParamGroup::new("a", [a], Adam::default()),
        ParamGroup::new("b", [b], Adam::default()),
    ];
    let mut trainer = Trainer::new(TrainerSettings::default(), groups).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: Some(1),
    };
    let b_before = store.get(b).clone();
    let err = trainer
        .run(&loss, &mut store, &data, &mut common::rng(6), 100, &mut [])
        .unwrap_err();
    match err {
        Error::Diverged {
            step,
            consecutive,
            culprit,
        } => {
            assert_eq!((step, consecutive), (19, 20));
            assert_eq!(culprit, "loss");
        }
        other => panic!("{other}"),
    }
    assert_eq!(store.get(b), &b_before);
}

#[test]
fn bad_groups_and_settings_are_typed_errors() {
    let (mut store, a, b, data) = setup();
    let mut other = ParamStore::<f64>::new();
    let foreign = other.add("x", DMatrix::zeros(1, 1)).unwrap();
    let loss = Product {
        a,
        b,
        poison_group: None,
    };
    let mut trainer = Trainer::new(
        TrainerSettings::default(),
        vec![ParamGroup::new("x", [a, foreign], Adam::default())],
    )
    .unwrap();
    assert!(matches!(
        trainer.run(&loss, &mut store, &data, &mut common::rng(7), 1, &mut []),
        Err(Error::Parameter { .. })
    ));
    assert!(matches!(
        Trainer::<f64>::new(TrainerSettings::default(), vec![]),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Trainer::<f64>::new(
            TrainerSettings::default(),
            vec![
                ParamGroup::new("g", [a], Adam::default()),
                ParamGroup::new("g", [b], Adam::default()),
            ],
        ),
        Err(Error::InvalidParameter { .. })
    ));
    let mut zero_every = Trainer::new(
        TrainerSettings::default(),
        vec![ParamGroup::new("g", [a], Adam::default()).every(0)],
    )
    .unwrap();
    assert!(matches!(
        zero_every.run(&loss, &mut store, &data, &mut common::rng(7), 1, &mut []),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Trainer::<f64>::new(
            TrainerSettings {
                batch_size: Some(0),
                ..TrainerSettings::default()
            },
            vec![ParamGroup::new("g", [a], Adam::default())],
        ),
        Err(Error::InvalidParameter { .. })
    ));
    let mut fine = Trainer::new(
        TrainerSettings::default(),
        vec![ParamGroup::new("g", [a], Adam::default())],
    )
    .unwrap();
    let mut bad = data.clone();
    bad[(3, 1)] = f64::NAN;
    assert!(matches!(
        fine.run(&loss, &mut store, &bad, &mut common::rng(7), 1, &mut []),
        Err(Error::NonFiniteData { row: 3, col: 1, .. })
    ));
    assert!(matches!(
        fine.run(
            &loss,
            &mut store,
            &DMatrix::zeros(0, 3),
            &mut common::rng(7),
            1,
            &mut []
        ),
        Err(Error::EmptyData { .. })
    ));
}

#[test]
fn trend_recovers_a_line_and_judges_noise_against_its_scatter() {
    use elbo::engine::Trend;
    // An exact line: slope 2, no scatter.
    let t = Trend::of(&[1.0, 3.0, 5.0, 7.0, 9.0]).unwrap();
    assert!((t.slope - 2.0).abs() < 1e-12 && t.standard_error < 1e-12);
    assert!(
        !t.flat_within(1.0, 0.01),
        "a bound rising by 2 per window is not flat"
    );
    assert!(
        t.flat_within(-1.0, 0.01),
        "as a loss it is rising, not falling: settled"
    );
    // By hand: mean 0.2, Σ(x − 2)(y − 0.2) = 0.8 over Σ(x − 2)² = 10, so the slope is 0.08; the
    // residuals (0.16, −0.32, 0.2, −0.08, 0.04) square to 0.176, so its standard error is
    // √(0.176 / 3 / 10) = 0.0766: a rise of 0.08 per window is within 2.353 of them, and a
    // tolerance is not needed to call it flat.
    let t = Trend::of(&[0.2, -0.2, 0.4, 0.2, 0.4]).unwrap();
    assert!((t.slope - 0.08).abs() < 1e-12, "{t:?}");
    assert!(
        (t.standard_error - (0.176f64 / 30.0).sqrt()).abs() < 1e-12,
        "{t:?}"
    );
    assert!(t.flat_within(1.0, 0.0));
    // The same rise with a tenth of the scatter is a trend.
    let t = Trend::of(&[0.02, 0.06, 0.18, 0.24, 0.32]).unwrap();
    assert!(!t.flat_within(1.0, 0.01), "{t:?}");
    // Too short to have a scatter.
    assert!(Trend::of(&[1.0, 2.0]).is_none());
}
