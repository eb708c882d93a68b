//! Models run unchanged on a device tape. Without a GPU, the emulated device takes the device
//! code path (every value a device matrix, every op and its gradient through the device
//! kernels) with the CPU backend's kernels, so a run there must match the CPU's, and the
//! copies between host and device it counts are those a GPU would make.

use super::common;
use super::common::conv_vae::conv_vae;
use elbo::autodiff::Tape;
use elbo::autoencoder::{Autoencoder, AutoencoderConfig, AutoencoderLoss, Corruption, Objective};
use elbo::backend::{Device, Transfers};
use elbo::classic::EightSchools;
use elbo::conjugate::LinearRegression;
use elbo::data::Dataset;
use elbo::engine::{Loss, ParamGroup, Trainer, TrainerSettings, TrainingData};
use elbo::generative::{GaussianMmd, Generator, MomentMatching, Noise};
use elbo::guide::{FullRankGaussianGuide, LowRankGaussianGuide};
use elbo::infer::{Estimator, Svi, SviConfig};
use elbo::model::{GaussianGuide, Prior};
use elbo::nn::{Activation, Init, Mlp};
use elbo::optim::Adam;
use elbo::prior::GaussianPrior;
use elbo::program::{self, FitSettings, Program};
use elbo::vae::{Vae, VaeArchitecture, VaeLikelihood, VaeTraining};
use elbo::{Error, ParamStore};
use nalgebra::{DMatrix, DVector};

use common::exclusive;

fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    pool.unwrap().install(f)
}

/// A Bernoulli VAE (affine layers, the fused likelihood) trained for two epochs on `device`:
/// its parameters, test ELBO and IWAE.
/// A Bernoulli VAE for the 8x8 digits, 64-32-3, from seed 8, to train as `training` says.
fn small_digits_vae(training: VaeTraining) -> Vae<f32> {
    let architecture = VaeArchitecture {
        hidden: vec![32],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(64, 3)
    };
    Vae::<f32>::new(architecture, training, 8).unwrap()
}

fn vae_on(device: Device) -> (Vec<DMatrix<f32>>, f64, f64) {
    let (train, test) = Dataset::<f32>::digits8x8();
    let mut vae = small_digits_vae(VaeTraining {
        batch_size: 100,
        device,
        ..VaeTraining::default()
    });
    for _ in 0..2 {
        vae.train_epoch(&train.x, |_| {}).unwrap();
    }
    let elbo = vae.elbo(&test.x, &mut common::rng(1)).unwrap();
    let iwae = vae
        .bound(
            &test.x,
            elbo::infer::Objective::new(Estimator::Iwae, 50),
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
    let _device = exclusive();
    // One thread: the CPU would otherwise cut batches into shards, each with its own draws.
    // The emulated device runs the CPU's kernels, so every number must be the same; a
    // difference means an op's device form computes otherwise.
    let (cpu, emulated) = one_thread(|| (vae_on(Device::Cpu), vae_on(Device::Emulated(0))));
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

#[test]
fn a_run_on_a_device_sends_its_data_once_and_then_row_indices_and_noise() {
    let _device = exclusive();
    for device in std::iter::once(Device::Emulated(0)).chain(common::gpu()) {
        sends_its_data_once_and_then_row_indices_and_noise(device);
    }
}

/// On a GPU the noise is drawn there, so only the indices go over: the bounds hold a fortiori.
fn sends_its_data_once_and_then_row_indices_and_noise(device: Device) {
    let (train, _) = Dataset::<f32>::digits8x8();
    let (pixels, latents, batch) = (64, 3, 100);
    let architecture = VaeArchitecture {
        hidden: vec![256],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(pixels, latents)
    };
    let training = VaeTraining {
        batch_size: batch,
        device,
        ..VaeTraining::default()
    };
    let mut vae = Vae::<f32>::new(architecture, training, 8).unwrap();
    // The first run moves the parameters over; from then on they stay.
    vae.train_epoch(&train.x, |_| {}).unwrap();
    let before = Transfers::so_far();
    vae.train_epoch(&train.x, |_| {}).unwrap();
    let moved = Transfers::so_far().since(before);
    let steps = train.x.nrows().div_ceil(batch) as u64;
    // Once per run: the data set. Per step: the row indices (u64) and the noise over (the
    // prior's constants are made on the device); the loss and the finiteness check's sum back.
    let data = (train.x.len() * 4) as u64;
    let indices_and_noise = (batch * 8 + batch * latents * 4) as u64;
    let small = 64;
    let parameters = (vae.params().num_scalars() * 4) as u64;
    let minibatch = (batch * pixels * 4) as u64;
    // A parameter round trip, or the minibatch sent each step, would break these bounds.
    assert!(parameters > 10 * indices_and_noise && minibatch > 10 * small);
    assert!(
        moved.uploaded_bytes <= data + steps * indices_and_noise,
        "{moved:?} in {steps} steps"
    );
    assert!(moved.uploads <= 1 + 2 * steps, "{moved:?} in {steps} steps");
    assert!(
        moved.downloaded_bytes <= steps * small,
        "{moved:?} in {steps} steps"
    );
    // Data the VAE prepared goes over with the first epoch run on it, and stays for the next.
    let prepared = vae.training_data(&train.x).unwrap();
    vae.train_epoch_on(&prepared, |_| {}).unwrap();
    let before = Transfers::so_far();
    vae.train_epoch_on(&prepared, |_| {}).unwrap();
    let moved = Transfers::so_far().since(before);
    assert!(
        moved.uploaded_bytes <= steps * indices_and_noise,
        "{moved:?} in {steps} steps"
    );
    // An IWAE evaluation sends the rows and the noise of its K draws each, not K copies of
    // the rows, and reads back one number per chunk.
    let (_, test) = Dataset::<f32>::digits8x8();
    let k = 50;
    let before = Transfers::so_far();
    vae.iwae(&test.x, k, &mut common::rng(3)).unwrap();
    let moved = Transfers::so_far().since(before);
    let rows = (test.x.len() * 4) as u64;
    let noise = (test.x.nrows() * k * latents * 4) as u64;
    assert!(
        moved.uploaded_bytes <= rows + noise + moved.uploads * small,
        "{moved:?}"
    );
    assert!(moved.downloaded_bytes <= moved.downloads * 8, "{moved:?}");
}

/// The shipped digits, each placed at its own offset in a 12x14 frame of background 30/255 (as
/// MNIST places its digits in a larger frame), written as IDX files and read back as MNIST's are.
fn framed_digits_read_from_idx_files() -> (Dataset<f32>, Dataset<f32>) {
    use elbo::data::{IdxImages, encode_idx_images, encode_idx_labels};
    let (rows, cols) = (12, 14);
    let dir = std::env::temp_dir().join(format!("elbo-framed-digits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (train, test) = Dataset::<f32>::digits8x8();
    for (prefix, set) in [("train", &train), ("t10k", &test)] {
        let mut pixels = vec![30u8; set.len() * rows * cols];
        for (n, image) in set.x.row_iter().enumerate() {
            let (top, left) = (n % 5, (n / 5) % 7);
            for (k, value) in image.iter().enumerate() {
                let at = n * rows * cols + (top + k / 8) * cols + left + k % 8;
                pixels[at] = pixels[at].max((value * 255.0).round() as u8);
            }
        }
        let images = IdxImages {
            count: set.len(),
            rows,
            cols,
            pixels,
        };
        let labels = set.labels.as_ref().unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            encode_idx_images(&images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            encode_idx_labels(labels),
        )
        .unwrap();
    }
    let read = |prefix| Dataset::<f32>::read_idx_dir(&dir, prefix).unwrap();
    let framed = (read("train"), read("t10k"));
    std::fs::remove_dir_all(&dir).unwrap();
    framed
}

/// The test ELBO of a Bernoulli VAE (one hidden layer of 64, 4 latents) trained for 20 epochs
/// on `device` from `seed`.
fn trained_elbo(train: &Dataset<f32>, test: &Dataset<f32>, device: Device, seed: u64) -> f64 {
    trained_elbo_across(train, test, &[device], seed)
}

/// [`trained_elbo`] with each minibatch cut across `devices` (the first holding the parameters).
fn trained_elbo_across(
    train: &Dataset<f32>,
    test: &Dataset<f32>,
    devices: &[Device],
    seed: u64,
) -> f64 {
    let architecture = VaeArchitecture {
        hidden: vec![64],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(train.dim(), 4)
    };
    let training = VaeTraining {
        batch_size: 100,
        device: devices[0],
        data_parallel: devices[1..].to_vec(),
        ..VaeTraining::default()
    };
    let mut vae = Vae::<f32>::new(architecture, training, seed).unwrap();
    let prepared = vae.training_data(&train.x).unwrap();
    for _ in 0..20 {
        vae.train_epoch_on(&prepared, |_| {}).unwrap();
    }
    vae.elbo(&test.x, &mut common::rng(100 + seed)).unwrap()
}

/// A GPU draws its noise with its own generator, so a VAE trained there takes another path
/// than on the CPU; where it ends must agree. Each device trains from six seeds, and the two
/// means must be within four standard errors of their difference, which the spread over
/// seeds (training noise and the one-draw evaluation together) sets.
#[test]
fn a_vae_trained_on_the_gpu_reaches_the_cpus_test_elbo_on_the_digits_and_on_idx_files() {
    let Some(gpu) = common::gpu() else { return };
    let _device = exclusive();
    let digits = Dataset::<f32>::digits8x8();
    let framed = framed_digits_read_from_idx_files();
    assert_eq!(framed.0.image_shape, Some((12, 14)));
    for (name, (train, test)) in [("digits", &digits), ("framed digits (IDX)", &framed)] {
        let elbos = |device| -> Vec<f64> {
            (1..=6)
                .map(|seed| trained_elbo(train, test, device, seed))
                .collect()
        };
        let (on_cpu, on_gpu) = (elbos(Device::Cpu), elbos(gpu));
        let (cpu_mean, cpu_se) = common::mean_and_se(&on_cpu);
        let (gpu_mean, gpu_se) = common::mean_and_se(&on_gpu);
        let se = cpu_se.hypot(gpu_se);
        eprintln!(
            "{name}: test ELBO {cpu_mean:.3} ± {cpu_se:.3} on the CPU, {gpu_mean:.3} ± {gpu_se:.3} on {gpu}"
        );
        assert!(on_gpu.iter().all(|e| e.is_finite()), "{on_gpu:?}");
        assert!(
            (cpu_mean - gpu_mean).abs() < 4.0 * se,
            "{name}: CPU {on_cpu:?} against GPU {on_gpu:?}"
        );
    }
}

/// With one GPU, the data-parallel path across two devices: half of every minibatch on the
/// GPU, half on the emulated device, which loads the parameters from the GPU and sends its
/// gradients back through the host. It must end where the CPU does, as above.
#[test]
fn a_vae_trained_across_the_gpu_and_another_device_reaches_the_cpus_test_elbo() {
    let Some(gpu) = common::gpu() else { return };
    let _device = exclusive();
    let (train, test) = Dataset::<f32>::digits8x8();
    let elbos = |devices: &[Device]| -> Vec<f64> {
        (1..=6)
            .map(|seed| trained_elbo_across(&train, &test, devices, seed))
            .collect()
    };
    let on_cpu = elbos(&[Device::Cpu]);
    let across = elbos(&[gpu, Device::Emulated(0)]);
    let (cpu_mean, cpu_se) = common::mean_and_se(&on_cpu);
    let (mean, se) = common::mean_and_se(&across);
    eprintln!(
        "digits: test ELBO {cpu_mean:.3} ± {cpu_se:.3} on the CPU, {mean:.3} ± {se:.3} across {gpu} and emulated:0"
    );
    assert!(across.iter().all(|e| e.is_finite()), "{across:?}");
    assert!(
        (cpu_mean - mean).abs() < 4.0 * cpu_se.hypot(se),
        "CPU {on_cpu:?} against {across:?}"
    );
}

#[test]
fn a_vae_moves_between_devices_and_checkpoints_from_one_as_if_it_had_stayed_on_the_cpu() {
    let _device = exclusive();
    // Parameters, gradients and Adam's moments live on the device between epochs; moving to
    // the CPU and back, and a checkpoint written while they are on the device, must change no
    // bit of where the training goes.
    let (train, _) = Dataset::<f32>::digits8x8();
    let architecture = VaeArchitecture {
        hidden: vec![16],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(64, 2)
    };
    let on = |device| VaeTraining {
        batch_size: 250,
        device,
        ..VaeTraining::default()
    };
    let parameters = |vae: &Vae<f32>| -> Vec<DMatrix<f32>> {
        let store = vae.params();
        store.ids().map(|id| store.get(id).clone()).collect()
    };
    let path = std::env::temp_dir().join(format!("elbo-device-moves-{}.json", std::process::id()));
    let (stayed, moved) = one_thread(|| {
        let mut stayed = Vae::<f32>::new(architecture.clone(), on(Device::Cpu), 5).unwrap();
        for _ in 0..3 {
            stayed.train_epoch(&train.x, |_| {}).unwrap();
        }
        let mut first = Vae::<f32>::new(architecture.clone(), on(Device::Emulated(0)), 5).unwrap();
        first.train_epoch(&train.x, |_| {}).unwrap();
        let id = first.params().ids().next().unwrap();
        assert_eq!(first.params().device_of(id), Device::Emulated(0));
        first.save(&path).unwrap();
        let mut moved = Vae::<f32>::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(moved.training().device, Device::Emulated(0));
        moved.set_training(on(Device::Cpu)).unwrap();
        moved.train_epoch(&train.x, |_| {}).unwrap();
        let id = moved.params().ids().next().unwrap();
        assert_eq!(moved.params().device_of(id), Device::Cpu);
        moved.set_training(on(Device::Emulated(0))).unwrap();
        moved.train_epoch(&train.x, |_| {}).unwrap();
        (parameters(&stayed), parameters(&moved))
    });
    assert!(stayed == moved, "the parameters differ");
}

/// A Gaussian guide made by `guide` fitted to a conjugate regression (d = 4, batch 50, 200
/// steps) on `device`: its mean and covariance, and what the fit copied between the host and
/// the device.
fn regression_on<G: GaussianGuide<f64>>(
    device: Device,
    guide: impl FnOnce(&mut ParamStore<f64>) -> G,
) -> (Vec<f64>, Transfers) {
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(4, 200, 0.5, &mut common::rng(1)).unwrap();
    let mut store = ParamStore::<f64>::new();
    let guide = guide(&mut store);
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
    let before = Transfers::so_far();
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
    (out, Transfers::so_far().since(before))
}

/// The fit's copies: per step the row indices and the noise (`draws` matrices of it) over, the
/// loss and the finiteness sum back; once per run the data and the guide's parameters.
fn assert_a_step_copies_only_indices_and_noise(moved: Transfers, params: usize, draws: usize) {
    let (steps, dim, batch, f64_bytes) = (200, 4, 50, 8);
    let data = 200 * (dim + 1) * f64_bytes;
    // The noise: for each particle, at most a draw per latent and one per rank (the low-rank
    // guide's shared part).
    let particles = SviConfig::default().objective.particles;
    let per_step = batch * 8 + particles * 2 * dim * f64_bytes;
    assert!(
        moved.uploads <= (steps * (1 + draws) + 10) as u64,
        "{moved:?}"
    );
    // Once per run, beside the data: the guide's parameters and the trainer's state for them.
    let guide = params * f64_bytes;
    assert!(
        moved.uploaded_bytes <= (data + steps * per_step + 4 * guide) as u64,
        "{moved:?}"
    );
    // After the run, the fitted guide is read back (with the trainer's averages of it).
    assert!(moved.downloads <= 2 * steps as u64 + 10, "{moved:?}");
    assert!(
        moved.downloaded_bytes <= (steps * 2 * f64_bytes + 3 * guide) as u64,
        "{moved:?}"
    );
}

#[test]
fn a_full_rank_guide_fits_on_the_emulated_device_as_on_the_cpu_to_the_bit() {
    let _device = exclusive();
    let full_rank = |store: &mut ParamStore<f64>| FullRankGaussianGuide::new(store, "q", 4, 0.1);
    let (on_cpu, _) = regression_on(Device::Cpu, |s| full_rank(s).unwrap());
    let (emulated, moved) = regression_on(Device::Emulated(0), |s| full_rank(s).unwrap());
    assert_eq!(on_cpu, emulated);
    // Lower triangles, diagonals and solves run on the device. Through the host they cost 15
    // copies each way per step (3,006 over and 3,200 back in these 200 steps).
    assert_a_step_copies_only_indices_and_noise(moved, 4 + 4 * 4, 1);
}

#[test]
fn a_low_rank_guide_fits_on_the_emulated_device_as_on_the_cpu_to_the_bit() {
    let _device = exclusive();
    let low_rank = |store: &mut ParamStore<f64>| LowRankGaussianGuide::new(store, "q", 4, 2, 0.1);
    let (on_cpu, _) = regression_on(Device::Cpu, |s| low_rank(s).unwrap());
    let (emulated, moved) = regression_on(Device::Emulated(0), |s| low_rank(s).unwrap());
    assert_eq!(on_cpu, emulated);
    // Its r x r capacitance is factored on the device, at every step, with the gradient.
    assert_a_step_copies_only_indices_and_noise(moved, 4 + 4 * 2 + 4, 2);
}

/// The convolutional VAE of `common/conv_vae.rs` after one epoch on `device`: its parameters,
/// and what a second epoch copied between the host and the device, in how many steps.
fn conv_vae_on(device: Device) -> (Vec<DMatrix<f64>>, Transfers, u64) {
    let (train, _) = Dataset::<f64>::digits8x8();
    let train = train.x.rows(0, 300).into_owned();
    let training = VaeTraining {
        batch_size: 50,
        device,
        ..VaeTraining::default()
    };
    let mut vae = conv_vae(training, 5);
    let prepared = vae.training_data(&train).unwrap();
    // The first epoch moves the parameters and the data over; the second is measured.
    vae.train_epoch_on(&prepared, |_| {}).unwrap();
    let before = Transfers::so_far();
    vae.train_epoch_on(&prepared, |_| {}).unwrap();
    let moved = Transfers::so_far().since(before);
    let params = vae.params();
    let values = params.ids().map(|id| params.get(id).clone()).collect();
    (values, moved, train.nrows().div_ceil(50) as u64)
}

#[test]
fn a_convolutional_vae_trains_on_the_emulated_device_as_on_the_cpu_and_stays_there() {
    let _device = exclusive();
    let (on_cpu, _, _) = one_thread(|| conv_vae_on(Device::Cpu));
    let (emulated, moved, steps) = one_thread(|| conv_vae_on(Device::Emulated(0)));
    assert!(on_cpu == emulated, "the parameters differ");
    // Per step: the row indices and the noise over (50 rows, 4 latents); the loss and the
    // finiteness sum back. The convolutions and their gradients make no copies: through the
    // host they cost 477 KB over and 468 KB back in these 6 steps.
    let per_step = 50 * 8 + 50 * 4 * 8;
    assert!(
        moved.uploaded_bytes <= steps * per_step,
        "{moved:?} in {steps} steps"
    );
    assert!(moved.uploads <= 2 * steps, "{moved:?} in {steps} steps");
    assert!(moved.downloads <= 2 * steps, "{moved:?} in {steps} steps");
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_before_training_and_a_checkpoint_still_loads() {
    let _device = exclusive();
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

/// An autoencoder of the digits (64 → 8 units of `activation`, logistic output) trained with
/// `objective` for 12 steps (batch 50 of 300 rows) on `device`: its parameters, and what 6
/// more steps on the same data copied between the host and the device.
fn autoencoder_on(
    objective: Objective,
    activation: Activation,
    device: Device,
) -> (Vec<DMatrix<f64>>, Transfers) {
    let (train, _) = Dataset::<f64>::digits8x8();
    let train = train.x.rows(0, 300).into_owned();
    let mut store = ParamStore::new();
    let config = AutoencoderConfig {
        sizes: vec![64, 8],
        hidden: activation,
        code: activation,
        output: Activation::Sigmoid,
        tied: false,
        init: Init::Xavier,
    };
    let autoencoder = Autoencoder::new(&mut store, "ae", &config, &mut common::rng(3)).unwrap();
    let loss = AutoencoderLoss {
        autoencoder: &autoencoder,
        objective,
        range: (train.min(), train.max()),
    };
    train_then_measure(&loss, &mut store, &train, 50, device, (12, 6))
}

/// `loss` trained with Adam in batches of `batch` rows of `data` on `device`, for `steps.0`
/// steps and then, on the same prepared data, `steps.1` more: the parameters, and what the
/// second run copied between the host and the device.
fn train_then_measure<L: Loss<f64>>(
    loss: &L,
    store: &mut ParamStore<f64>,
    data: &DMatrix<f64>,
    batch: usize,
    device: Device,
    steps: (usize, usize),
) -> (Vec<DMatrix<f64>>, Transfers) {
    let settings = TrainerSettings {
        batch_size: Some(batch),
        device,
        ..TrainerSettings::default()
    };
    let group = ParamGroup::all("all", store, Adam::default());
    let mut trainer = Trainer::new(settings, vec![group]).unwrap();
    let data = TrainingData::new(data).unwrap();
    let mut rng = common::rng(4);
    trainer
        .run_on(loss, store, &data, &mut rng, steps.0, &mut [])
        .unwrap();
    let before = Transfers::so_far();
    trainer
        .run_on(loss, store, &data, &mut rng, steps.1, &mut [])
        .unwrap();
    let moved = Transfers::so_far().since(before);
    let values = store.ids().map(|id| store.get(id).clone()).collect();
    (values, moved)
}

#[test]
fn autoencoders_train_on_the_emulated_device_as_on_the_cpu_with_their_noise_made_there() {
    let _device = exclusive();
    let basic = Objective::default();
    let (steps, batch, pixels) = (6, 50, 64);
    let indices = (batch * 8) as u64;
    let noise = (batch * pixels * 8) as u64;
    // (objective, activation, uploads and their bytes, downloads and their bytes per step)
    for (what, objective, activation, up, down) in [
        // The slopes of a piecewise-linear activation are made on the device.
        (
            "contractive",
            Objective {
                contractive: 0.1,
                ..basic
            },
            Activation::LeakyRelu(0.1),
            (1, indices),
            (2, 16),
        ),
        // The noise is drawn on the host by the emulated device (a GPU draws it there).
        (
            "gaussian",
            Objective {
                corruption: Corruption::Gaussian(0.2),
                ..basic
            },
            Activation::Sigmoid,
            (2, indices + noise),
            (2, 16),
        ),
        // The emulated device reads the batch back to replace its entries as the CPU does; a
        // GPU replaces them in place.
        (
            "masking",
            Objective {
                corruption: Corruption::Masking(0.3),
                ..basic
            },
            Activation::Sigmoid,
            (2, indices + noise),
            (3, 16 + noise),
        ),
        (
            "salt and pepper",
            Objective {
                corruption: Corruption::SaltAndPepper(0.2),
                ..basic
            },
            Activation::Sigmoid,
            (2, indices + noise),
            (3, 16 + noise),
        ),
    ] {
        let (on_cpu, _) = one_thread(|| autoencoder_on(objective, activation, Device::Cpu));
        let (emulated, moved) =
            one_thread(|| autoencoder_on(objective, activation, Device::Emulated(0)));
        assert!(on_cpu == emulated, "{what}: the parameters differ");
        let want = Transfers {
            uploads: up.0 * steps,
            uploaded_bytes: up.1 * steps,
            downloads: down.0 * steps,
            downloaded_bytes: down.1 * steps,
        };
        assert_eq!(moved, want, "{what}");
    }
}

#[test]
fn a_gaussian_prior_goes_to_the_device_once_for_every_tape() {
    let _device = exclusive();
    let covariance = DMatrix::from_row_slice(2, 2, &[2.0, 0.3, 0.3, 0.5]);
    let prior = GaussianPrior::new(DVector::from_row_slice(&[1.0, -1.0]), covariance).unwrap();
    let z = DMatrix::from_row_slice(3, 2, &[0.5, 0.1, -1.0, 2.0, 0.0, 0.0]);
    let log_prob = |device| {
        let tape = Tape::<f64>::new().on_device(device).unwrap();
        let before = Transfers::so_far();
        let value = Prior::log_prob(&prior, tape.constant(z.clone()))
            .value()
            .clone_owned();
        (value, Transfers::so_far().since(before).uploads)
    };
    let (on_cpu, _) = log_prob(Device::Cpu);
    // The first tape on the device copies z, the mean and the factor; later ones z alone.
    let copies: Vec<u64> = (0..3)
        .map(|_| {
            let (value, uploads) = log_prob(Device::Emulated(0));
            assert_eq!(value, on_cpu);
            uploads
        })
        .collect();
    assert_eq!(copies, [3, 1, 1]);
}

#[test]
fn a_moment_matching_generator_trains_on_the_emulated_device_as_on_the_cpu() {
    let _device = exclusive();
    let data = DMatrix::from_fn(200, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0);
    let (steps, batch, noise_dim) = (5, 40, 3);
    let run = |noise: Noise, device: Device| {
        let mut store = ParamStore::new();
        let network = Mlp::new(
            &mut store,
            "g",
            &[noise_dim, 8, 2],
            Activation::Tanh,
            Activation::Identity,
            Init::Xavier,
            &mut common::rng(5),
        )
        .unwrap();
        let model = MomentMatching {
            generator: Generator {
                network,
                noise,
                classes: 0,
            },
            mmd: GaussianMmd::scaled(1.0, &[0.5, 1.0]),
        };
        train_then_measure(&model, &mut store, &data, batch, device, (3, steps))
    };
    for noise in [Noise::Uniform, Noise::Normal] {
        let (on_cpu, _) = one_thread(|| run(noise, Device::Cpu));
        let (emulated, moved) = one_thread(|| run(noise, Device::Emulated(0)));
        assert!(on_cpu == emulated, "{noise:?}: the parameters differ");
        // Per step: the row indices and (from the emulated device's host draws) the noise.
        let per_step = (batch * 8 + batch * noise_dim * 8) as u64;
        assert_eq!(moved.uploads, 2 * steps as u64, "{noise:?}: {moved:?}");
        assert_eq!(moved.uploaded_bytes, per_step * steps as u64, "{noise:?}");
        assert_eq!(moved.downloads, 2 * steps as u64, "{noise:?}: {moved:?}");
    }
}

/// The eight schools (non-centred) fitted for 300 steps on `device`: the ELBO at each step,
/// and the copies the fit made.
fn eight_schools_on(device: Device) -> (Vec<f64>, Transfers) {
    let y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0];
    let sigma = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];
    let data = DMatrix::from_fn(8, 2, |j, c| if c == 0 { y[j] } else { sigma[j] });
    let program = Program::new(EightSchools { centered: false }, data).unwrap();
    let mut settings = FitSettings::default();
    settings.svi.steps = 300;
    settings.svi.trainer.device = device;
    let before = Transfers::so_far();
    let fit = program::fit(&program, &settings, &mut common::rng(7)).unwrap();
    let moved = Transfers::so_far().since(before);
    (fit.report().unwrap().elbo.clone(), moved)
}

#[test]
fn a_program_checks_its_distributions_on_the_device_with_one_read_per_step() {
    let _device = exclusive();
    let (on_cpu, _) = one_thread(|| eight_schools_on(Device::Cpu));
    let (emulated, moved) = one_thread(|| eight_schools_on(Device::Emulated(0)));
    assert_eq!(on_cpu, emulated);
    assert_eq!(on_cpu.len(), 300);
    // Its ten Normals and a HalfCauchy check their parameters at every step: read back one
    // by one, that was 17 copies back per step. Now: the checks' sum, one draw the trace
    // reads, the loss and the finiteness sum (and a few per run).
    assert!(moved.downloads <= 4 * 300 + 20, "{moved:?}");
}

/// A Bernoulli VAE trained for two epochs of `batch`-row minibatches (every row at each step
/// where `batch` is more than the data's rows) on `device` with `data_parallel`, on `threads`
/// threads: its parameters, test ELBO, and what the second epoch copied.
fn vae_across(
    device: Device,
    data_parallel: &[Device],
    threads: usize,
    batch: usize,
) -> (Vec<DMatrix<f32>>, f64, Transfers, usize) {
    let (train, test) = Dataset::<f32>::digits8x8();
    let training = VaeTraining {
        batch_size: batch,
        device,
        data_parallel: data_parallel.to_vec(),
        ..VaeTraining::default()
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    pool.unwrap().install(|| {
        let mut vae = small_digits_vae(training);
        let data = vae.training_data(&train.x).unwrap();
        vae.train_epoch_on(&data, |_| {}).unwrap();
        let before = Transfers::so_far();
        vae.train_epoch_on(&data, |_| {}).unwrap();
        let moved = Transfers::so_far().since(before);
        let elbo = vae.elbo(&test.x, &mut common::rng(1)).unwrap();
        let params = vae.params();
        let values = params.ids().map(|id| params.get(id).clone()).collect();
        (values, elbo, moved, params.num_scalars())
    })
}

#[test]
fn a_vae_trained_across_k_emulated_devices_is_the_cpu_on_k_threads_to_the_bit() {
    let _device = exclusive();
    let rows = Dataset::<f32>::digits8x8().0.x.nrows();
    // Minibatches of 100, and every row at each step (the devices then gather all the rows).
    for (k, batch) in [(2, 100), (3, 100), (2, 2 * rows)] {
        let devices: Vec<Device> = (0..k).map(Device::Emulated).collect();
        let (cpu_params, cpu_elbo, _, _) = vae_across(Device::Cpu, &[], k, batch);
        let (params, elbo, moved, scalars) = vae_across(devices[0], &devices[1..], k, batch);
        // The CPU cuts each batch into k shards of consecutive rows, one per thread; the
        // devices take one each, with the same seeds, and add them in the same tree.
        let case = format!("k = {k}, batch {batch}");
        assert!(
            cpu_params == params,
            "{case}: the trained parameters differ"
        );
        assert_eq!(
            cpu_elbo.to_bits(),
            elbo.to_bits(),
            "{case}: {cpu_elbo} against {elbo}"
        );
        // What that costs, per step: the parameters read back from the first device once and
        // sent to each other one, and each other one's gradients read back and sent to the
        // first; beside that only the row indices and the noise over (8 and 3 x 4 bytes a
        // row), the loss and the finiteness sum back.
        let batch_rows = batch.min(rows) as u64;
        let steps = rows.div_ceil(batch) as u64;
        let theta = (scalars * 4) as u64;
        let others = (k - 1) as u64;
        let (over, back) = (steps * others * 2 * theta, steps * (1 + others) * theta);
        let (indices_and_noise, small) = (steps * batch_rows * 20, steps * 64);
        assert!(
            moved.uploaded_bytes >= over && moved.uploaded_bytes <= over + indices_and_noise,
            "{case}: {moved:?}, expected {over} B over beside indices and noise"
        );
        assert!(
            moved.downloaded_bytes >= back && moved.downloaded_bytes <= back + small,
            "{case}: {moved:?}, expected {back} B back beside the loss"
        );
    }
}

#[test]
fn data_parallel_settings_that_cannot_work_are_refused_before_any_step() {
    let _device = exclusive();
    // A device listed twice.
    let twice = VaeTraining {
        device: Device::Emulated(0),
        data_parallel: vec![Device::Emulated(1), Device::Emulated(0)],
        ..VaeTraining::default()
    };
    let message = twice.validate().unwrap_err().to_string();
    assert!(
        message.contains("emulated:0") && message.contains("listed once"),
        "{message}"
    );
    // A loss that is not a sum over rows: the regression's global guide sees every row.
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model.simulate(3, 60, 0.5, &mut common::rng(1)).unwrap();
    let mut store = ParamStore::<f64>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 3, 0.1).unwrap();
    let svi = Svi::new(model.prior(3).unwrap(), model.likelihood().unwrap(), guide);
    let before = store.get(store.ids().next().unwrap()).clone();
    let fit = |data_parallel: Vec<Device>, store: &mut ParamStore<f64>| {
        let config = SviConfig {
            steps: 5,
            trainer: TrainerSettings {
                batch_size: Some(20),
                device: Device::Emulated(0),
                data_parallel,
                ..TrainerSettings::default()
            },
            ..SviConfig::default()
        };
        svi.fit(
            store,
            &data,
            &mut Adam::default(),
            &config,
            &mut common::rng(2),
        )
    };
    let message = fit(vec![Device::Emulated(1)], &mut store)
        .unwrap_err()
        .to_string();
    assert!(message.contains("sum over rows"), "{message}");
    // A device this build cannot use, among the others.
    if !cfg!(feature = "cuda") {
        let error = fit(vec![Device::Cuda(3)], &mut store).unwrap_err();
        assert!(matches!(error, Error::DeviceUnavailable { .. }), "{error}");
    }
    assert_eq!(
        store.get(store.ids().next().unwrap()),
        &before,
        "no step was taken"
    );
}

/// The kernels one step of the VAE (784-400-20, Bernoulli, batch 128, f32) calls on a
/// device. On a GPU such a step is bound by its launches, so this is the figure the fusions
/// (the KL term, the reparameterised draw, Adam over many matrices at once) were made to
/// lower; a change that splits one of them again shows here without a GPU.
#[test]
fn a_vae_step_at_mnist_shapes_calls_few_kernels_on_a_device() {
    let _device = exclusive();
    let (rows, pixels, batch) = (256, 784, 128);
    let x = DMatrix::from_fn(rows, pixels, |i, j| ((i * 31 + j * 17) % 11) as f32 / 10.0);
    let architecture = VaeArchitecture {
        hidden: vec![400],
        likelihood: VaeLikelihood::Bernoulli,
        ..VaeArchitecture::new(pixels, 20)
    };
    let training = VaeTraining {
        batch_size: batch,
        device: Device::Emulated(0),
        ..VaeTraining::default()
    };
    let mut vae = Vae::<f32>::new(architecture, training, 3).unwrap();
    let data = vae.training_data(&x).unwrap();
    vae.train_epoch_on(&data, |_| {}).unwrap();
    let before = elbo::backend::KernelCalls::so_far();
    vae.train_epoch_on(&data, |_| {}).unwrap();
    let calls = elbo::backend::KernelCalls::so_far().since(before).calls;
    let per_step = calls as f64 / (rows / batch) as f64;
    // 42 after the fusions docs/benchmarks.md lists ("Since this measurement"). Fewer is
    // progress: lower the bound here and the figure there.
    assert!(
        per_step <= 42.0,
        "{per_step} kernel calls a step, where 42 did: an op split into several again?"
    );
}
