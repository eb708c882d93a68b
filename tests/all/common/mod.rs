//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod conv_vae;
pub mod sweep;

use elbo::backend::Device;
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Held while a test runs on a device: the counts of copies and kernel calls are the
/// process's, and every test module shares this one process, so a test that reads them must
/// not share the devices with another.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static DEVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    DEVICE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The devices a test runs on, with the devices held ([`exclusive`]) until the last is done.
pub struct Devices {
    _held: std::sync::MutexGuard<'static, ()>,
    devices: std::vec::IntoIter<Device>,
}

impl Iterator for Devices {
    type Item = Device;
    fn next(&mut self) -> Option<Device> {
        self.devices.next()
    }
}

/// Where the device tests run: the CPU, the emulated device (the device code path with the CPU's
/// kernels) and, in a `cuda` build on a machine that has one, the first GPU. Where the GPU is
/// missing, the test says so on stderr and runs on the other two.
pub fn devices() -> Devices {
    let held = exclusive();
    let mut devices = vec![Device::Cpu, Device::Emulated(0)];
    devices.extend(gpu());
    Devices {
        _held: held,
        devices: devices.into_iter(),
    }
}

/// The first GPU, in a `cuda` build on a machine that has one.
pub fn gpu() -> Option<Device> {
    if !cfg!(feature = "cuda") {
        return None;
    }
    match Device::Cuda(0).check() {
        Ok(()) => Some(Device::Cuda(0)),
        Err(e) => {
            eprintln!("skipped on the GPU: {e}");
            None
        }
    }
}

/// The crate's reproducible generator, seeded.
pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

/// A `rows x cols` matrix of standard normal draws.
pub fn normal_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    let mut r = rng(seed);
    DMatrix::from_fn(rows, cols, |_, _| elbo::Real::standard_normal(&mut r))
}

/// A random lower-triangular factor with diagonal in [0.3, 1.8], giving a well-conditioned
/// covariance.
pub fn random_tril(d: usize, seed: u64) -> DMatrix<f64> {
    let a = normal_matrix(d, d, seed);
    DMatrix::from_fn(d, d, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Greater => 0.5 * a[(i, j)],
        std::cmp::Ordering::Equal => 0.3 + 1.5 / (1.0 + (-a[(i, j)]).exp()),
        std::cmp::Ordering::Less => 0.0,
    })
}

/// A row vector from a `DVector`.
pub fn row(v: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_row_slice(1, v.len(), v.as_slice())
}

/// Proptest settings with a fixed seed, so that every run checks the same cases (statistical
/// assertions stay reproducible) and no regression files are written.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_e1b0),
        failure_persistence: None,
        ..Default::default()
    }
}

use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::{ParamStore, Real};

/// Sets a diagonal guide to N(mean, diag sd²).
pub fn set_diag<T: Real>(
    store: &mut ParamStore<T>,
    guide: &DiagGaussianGuide,
    mean: &DVector<f64>,
    sd: &DVector<f64>,
) {
    let (m, s) = guide.params();
    store.set(m, row(mean).map(T::of_f64)).unwrap();
    store.set(s, row(&sd.map(f64::ln)).map(T::of_f64)).unwrap();
}

/// Sets a full-rank guide to N(mean, covariance).
pub fn set_full<T: Real>(
    store: &mut ParamStore<T>,
    guide: &FullRankGaussianGuide,
    mean: &DVector<f64>,
    covariance: &DMatrix<f64>,
) {
    let l = covariance.clone().cholesky().unwrap().l();
    guide
        .set(store, &mean.map(T::of_f64), &l.map(T::of_f64))
        .unwrap();
}

/// Mean and standard error of a sample.
pub fn mean_and_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}
