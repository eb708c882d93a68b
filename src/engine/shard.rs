//! A loss and its gradient on one minibatch, cut into data-parallel shards where the loss
//! allows it.

use super::loss::{Batch, Loss};
use super::sharding::{shard_count, shard_rows};
use super::training_data::recycle;
use crate::autodiff::{Gradients, Tape};
use crate::backend::{Device, Placed};
use crate::error::Result;
use crate::kernels::{row_block, with_product_threads};
use crate::params::ParamStore;
use crate::real::Real;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

/// The loss on `batch` and its gradient with respect to the parameters marked in `trainable`,
/// on a tape of its own on `device`.
pub(crate) fn differentiate<T, L, R>(
    loss: &L,
    store: &ParamStore<T>,
    trainable: &[bool],
    batch: &Batch<'_, T>,
    rng: &mut R,
    device: Device,
) -> Result<(T, Gradients<T>)>
where
    T: Real,
    L: Loss<T> + ?Sized,
    R: Rng + ?Sized,
{
    let tape = Tape::for_group(store, trainable).on_device(device)?;
    let value = loss.loss(&tape, batch, rng)?;
    // `try_backward` settles the distributions' deferred checks and returns a device's failure
    // in the pass (the ops after it computed shapes only) as the error. It is queued before the
    // loss is read: on a GPU, reading the loss first would wait for the forward pass to finish
    // and leave the device idle while the host then queued the backward pass.
    let grads = tape.try_backward(value)?;
    Ok((value.try_scalar()?, grads))
}

/// [`differentiate`] over the whole batch, in shards when the loss is a sum over rows and the
/// tape runs on the CPU.
///
/// The batch is cut into shards of consecutive rows, one per thread of rayon's pool (each at
/// least [`MIN_SHARD_ROWS`](super::sharding::MIN_SHARD_ROWS) rows); each shard is differentiated on its own tape with its own
/// generator seeded from `rng`. When the shards are fewer than the threads, each shard's large
/// products are split over its share of them. The values and gradients are then added pairwise
/// in a fixed tree (shards 0 + 1, 2 + 3, ..., then those sums pairwise), the pairs of a level in
/// parallel, so that merging 16 shards costs four rounds, not fifteen. The numbers depend on
/// the seed and on the number of threads, not on the scheduling.
pub(crate) fn loss_and_gradients<T, L, R>(
    loss: &L,
    store: &ParamStore<T>,
    trainable: &[bool],
    batch: &Batch<'_, T>,
    rng: &mut R,
    device: Device,
) -> Result<(T, Gradients<T>)>
where
    T: Real,
    L: Loss<T> + ?Sized,
    R: Rng + ?Sized,
{
    let rows = batch.x.nrows();
    let threads = rayon::current_num_threads();
    let shards = if loss.row_separable() && device == Device::Cpu {
        shard_count(rows, threads)
    } else {
        1
    };
    if shards == 1 {
        return differentiate(loss, store, trainable, batch, rng, device);
    }
    let share = threads / shards;
    summed_over_shards(shards, rng, |s, rng| {
        // Each shard copies its own rows, on its own thread.
        let range = shard_rows(s, shards, rows);
        let part = Placed::from(row_block(batch.x.host(), range.start, range.len()));
        let shard = Batch { x: &part, ..*batch };
        let outcome = with_product_threads(share, || {
            differentiate(loss, store, trainable, &shard, rng, device)
        });
        recycle(part);
        outcome
    })
}

/// The loss and its gradient over a minibatch that is already cut into shards, each on the
/// device it is differentiated on (data-parallel training: `shards[s].x` lives on
/// `devices[s]`), summed as [`loss_and_gradients`] sums its shards, and the gradients then
/// moved to `home`, where the parameters and the optimizer are. Cut it with `shard_count`
/// shards, as the CPU cuts its batches over its threads.
///
/// Each shard's tape loads the parameters from the store on `home` (through the host, once
/// per step for every other device); each shard's gradients go to the device of the shard it
/// is added to. With the same shards and seeds, this is [`loss_and_gradients`]'s computation
/// on the CPU with one thread per shard, to the bit on emulated devices.
pub(crate) fn across_devices<T, L, R>(
    loss: &L,
    store: &ParamStore<T>,
    trainable: &[bool],
    shards: &[Batch<'_, T>],
    devices: &[Device],
    rng: &mut R,
    home: Device,
) -> Result<(T, Gradients<T>)>
where
    T: Real,
    L: Loss<T> + ?Sized,
    R: Rng + ?Sized,
{
    // One shard is the whole batch on the first device, differentiated as on one device.
    let (value, mut grads) = match shards {
        [whole] => differentiate(loss, store, trainable, whole, rng, devices[0])?,
        _ => summed_over_shards(shards.len(), rng, |s, rng| {
            differentiate(loss, store, trainable, &shards[s], rng, devices[s])
        })?,
    };
    grads.move_to(home)?;
    Ok((value, grads))
}

/// `shards` differentiations (`shard(s, rng)` for shard `s`, each with its own generator
/// seeded from `rng`), run on rayon's pool, their values and gradients added pairwise in a
/// fixed tree (shards 0 + 1, 2 + 3, ..., then those sums pairwise), the pairs of a level in
/// parallel: merging 16 shards costs four rounds, not fifteen, and the numbers depend on the
/// seed and the shard count, not on the scheduling.
fn summed_over_shards<T, R, F>(shards: usize, rng: &mut R, shard: F) -> Result<(T, Gradients<T>)>
where
    T: Real,
    R: Rng + ?Sized,
    F: Fn(usize, &mut Pcg64) -> Result<(T, Gradients<T>)> + Sync,
{
    let seeds: Vec<u64> = (0..shards).map(|_| rng.next_u64()).collect();
    let mut level = seeds
        .into_par_iter()
        .enumerate()
        .map(|(s, seed)| shard(s, &mut Pcg64::seed_from_u64(seed)))
        .collect::<Result<Vec<_>>>()?;
    // Pairs merged on the pool while there are more than two; the last pair from the caller,
    // where the additions spread over every thread.
    while level.len() > 2 {
        level = level
            .into_par_iter()
            .chunks(2)
            .map(merged)
            .collect::<Result<Vec<_>>>()?;
    }
    merged(level)
}

/// The sum of one or two shards' values and gradients. A device failing at a copy or an
/// addition is the step's error.
fn merged<T: Real>(shards: Vec<(T, Gradients<T>)>) -> Result<(T, Gradients<T>)> {
    let mut shards = shards.into_iter();
    let (value, mut grads) = shards.next().expect("a level is never empty");
    let Some((other_value, other)) = shards.next() else {
        return Ok((value, grads));
    };
    grads.add(other)?;
    Ok((value + other_value, grads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sharding::MIN_SHARD_ROWS;
    use crate::guide::GaussianEncoder;
    use crate::infer::{Objective, Svi};
    use crate::likelihood::BernoulliDecoder;
    use crate::nn::{Activation, Init, Mlp};
    use crate::params::ParamId;
    use crate::prior::StandardNormal;
    use nalgebra::DMatrix;

    type Vae = Svi<StandardNormal, BernoulliDecoder, GaussianEncoder>;

    /// A small VAE (6 pixels, 2 latents), `rows` data rows in [0, 1], and the decoder's output
    /// bias.
    fn small_vae(rows: usize) -> (Vae, ParamStore<f64>, Placed<f64>, ParamId) {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut store = ParamStore::new();
        let (relu, id) = (Activation::Relu, Activation::Identity);
        let trunk = Mlp::new(&mut store, "enc", &[6, 5], relu, relu, Init::He, &mut rng).unwrap();
        let encoder =
            GaussianEncoder::new(&mut store, "q", trunk, 2, Init::Xavier, &mut rng).unwrap();
        let net = Mlp::new(&mut store, "dec", &[2, 5, 6], relu, id, Init::He, &mut rng).unwrap();
        let bias = store
            .ids()
            .find(|&i| store.name(i) == "dec.1.bias")
            .unwrap();
        let svi = Svi::new(
            StandardNormal::new(2).unwrap(),
            BernoulliDecoder::new(net),
            encoder,
        );
        let x = DMatrix::from_fn(rows, 6, |i, j| ((i * 7 + j * 3) % 5) as f64 / 4.0);
        (svi, store, Placed::from(x), bias)
    }

    fn batch<T: Real>(x: &Placed<T>, scale: T) -> Batch<'_, T> {
        Batch {
            x,
            scale,
            step: 0,
            steps_per_epoch: 1,
            group: 0,
        }
    }

    fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.unwrap().install(f)
    }

    #[test]
    fn a_sharded_step_is_the_pairwise_sum_of_its_shards_each_on_its_own_generator() {
        let (svi, store, x, bias) = small_vae(4 * MIN_SHARD_ROWS);
        let objective = Objective::default();
        let all = vec![true; store.len()];
        let (value, grads) = on_threads(4, || {
            let mut rng = Pcg64::seed_from_u64(11);
            loss_and_gradients(
                &svi.loss(objective),
                &store,
                &all,
                &batch(&x, 10.0),
                &mut rng,
                Device::Cpu,
            )
            .unwrap()
        });
        // By hand: four shards of consecutive rows, generators seeded by four draws, added as
        // (0 + 1) + (2 + 3).
        let mut rng = Pcg64::seed_from_u64(11);
        let seeds: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        let shards: Vec<(f64, DMatrix<f64>)> = seeds
            .into_iter()
            .enumerate()
            .map(|(s, seed)| {
                let part = Placed::from(row_block(x.host(), MIN_SHARD_ROWS * s, MIN_SHARD_ROWS));
                let mut shard_rng = Pcg64::seed_from_u64(seed);
                let (v, g) = differentiate(
                    &svi.loss(objective),
                    &store,
                    &all,
                    &batch(&part, 10.0),
                    &mut shard_rng,
                    Device::Cpu,
                )
                .unwrap();
                (v, g.param(bias).unwrap().clone())
            })
            .collect();
        let pair = |a: &(f64, DMatrix<f64>), b: &(f64, DMatrix<f64>)| (a.0 + b.0, &a.1 + &b.1);
        let (want_value, want_grad) =
            pair(&pair(&shards[0], &shards[1]), &pair(&shards[2], &shards[3]));
        assert_eq!(value, want_value);
        assert_eq!(grads.param(bias).unwrap(), &want_grad);
    }

    #[test]
    fn shards_on_as_many_devices_sum_to_the_cpus_threads_to_the_bit() {
        // Emulated devices run the CPU's kernels, so one shard on each of k devices must give
        // the CPU's k-thread step exactly: the same rows, seeds and merge tree.
        for k in [2, 3, 4] {
            let (svi, mut store, x, bias) = small_vae(k * MIN_SHARD_ROWS + 5);
            let objective = Objective::default();
            let all = vec![true; store.len()];
            let on_threads_value = on_threads(k, || {
                let mut rng = Pcg64::seed_from_u64(5);
                let (v, g) = loss_and_gradients(
                    &svi.loss(objective),
                    &store,
                    &all,
                    &batch(&x, 3.0),
                    &mut rng,
                    Device::Cpu,
                )
                .unwrap();
                (v, g.param(bias).unwrap().clone(), rng.next_u64())
            });
            let devices: Vec<Device> = (0..k).map(Device::Emulated).collect();
            store.move_to(devices[0]).unwrap();
            let rows = x.nrows();
            let parts: Vec<Placed<f64>> = (0..k)
                .map(|s| {
                    let (start, end) = (s * rows / k, (s + 1) * rows / k);
                    let mut part = Placed::from(row_block(x.host(), start, end - start));
                    part.move_to(devices[s]).unwrap();
                    part
                })
                .collect();
            let shards: Vec<Batch<'_, f64>> = parts.iter().map(|p| batch(p, 3.0)).collect();
            let mut rng = Pcg64::seed_from_u64(5);
            let (value, grads) = across_devices(
                &svi.loss(objective),
                &store,
                &all,
                &shards,
                &devices,
                &mut rng,
                devices[0],
            )
            .unwrap();
            assert_eq!(value, on_threads_value.0, "k = {k}");
            let placed = grads.placed(bias).unwrap();
            assert_eq!(placed.device(), devices[0], "the gradient is moved home");
            assert_eq!(placed.host(), &on_threads_value.1, "k = {k}");
            assert!(grads.iter_placed().all(|(_, g)| g.device() == devices[0]));
            // The caller's generator moved on by the same draws.
            assert_eq!(rng.next_u64(), on_threads_value.2);
        }
    }

    #[test]
    fn sharding_leaves_the_gradient_unbiased() {
        // The mean over many seeds of the decoder bias's gradient, on one thread (one tape) and
        // on two (two shards), must agree within the Monte Carlo error of their difference.
        let (svi, store, x, bias) = small_vae(2 * MIN_SHARD_ROWS);
        let objective = Objective::default();
        let all = vec![true; store.len()];
        let draws = 400;
        let gradients = |threads: usize| -> Vec<DMatrix<f64>> {
            on_threads(threads, || {
                (0..draws)
                    .map(|seed| {
                        let mut rng = Pcg64::seed_from_u64(seed);
                        let (_, g) = loss_and_gradients(
                            &svi.loss(objective),
                            &store,
                            &all,
                            &batch(&x, 1.0),
                            &mut rng,
                            Device::Cpu,
                        )
                        .unwrap();
                        g.param(bias).unwrap().clone()
                    })
                    .collect()
            })
        };
        let (one, two) = (gradients(1), gradients(2));
        for j in 0..6 {
            let diffs: Vec<f64> = one.iter().zip(&two).map(|(a, b)| a[j] - b[j]).collect();
            let mean = diffs.iter().sum::<f64>() / draws as f64;
            let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws - 1) as f64;
            let se = (var / draws as f64).sqrt();
            assert!(
                mean.abs() < 4.0 * se + 1e-12,
                "column {j}: {mean} vs se {se}"
            );
        }
    }

    /// One step of the small VAE on the emulated device, with Adam; `Ok` or the run's error.
    fn one_step(svi: &Vae, store: &mut ParamStore<f64>, x: &Placed<f64>) -> Result<()> {
        use crate::engine::{ParamGroup, Trainer, TrainerSettings};
        let settings = TrainerSettings {
            device: Device::Emulated(0),
            ..TrainerSettings::default()
        };
        let group = ParamGroup::all("all", store, crate::optim::Adam::default());
        let mut trainer = Trainer::new(settings, vec![group])?;
        let mut rng = Pcg64::seed_from_u64(5);
        let loss = svi.loss(Objective::default());
        trainer
            .run(&loss, store, x.host(), &mut rng, 1, &mut [])
            .map(drop)
    }

    #[test]
    fn a_device_failing_anywhere_in_a_step_is_the_steps_error_and_the_store_is_untouched() {
        use crate::backend::faults;
        let (svi, store, x, _) = small_vae(40);
        let values = |store: &ParamStore<f64>| -> Vec<DMatrix<f64>> {
            store.ids().map(|id| store.get(id).clone()).collect()
        };
        let before = values(&store);
        // A whole step's kernel calls, counted on this thread.
        let calls = {
            let mut store = store.clone();
            let start = faults::calls();
            one_step(&svi, &mut store, &x).unwrap();
            assert_ne!(values(&store), before, "a step moves the parameters");
            faults::calls() - start
        };
        assert!(calls > 10, "{calls}");
        // The first call, one in the forward pass, one in the backward pass, the last (Adam).
        for at in [1, calls / 3, 2 * calls / 3, calls] {
            let mut store = store.clone();
            let outcome = {
                let _failing = faults::fail_at(at);
                one_step(&svi, &mut store, &x)
            };
            let message = outcome.expect_err("the step fails").to_string();
            assert_eq!(
                message, "emulated:0 failed at a kernel: a failure injected by a test",
                "failing at call {at} of {calls}"
            );
            assert_eq!(values(&store), before, "failing at call {at} of {calls}");
        }
    }

    #[test]
    fn a_tape_whose_device_failed_runs_on_to_the_end_and_returns_the_failure() {
        use crate::autodiff::Tape;
        use crate::backend::faults;
        let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
        let x = tape.input(DMatrix::from_fn(3, 2, |i, j| i as f64 - j as f64));
        // The product runs; the exponential fails; the rest has the right shapes and no values.
        let y = {
            let _failing = faults::fail_at(2);
            (x * x).exp().matmul(tape.filled(2, 4, 1.0))
        };
        assert_eq!(y.shape(), (3, 4));
        let loss = y.sum();
        assert!(loss.scalar().is_nan());
        let message = tape.check().unwrap_err().to_string();
        assert_eq!(
            message,
            "emulated:0 failed at a kernel: a failure injected by a test"
        );
        assert_eq!(tape.try_backward(loss).unwrap_err().to_string(), message);
    }

    #[test]
    #[should_panic(expected = "emulated:0 failed at a kernel: a failure injected by a test")]
    fn backward_on_a_tape_whose_device_failed_in_its_sweep_panics_with_the_error() {
        use crate::autodiff::Tape;
        use crate::backend::faults;
        let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
        let x = tape.input(DMatrix::from_element(2, 2, 0.5));
        let loss = (x * x).exp().sum();
        // The sweep's second kernel call fails.
        let _failing = faults::fail_at(2);
        tape.backward(loss);
    }
}
