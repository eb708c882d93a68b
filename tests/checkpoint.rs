//! Checkpoints: a resumed run is bit-identical to an uninterrupted one; bad checkpoints are
//! typed errors; a failed save leaves the previous checkpoint intact.

mod common;

use elbo::data::Dataset;
use elbo::vae::{Vae, VaeConfig};
use elbo::{Error, Real};
use nalgebra::DMatrix;
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elbo-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn config() -> VaeConfig {
    VaeConfig {
        hidden: vec![32],
        batch_size: 100,
        seed: 21,
        ..VaeConfig::default()
    }
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
    let mut straight = Vae::<T>::new(config()).unwrap();
    for _ in 0..4 {
        straight.train_epoch(&train.x, |_| {}).unwrap();
    }
    let path = temp(name);
    let mut first = Vae::<T>::new(config()).unwrap();
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
    let mut vae = Vae::<f32>::new(config()).unwrap();
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
            &text.replace("\"version\":1", "\"version\":99")
        )
        .contains("version 99")
    );
    // Another architecture: the settings say 4 latent dimensions, the weights are for 2.
    assert!(
        problem("arch.json", &text.replace("\"latent\":2", "\"latent\":4")).contains("parameter")
    );
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
    let mut vae = Vae::<f32>::new(config()).unwrap();
    let path = temp("atomic.json");
    vae.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    vae.train_epoch(&train.x, |_| {}).unwrap();
    // Block the temporary file's name with a directory: the write fails before the rename.
    let tmp = path.with_file_name(format!("atomic.json.tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    assert!(matches!(vae.save(&path), Err(Error::Io { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(Vae::<f32>::load(&path).unwrap().epochs_done(), 0);
    std::fs::remove_dir(&tmp).unwrap();
    vae.save(&path).unwrap();
    assert_eq!(Vae::<f32>::load(&path).unwrap().epochs_done(), 1);
}
