//! Models run unchanged on a device tape. Without a GPU, the emulated device takes the device
//! code path (every value a device matrix, ops through the device kernels, the rest through
//! host copies) with the CPU backend's kernels, so a run there must match the CPU's.

mod common;

use elbo::backend::Device;
use elbo::conjugate::LinearRegression;
use elbo::data::Dataset;
use elbo::engine::TrainerSettings;
use elbo::guide::FullRankGaussianGuide;
use elbo::infer::{Estimator, Objective, Svi, SviConfig};
use elbo::model::GaussianGuide;
use elbo::optim::Adam;
use elbo::vae::{Vae, VaeArchitecture, VaeLikelihood, VaeTraining};
use elbo::{Error, ParamStore};
use nalgebra::DMatrix;

fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    pool.unwrap().install(f)
}

/// A Bernoulli VAE (affine layers, the fused likelihood) trained for two epochs on `device`:
/// its parameters, test ELBO and IWAE.
fn vae_on(device: Device) -> (Vec<DMatrix<f32>>, f64, f64) {
    let (train, test) = Dataset::<f32>::digits8x8();
    let architecture = VaeArchitecture {
        hidden: vec![32],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(64, 3)
    };
    let training = VaeTraining {
        batch_size: 100,
        device,
        ..VaeTraining::default()
    };
    let mut vae = Vae::<f32>::new(architecture, training, 8).unwrap();
    for _ in 0..2 {
        vae.train_epoch(&train.x, |_| {}).unwrap();
    }
    let elbo = vae.elbo(&test.x, &mut common::rng(1)).unwrap();
    let iwae = vae
        .bound(
            &test.x,
            Objective::new(Estimator::Iwae, 50),
            &mut common::rng(2),
        )
        .unwrap();
    let params = vae.params();
    (
        params.ids().map(|id| params.get(id).clone()).collect(),
        elbo,
        iwae,
    )
}

#[test]
fn a_vae_trains_and_evaluates_on_the_emulated_device_as_on_the_cpu_to_the_bit() {
    // One thread: the CPU would otherwise cut batches into shards, each with its own draws.
    // The emulated device runs the CPU's kernels, so every number must be the same; a
    // difference means an op's device form computes otherwise.
    let (cpu, emulated) = one_thread(|| (vae_on(Device::Cpu), vae_on(Device::Emulated)));
    assert!(cpu.0 == emulated.0, "the trained parameters differ");
    assert_eq!(
        cpu.1.to_bits(),
        emulated.1.to_bits(),
        "ELBO {} against {}",
        cpu.1,
        emulated.1
    );
    assert_eq!(
        cpu.2.to_bits(),
        emulated.2.to_bits(),
        "IWAE {} against {}",
        cpu.2,
        emulated.2
    );
    assert!(cpu.2 > cpu.1, "the IWAE bound is above the ELBO");
}

/// A full-rank Gaussian guide (triangular solves, Cholesky-free but with lower triangles and
/// diagonals: ops that run through host copies on a device) fitted to a conjugate regression.
fn regression_on(device: Device) -> Vec<f64> {
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(4, 200, 0.5, &mut common::rng(1)).unwrap();
    let mut store = ParamStore::<f64>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 4, 0.1).unwrap();
    let svi = Svi::new(model.prior(4).unwrap(), model.likelihood().unwrap(), guide);
    let config = SviConfig {
        steps: 200,
        trainer: TrainerSettings {
            batch_size: Some(50),
            device,
            ..TrainerSettings::default()
        },
        ..SviConfig::default()
    };
    svi.fit(
        &mut store,
        &data,
        &mut Adam::default(),
        &config,
        &mut common::rng(2),
    )
    .unwrap();
    let mut out: Vec<f64> = svi.guide.mean(&store).iter().copied().collect();
    out.extend(svi.guide.covariance(&store).iter().copied());
    out
}

#[test]
fn a_full_rank_guide_fits_on_the_emulated_device_as_on_the_cpu_to_the_bit() {
    assert_eq!(regression_on(Device::Cpu), regression_on(Device::Emulated));
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_before_training_and_a_checkpoint_still_loads() {
    let (train, _) = Dataset::<f32>::digits8x8();
    let architecture = VaeArchitecture::new(64, 2);
    let on_gpu = VaeTraining {
        device: Device::Cuda(0),
        ..VaeTraining::default()
    };
    // Made (or loaded from a checkpoint written on a GPU machine) anywhere...
    let mut vae = Vae::<f32>::new(architecture, on_gpu, 1).unwrap();
    let before = vae.params().get(vae.params().ids().next().unwrap()).clone();
    match vae.train_epoch(&train.x, |_| {}) {
        // ... trained where the GPU and a `cuda` build are.
        Ok(_) => {
            let built_with_cuda = cfg!(feature = "cuda");
            assert!(
                built_with_cuda,
                "cuda:0 accepted by a build without the feature"
            );
        }
        Err(Error::DeviceUnavailable { device, reason }) => {
            assert_eq!(device, "cuda:0");
            let expected = if cfg!(feature = "cuda") {
                "was not found"
            } else {
                "--features cuda"
            };
            assert!(reason.contains(expected), "{reason}");
            // Refused before any step: nothing moved, and the run can go on on the CPU.
            assert_eq!(
                vae.params().get(vae.params().ids().next().unwrap()),
                &before
            );
            let on_cpu = VaeTraining {
                device: Device::Cpu,
                ..vae.training().clone()
            };
            vae.set_training(on_cpu).unwrap();
            vae.train_epoch(&train.x, |_| {}).unwrap();
        }
        Err(other) => panic!("expected DeviceUnavailable, got {other:?}"),
    }
}
