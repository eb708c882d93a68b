//! A convolutional VAE built from parts (a strided convolution and a dense layer as the
//! encoder's trunk, a dense layer and a transposed convolution as the decoder), on the 8x8
//! digits: shared by the convolution tests and the device tests.

use elbo::ParamStore;
use elbo::autodiff::Conv2d;
use elbo::guide::GaussianEncoder;
use elbo::likelihood::BernoulliDecoder;
use elbo::nn::{Activation, ConvLayer, Init, Linear, Network, Sequential};
use elbo::prior::StandardNormal;
use elbo::vae::{Vae, VaeTraining};
use rand::SeedableRng;

/// The VAE, its parameters drawn from `seed`, with 4 latent dimensions.
pub fn conv_vae(
    training: VaeTraining,
    seed: u64,
) -> Vae<f64, StandardNormal, BernoulliDecoder<Sequential<f64>>> {
    let g = Conv2d {
        in_channels: 1,
        height: 8,
        width: 8,
        out_channels: 8,
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let mut store = ParamStore::new();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut dense = |store: &mut ParamStore<f64>, name, inputs, outputs, init| {
        Linear::new(store, name, inputs, outputs, init, &mut rng).unwrap()
    };
    let enc_dense = dense(&mut store, "enc.dense", g.output_len(), 64, Init::He);
    let dec_dense = dense(&mut store, "dec.dense", 4, g.output_len(), Init::He);
    let enc_conv = ConvLayer::new(&mut store, "enc.conv", g, Init::He, &mut rng).unwrap();
    let dec_conv = ConvLayer::transposed(&mut store, "dec.conv", g, Init::Xavier, &mut rng);
    let trunk = Sequential::new()
        .then(enc_conv, Activation::Relu)
        .unwrap()
        .then(enc_dense, Activation::Relu)
        .unwrap();
    let trunk: Box<dyn Network<f64>> = Box::new(trunk);
    let encoder =
        GaussianEncoder::new(&mut store, "enc", trunk, 4, Init::Xavier, &mut rng).unwrap();
    let decoder_net = Sequential::new()
        .then(dec_dense, Activation::Relu)
        .unwrap()
        .then(dec_conv.unwrap(), Activation::Identity)
        .unwrap();
    let prior = StandardNormal::new(4).unwrap();
    let decoder = BernoulliDecoder::new(decoder_net);
    let rng = rand_pcg::Pcg64::seed_from_u64(seed ^ 1);
    Vae::from_parts(store, prior, encoder, decoder, training, rng).unwrap()
}
