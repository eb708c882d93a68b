//! One SVI step (tape, ELBO with one particle, backward, Adam update) on the two conjugate
//! models, in f32 and f64, timed inside the engine's loop (`Trainer::run` over as many steps as
//! criterion asks for, so the per-run checks of the data are spread over them, as in a fit):
//! (a) Gaussian mean, d = 10, N = 100, diagonal guide;
//! (b) linear regression, p = 20, N = 500, correlated features, full-rank guide.
//!
//! `cargo bench --bench svi_step`

use criterion::{Criterion, criterion_group, criterion_main};
use elbo::conjugate::{GaussianMean, LinearRegression};
use elbo::engine::{ParamGroup, Trainer, TrainerSettings};
use elbo::guide::{DiagGaussianGuide, FullRankGaussianGuide};
use elbo::infer::{Objective, Svi};
use elbo::model::{Guide, Likelihood, Prior};
use elbo::optim::{Adam, LearningRate};
use elbo::{ParamStore, Real};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::hint::black_box;

fn bench_steps<T, P, L, G>(
    c: &mut Criterion,
    name: &str,
    svi: Svi<P, L, G>,
    mut store: ParamStore<T>,
    data: DMatrix<f64>,
) where
    T: Real,
    P: Prior<T>,
    L: Likelihood<T>,
    G: Guide<T>,
{
    let data = data.map(T::of_f64);
    let group = ParamGroup::all("all", &store, Adam::default())
        .with_learning_rate(LearningRate::Constant(1e-3));
    let mut trainer = Trainer::new(TrainerSettings::default(), vec![group]).unwrap();
    let loss = svi.loss(Objective::default());
    let mut rng = Pcg64::seed_from_u64(1);
    let precision = std::any::type_name::<T>();
    c.bench_function(&format!("{name}/{precision}"), |b| {
        b.iter_custom(|steps| {
            let start = std::time::Instant::now();
            let run = trainer.run(&loss, &mut store, &data, &mut rng, steps as usize, &mut []);
            black_box(run.unwrap());
            start.elapsed()
        })
    });
}

fn gaussian_mean<T: Real>(c: &mut Criterion) {
    let model = GaussianMean::new(1.0).unwrap();
    let (_, data) = model
        .simulate(10, 100, &mut Pcg64::seed_from_u64(0))
        .unwrap();
    let mut store = ParamStore::<T>::new();
    let guide = DiagGaussianGuide::new(&mut store, "q", 10, T::of_f64(0.1)).unwrap();
    let svi = Svi::new(
        model.prior(10).unwrap(),
        model.likelihood::<T>(10).unwrap(),
        guide,
    );
    bench_steps(c, "svi_step/gaussian_mean_d10_n100_diag", svi, store, data);
}

fn linear_regression<T: Real>(c: &mut Criterion) {
    let model = LinearRegression::new(0.5).unwrap();
    let (_, data) = model
        .simulate(20, 500, 0.5, &mut Pcg64::seed_from_u64(0))
        .unwrap();
    let mut store = ParamStore::<T>::new();
    let guide = FullRankGaussianGuide::new(&mut store, "q", 20, T::of_f64(0.1)).unwrap();
    let svi = Svi::new(
        model.prior(20).unwrap(),
        model.likelihood::<T>().unwrap(),
        guide,
    );
    bench_steps(c, "svi_step/linreg_p20_n500_full", svi, store, data);
}

fn all(c: &mut Criterion) {
    gaussian_mean::<f32>(c);
    gaussian_mean::<f64>(c);
    linear_regression::<f32>(c);
    linear_regression::<f64>(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
