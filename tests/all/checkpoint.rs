//! Checkpoints: a resumed run is bit-identical to an uninterrupted one, for the VAE and for a
//! user's own model on the engine; bad checkpoints are typed errors found before anything is
//! allocated; a failed save leaves the previous checkpoint intact and a killed one's temporary
//! file is cleaned up.

use super::common;

use elbo::autodiff::{Tape, Var};
use elbo::data::Dataset;
use elbo::engine::{Batch, Checkpoint, Loss, ParamGroup, Trainer, TrainerSettings};
use elbo::optim::{Adam, LearningRate, Sgd};
use elbo::vae::{Vae, VaeArchitecture, VaeTraining};
use elbo::{Error, ParamId, ParamStore, Real};
use nalgebra::DMatrix;
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elbo-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn architecture() -> VaeArchitecture {
    VaeArchitecture {
        hidden: vec![32],
        ..VaeArchitecture::new(64, 2)
    }
}

fn training() -> VaeTraining {
    VaeTraining {
        batch_size: 100,
        ..VaeTraining::default()
    }
}

fn new_vae<T: Real>() -> Vae<T> {
    Vae::new(architecture(), training(), 21).unwrap()
}

fn snapshot<T: Real>(vae: &Vae<T>, test: &DMatrix<T>) -> (Vec<DMatrix<T>>, u64) {
    let elbo = vae.elbo(test, &mut common::rng(0)).unwrap();
    (
        vae.params()
            .ids()
            .map(|id| vae.params().get(id).clone())
            .collect(),
        elbo.to_bits(),
    )
}

fn resume_matches_uninterrupted<T: Real>(name: &str) {
    let (train, test) = Dataset::<T>::digits8x8();
    let mut straight = new_vae::<T>();
    for _ in 0..4 {
        straight.train_epoch(&train.x, |_| {}).unwrap();
    }
    let path = temp(name);
    let mut first = new_vae::<T>();
    for _ in 0..2 {
        first.train_epoch(&train.x, |_| {}).unwrap();
    }
    first.save(&path).unwrap();
    drop(first);
    let mut resumed = Vae::<T>::load(&path).unwrap();
    assert_eq!(resumed.epochs_done(), 2);
    for _ in 0..2 {
        resumed.train_epoch(&train.x, |_| {}).unwrap();
    }
    assert_eq!(resumed.epochs_done(), 4);
    assert!(
        snapshot(&resumed, &test.x) == snapshot(&straight, &test.x),
        "resumed run differs"
    );
}

#[test]
fn a_resumed_run_ends_with_exactly_the_numbers_of_an_uninterrupted_one() {
    resume_matches_uninterrupted::<f32>("resume32.json");
    resume_matches_uninterrupted::<f64>("resume64.json");
}

#[test]
fn bad_checkpoints_are_typed_errors() {
    let (train, _) = Dataset::<f32>::digits8x8();
    let mut vae = new_vae::<f32>();
    vae.train_epoch(&train.x, |_| {}).unwrap();
    let path = temp("good.json");
    vae.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let problem = |name: &str, content: &str| {
        let p = temp(name);
        std::fs::write(&p, content).unwrap();
        match Vae::<f32>::load(&p) {
            Err(Error::Checkpoint { problem, .. }) => problem,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("{name} loaded"),
        }
    };
    assert!(problem("garbage.json", "not json").contains("not a readable checkpoint"));
    assert!(
        problem("truncated.json", &text[..text.len() / 2]).contains("not a readable checkpoint")
    );
    assert!(
        problem(
            "version.json",
            &text.replace("\"version\":2", "\"version\":99")
        )
        .contains("version 99")
    );
    // Another architecture: the settings say 4 latent dimensions, the weights are for 2.
    assert!(
        problem("arch.json", &text.replace("\"latent\":2", "\"latent\":4")).contains("parameter")
    );
    // Settings edited to an absurd width: refused from the counts alone, before allocating the
    // 25 GB the architecture would need.
    let huge = problem(
        "huge.json",
        &text.replace("\"hidden\":[32]", "\"hidden\":[100000000]"),
    );
    assert!(huge.contains("the file holds"), "{huge}");
    // A corrupted minibatch order (a row index past the data) is refused, not a panic later.
    let order_start = text.find("\"order\":[").expect("a minibatch order") + "\"order\":[".len();
    let mut corrupted = text.clone();
    corrupted.insert_str(order_start, "99999,");
    assert!(problem("order.json", &corrupted).contains("permutation"));
    // The same file read in the other precision.
    assert!(matches!(
        Vae::<f64>::load(&path),
        Err(Error::Checkpoint { .. })
    ));
    assert!(matches!(
        Vae::<f32>::load(temp("missing.json")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn a_failed_save_leaves_the_previous_checkpoint_loadable() {
    let (train, _) = Dataset::<f32>::digits8x8();
    let mut vae = new_vae::<f32>();
    let path = temp("atomic.json");
    vae.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    vae.train_epoch(&train.x, |_| {}).unwrap();
    // Block the temporary file's name with a directory: the write fails before the rename.
    let tmp = path.with_file_name(format!("atomic.json.tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    assert!(matches!(vae.save(&path), Err(Error::Write { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(Vae::<f32>::load(&path).unwrap().epochs_done(), 0);
    std::fs::remove_dir(&tmp).unwrap();
    vae.save(&path).unwrap();
    assert_eq!(Vae::<f32>::load(&path).unwrap().epochs_done(), 1);
}

#[test]
fn a_killed_saves_temporary_file_is_removed_by_the_next_save() {
    let vae = new_vae::<f32>();
    let path = temp("stale.json");
    let stale = path.with_file_name("stale.json.tmp-4242");
    std::fs::write(&stale, "half a checkpoint").unwrap();
    vae.save(&path).unwrap();
    assert!(!stale.exists());
    assert!(path.exists());
}

#[test]
fn a_resumed_vae_may_change_its_training_but_not_its_networks() {
    let (train, _) = Dataset::<f32>::digits8x8();
    let mut vae = new_vae::<f32>();
    vae.train_epoch(&train.x, |_| {}).unwrap();
    let path = temp("change.json");
    vae.save(&path).unwrap();
    let mut resumed = Vae::<f32>::load(&path).unwrap();
    resumed
        .set_training(VaeTraining {
            learning_rate: 1e-4,
            batch_size: 50,
            ..training()
        })
        .unwrap();
    resumed.train_epoch(&train.x, |_| {}).unwrap();
    assert_eq!(resumed.epochs_done(), 2);
    let wider = VaeArchitecture {
        hidden: vec![33],
        ..architecture()
    };
    let mut other = Vae::<f32>::new(wider, training(), 21).unwrap();
    assert!(matches!(
        other.resume(&path),
        Err(Error::Checkpoint { problem, .. }) if problem.contains("architecture")
    ));
}

/// A user's own model on the engine: a scaled least-squares loss with two parameter groups.
struct TwoParts {
    a: ParamId,
    b: ParamId,
}

impl Loss<f64> for TwoParts {
    fn loss<'t, R: rand::Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, f64>,
        batch: &Batch<'_, f64>,
        rng: &mut R,
    ) -> elbo::Result<Var<'t, f64>> {
        let x = tape.constant_placed(batch.x);
        let noise = <f64 as Real>::standard_normal(rng) * 0.1;
        let fit = (x - tape.param(self.a) * tape.param(self.b)).square().sum();
        Ok((fit + noise) * batch.scale)
    }
}

fn two_part_run(steps: &[usize], path: &std::path::Path) -> (DMatrix<f64>, DMatrix<f64>, Vec<f64>) {
    let data = common::normal_matrix(90, 3, 4).add_scalar(2.0);
    let mut losses = Vec::new();
    let build = |store: &mut ParamStore<f64>| {
        let a = store.add("a", DMatrix::from_element(1, 3, 0.5)).unwrap();
        let b = store.add("b", DMatrix::from_element(1, 1, 0.5)).unwrap();
        let groups = vec![
            ParamGroup::new("a", [a], Adam::default())
                .with_learning_rate(LearningRate::Constant(0.05)),
            ParamGroup::new("b", [b], Sgd::new(0.9).unwrap())
                .with_learning_rate(LearningRate::Constant(1e-4))
                .every(3),
        ];
        let settings = TrainerSettings {
            batch_size: Some(20),
            ..TrainerSettings::default()
        };
        (TwoParts { a, b }, Trainer::new(settings, groups).unwrap())
    };
    let mut store = ParamStore::new();
    let (mut loss, mut trainer) = build(&mut store);
    let mut rng = common::rng(8);
    for (i, &n) in steps.iter().enumerate() {
        if i > 0 {
            // Resume in a fresh process's shoes: new store, new trainer, generator from the file.
            trainer.save(path, &store, &rng, &"two parts").unwrap();
            let mut fresh = ParamStore::new();
            let (fresh_loss, mut fresh_trainer) = build(&mut fresh);
            let checkpoint = Checkpoint::read(path).unwrap();
            assert_eq!(checkpoint.model::<String>().unwrap(), "two parts");
            let mut fresh_rng = common::rng(999);
            checkpoint
                .restore(&mut fresh, &mut fresh_trainer, &mut fresh_rng)
                .unwrap();
            store = fresh;
            loss = fresh_loss;
            trainer = fresh_trainer;
            rng = fresh_rng;
        }
        let report = trainer
            .run(&loss, &mut store, &data, &mut rng, n, &mut [])
            .unwrap();
        losses.extend(report.losses);
    }
    let ids: Vec<_> = store.ids().collect();
    (store.get(ids[0]).clone(), store.get(ids[1]).clone(), losses)
}

#[test]
fn any_model_on_the_engine_resumes_bit_for_bit_even_mid_epoch() {
    let path = temp("two_parts.json");
    let straight = two_part_run(&[23], &path);
    // 7 steps: a stop in the middle of the second epoch (5 batches of 20 rows per epoch) and
    // between two updates of the every-3rd-step group.
    let resumed = two_part_run(&[7, 9, 7], &path);
    assert_eq!(straight, resumed);
}
