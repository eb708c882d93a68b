//! One VAE training step at MNIST shapes: 784-400-20, Bernoulli, batch 128, Adam — in f32 and
//! f64. The batch is 128 random binary rows, so `train_epoch` is exactly one step (plus the
//! check that the data lie in [0, 1]).
//!
//! `cargo bench --bench vae_step`

use criterion::{Criterion, criterion_group, criterion_main};
use elbo::Real;
use elbo::vae::{Vae, VaeArchitecture, VaeLikelihood, VaeTraining};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::hint::black_box;

fn step<T: Real>(c: &mut Criterion) {
    let mut rng = Pcg64::seed_from_u64(0);
    let x = DMatrix::<T>::from_fn(128, 784, |_, _| {
        if rng.random::<f64>() < 0.2 {
            T::one()
        } else {
            T::zero()
        }
    });
    let architecture = VaeArchitecture {
        hidden: vec![400],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(784, 20)
    };
    let training = VaeTraining {
        batch_size: 128,
        ..VaeTraining::default()
    };
    let mut vae = Vae::<T>::new(architecture, training, 0).unwrap();
    let name = format!(
        "vae_step/784-400-20_bernoulli_batch128/{}",
        std::any::type_name::<T>()
    );
    c.bench_function(&name, |b| {
        b.iter(|| black_box(vae.train_epoch(&x, |_| {}).unwrap()))
    });
}

fn all(c: &mut Criterion) {
    step::<f32>(c);
    step::<f64>(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
