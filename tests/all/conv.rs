//! Convolutions on the tape: against a naive loop, by finite differences, and the transposed
//! convolution as the convolution's input-gradient.

use super::common;
use super::common::conv_vae::conv_vae;
use elbo::autodiff::{Conv2d, GradCheck, Tape, check_gradients};
use elbo::backend::Device;
use elbo::vae::VaeTraining;
use nalgebra::DMatrix;

fn geometries() -> Vec<Conv2d> {
    let g = |in_channels, height, width, out_channels, kernel, stride, padding| Conv2d {
        in_channels,
        height,
        width,
        out_channels,
        kernel,
        stride,
        padding,
    };
    vec![
        g(1, 5, 5, 1, 3, 1, 0),
        g(2, 6, 5, 3, 3, 2, 1),
        g(3, 4, 4, 2, 2, 2, 0),
        g(1, 8, 8, 4, 3, 2, 1),
        g(2, 3, 3, 2, 3, 1, 2),
    ]
}

/// The convolution by its definition, one output entry at a time.
fn naive(x: &DMatrix<f64>, k: &DMatrix<f64>, g: &Conv2d) -> DMatrix<f64> {
    let (oh, ow) = (g.out_height(), g.out_width());
    DMatrix::from_fn(x.nrows(), g.output_len(), |b, e| {
        let (o, y, xx) = (e / (oh * ow), (e % (oh * ow)) / ow, e % ow);
        let mut total = 0.0;
        for c in 0..g.in_channels {
            for i in 0..g.kernel {
                for j in 0..g.kernel {
                    let row = (y * g.stride + i) as isize - g.padding as isize;
                    let col = (xx * g.stride + j) as isize - g.padding as isize;
                    if row >= 0 && col >= 0 && (row as usize) < g.height && (col as usize) < g.width
                    {
                        let s = c * g.height * g.width + row as usize * g.width + col as usize;
                        total += x[(b, s)] * k[(o, (c * g.kernel + i) * g.kernel + j)];
                    }
                }
            }
        }
        total
    })
}

#[test]
fn convolution_matches_its_definition() {
    for (n, g) in geometries().into_iter().enumerate() {
        let x = common::normal_matrix(3, g.input_len(), n as u64);
        let (ko, ki) = g.kernel_shape();
        let k = common::normal_matrix(ko, ki, 10 + n as u64);
        for device in common::devices() {
            let tape = Tape::<f64>::new().on_device(device).unwrap();
            let y = tape.constant(x.clone()).conv2d(tape.constant(k.clone()), g);
            assert!(
                (&*y.value() - naive(&x, &k, &g)).abs().max() < 1e-12,
                "{device}: {g:?}"
            );
        }
    }
}

#[test]
fn convolution_gradients_match_finite_differences() {
    for (n, g) in geometries().into_iter().enumerate() {
        for device in common::devices() {
            gradients_match_finite_differences(n, g, device);
        }
    }
}

fn gradients_match_finite_differences(n: usize, g: Conv2d, device: Device) {
    let check = GradCheck {
        device,
        ..GradCheck::default()
    };
    let x = common::normal_matrix(2, g.input_len(), 20 + n as u64);
    let (ko, ki) = g.kernel_shape();
    let k = common::normal_matrix(ko, ki, 30 + n as u64);
    let y = common::normal_matrix(2, g.output_len(), 40 + n as u64);
    let weights = common::normal_matrix(2, g.output_len(), 50 + n as u64);
    let weights_in = common::normal_matrix(2, g.input_len(), 60 + n as u64);
    let report = check_gradients(&[x, k.clone()], check, |v| {
        (v[0].conv2d(v[1], g) * v[0].tape().constant(weights.clone())).sum()
    });
    assert!(report.passed(1e-6), "{device}: conv2d {g:?}: {report:?}");
    let report = check_gradients(&[y, k], check, |v| {
        (v[0].conv_transpose2d(v[1], g) * v[0].tape().constant(weights_in.clone())).sum()
    });
    assert!(
        report.passed(1e-6),
        "{device}: conv_transpose2d {g:?}: {report:?}"
    );
}

#[test]
fn the_transposed_convolution_is_the_convolutions_input_gradient() {
    for (n, g) in geometries().into_iter().enumerate() {
        for device in common::devices() {
            transposed_is_the_input_gradient(n, g, device);
        }
    }
}

fn transposed_is_the_input_gradient(n: usize, g: Conv2d, device: Device) {
    let (ko, ki) = g.kernel_shape();
    let k = common::normal_matrix(ko, ki, 70 + n as u64);
    let upstream = common::normal_matrix(3, g.output_len(), 80 + n as u64);
    let tape = Tape::<f64>::new().on_device(device).unwrap();
    let x = tape.input(common::normal_matrix(3, g.input_len(), 90 + n as u64));
    let y = x.conv2d(tape.constant(k.clone()), g);
    let grads = tape.backward((y * tape.constant(upstream.clone())).sum());
    let transposed = tape
        .constant(upstream)
        .conv_transpose2d(tape.constant(k), g);
    let gradient = grads.wrt(x).unwrap();
    assert!(
        (&*transposed.value() - gradient).abs().max() < 1e-12,
        "{g:?}"
    );
}

#[test]
fn geometry_sizes_follow_the_usual_formula() {
    let g = Conv2d {
        in_channels: 1,
        height: 8,
        width: 8,
        out_channels: 4,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    assert_eq!((g.out_height(), g.out_width(), g.output_len()), (4, 4, 64));
    let too_big = Conv2d { kernel: 11, ..g };
    assert!(!too_big.is_valid());
}

#[test]
fn a_convolutional_layer_adds_one_bias_per_channel_and_its_transpose_upsamples() {
    use elbo::ParamStore;
    use elbo::nn::{ConvLayer, Init, Network};
    let g = Conv2d {
        in_channels: 1,
        height: 8,
        width: 8,
        out_channels: 4,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let mut store = ParamStore::<f64>::new();
    let mut rng = common::rng(3);
    let layer = ConvLayer::new(&mut store, "conv", g, Init::He, &mut rng).unwrap();
    let up = ConvLayer::transposed(&mut store, "up", g, Init::He, &mut rng).unwrap();
    let (kernel, bias) = layer.params();
    store
        .set(bias, DMatrix::from_row_slice(1, 4, &[1.0, 2.0, 3.0, 4.0]))
        .unwrap();
    let x = common::normal_matrix(2, 64, 4);
    let tape = Tape::for_evaluation(&store);
    let y = Network::<f64>::forward(&layer, tape.constant(x.clone()));
    let plain = tape.constant(x).conv2d(tape.param(kernel), g);
    let difference = &*y.value() - &*plain.value();
    for e in 0..64 {
        assert!((difference[(1, e)] - (1 + e / 16) as f64).abs() < 1e-12);
    }
    let back = Network::<f64>::forward(&up, y);
    assert_eq!(back.shape(), (2, 64));
    assert_eq!(
        (Network::<f64>::inputs(&up), Network::<f64>::outputs(&up)),
        (64, 64)
    );
    let bad = Conv2d { kernel: 20, ..g };
    assert!(ConvLayer::new(&mut store, "bad", bad, Init::He, &mut rng).is_err());
}

/// The convolutional VAE of `common/conv_vae.rs` trains on the digits through the same VAE
/// and engine as the dense one: its held-out ELBO rises.
#[test]
fn a_convolutional_vae_trains_on_the_digits() {
    let (train, test) = elbo::data::Dataset::<f64>::digits8x8();
    let train = train.x.rows(0, 600).into_owned();
    let training = VaeTraining {
        batch_size: 50,
        learning_rate: 3e-3,
        ..VaeTraining::default()
    };
    let mut vae = conv_vae(training, 5);
    let mut eval = common::rng(6);
    let before = vae.elbo(&test.x, &mut eval).unwrap();
    for _ in 0..15 {
        vae.train_epoch(&train, |_| {}).unwrap();
    }
    let after = vae.elbo(&test.x, &mut eval).unwrap();
    println!("held-out ELBO per image: {before} -> {after}");
    assert!(after > before + 5.0, "{before} -> {after}");
}
