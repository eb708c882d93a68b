//! The same seed gives bit-identical results, in f32 and f64, with the threaded matrix kernel.

use super::common;

use elbo::conjugate::LinearRegression;
use elbo::data::Dataset;
use elbo::engine::TrainerSettings;
use elbo::guide::FullRankGaussianGuide;
use elbo::infer::{Svi, SviConfig};
use elbo::model::GaussianGuide;
use elbo::optim::Adam;
use elbo::vae::{Vae, VaeArchitecture, VaeTraining};
use elbo::{ParamStore, Real};
use nalgebra::DMatrix;

/// Every parameter of a VAE trained for two epochs on the shipped digits. The 128 x 64 x 256
/// products are large enough for matrixmultiply to split them over threads.
fn vae_run<T: Real>(seed: u64) -> (Vec<DMatrix<T>>, f64) {
    let (train, test) = Dataset::<T>::digits8x8();
    let architecture = VaeArchitecture {
        hidden: vec![256],
        ..VaeArchitecture::new(64, 2)
    };
    let training = VaeTraining {
        batch_size: 128,
        ..VaeTraining::default()
    };
    let mut vae = Vae::<T>::new(architecture, training, seed).unwrap();
    for _ in 0..2 {
        vae.train_epoch(&train.x, |_| {}).unwrap();
    }
    let elbo = vae.elbo(&test.x, &mut common::rng(seed)).unwrap();
    (
        vae.params()
            .ids()
            .map(|id| vae.params().get(id).clone())
            .collect(),
        elbo,
    )
}

#[test]
fn vae_training_is_bit_identical_for_the_same_seed_in_f32_and_f64() {
    let (a, ea) = vae_run::<f32>(3);
    let (b, eb) = vae_run::<f32>(3);
    assert!(a == b && ea.to_bits() == eb.to_bits());
    let (c, ec) = vae_run::<f64>(3);
    let (d, ed) = vae_run::<f64>(3);
    assert!(c == d && ec.to_bits() == ed.to_bits());
    // A different seed gives a different model.
    assert!(vae_run::<f32>(4).0 != a);
}

fn regression_run<T: Real>(seed: u64) -> (Vec<T>, Vec<f64>) {
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(20, 500, 0.5, &mut common::rng(1)).unwrap();
    let mut store = ParamStore::<T>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 20, T::of_f64(0.1)).unwrap();
    let svi = Svi::new(
        model.prior(20).unwrap(),
        model.likelihood::<T>().unwrap(),
        guide,
    );
    let config = SviConfig {
        steps: 300,
        trainer: TrainerSettings {
            batch_size: Some(100),
            average_from: Some(150),
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    let report = svi
        .fit(
            &mut store,
            &data.map(T::of_f64),
            &mut Adam::default(),
            &config,
            &mut common::rng(seed),
        )
        .unwrap();
    let mut out: Vec<T> = svi.guide.mean(&store).iter().copied().collect();
    out.extend(svi.guide.covariance(&store).iter().copied());
    (out, report.elbo)
}

#[test]
fn conjugate_fits_are_bit_identical_for_the_same_seed_in_f32_and_f64() {
    assert_eq!(regression_run::<f32>(5), regression_run::<f32>(5));
    assert_eq!(regression_run::<f64>(5), regression_run::<f64>(5));
}
