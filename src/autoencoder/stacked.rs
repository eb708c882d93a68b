//! Greedy layer-wise pretraining (stacked autoencoders): one shallow autoencoder per layer,
//! each trained on the codes of the one below, assembled into the deep autoencoder that is
//! then fine-tuned as a whole.

use super::network::{Autoencoder, AutoencoderConfig};
use super::objective::{AutoencoderLoss, Objective};
use crate::error::Result;
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// Pretrains `deep`'s layers one at a time and writes them into `store`.
///
/// Layer k is learned by a shallow autoencoder n_k → n_{k+1} → n_k with `deep`'s activation
/// for that layer as its code and, as its output, the activation of what it reconstructs (the
/// deep decoder's output for the data; the layer below's activation for codes). It trains on
/// the clean codes of the layers below, corrupted by `objective`'s corruption if any (a
/// stacked denoising autoencoder corrupts each layer's own input). `fit` runs the training —
/// given the loss, the shallow store, its data and the generator —
/// through the engine, with whatever optimizer, schedule and budget the caller chooses. The
/// deep encoder layer k takes the shallow encoder's weights and bias; the mirror decoder layer
/// takes the transpose of those weights (unless tied) and the shallow decoder's bias.
///
/// # Errors
/// What building the shallow autoencoders or `fit` reports.
pub fn pretrain_layerwise<T, R, F>(
    deep: &Autoencoder,
    store: &mut ParamStore<T>,
    objective: Objective,
    data: &DMatrix<T>,
    rng: &mut R,
    mut fit: F,
) -> Result<()>
where
    T: Real,
    R: Rng + ?Sized,
    F: FnMut(&AutoencoderLoss<'_, T>, &mut ParamStore<T>, &DMatrix<T>, &mut R) -> Result<()>,
{
    let depth = deep.depth();
    let mut input = data.clone();
    for k in 0..depth {
        let layer = &deep.encoder_layers()[k];
        let output = if k == 0 {
            deep.decoder_activation(depth - 1)
        } else {
            deep.encoder_activation(k - 1)
        };
        let config = AutoencoderConfig {
            sizes: vec![layer.inputs(), layer.outputs()],
            hidden: deep.encoder_activation(k),
            code: deep.encoder_activation(k),
            output,
            tied: false,
            init: crate::nn::Init::ForActivation,
        };
        let mut shallow_store = ParamStore::new();
        let shallow = Autoencoder::new(&mut shallow_store, &format!("layer{k}"), &config, rng)?;
        let range = (input.min(), input.max());
        let loss = AutoencoderLoss {
            autoencoder: &shallow,
            objective,
            range,
        };
        fit(&loss, &mut shallow_store, &input, rng)?;
        let (weight, bias) = shallow.encoder_layers()[0].params();
        let (weight, bias) = (
            shallow_store.get(weight).clone(),
            shallow_store.get(bias).clone(),
        );
        let (deep_weight, deep_bias) = layer.params();
        store.set(deep_weight, weight.clone())?;
        store.set(deep_bias, bias)?;
        let (mirror_weight, mirror_bias) = deep.decoder_layer_params(depth - 1 - k);
        if let Some(id) = mirror_weight {
            store.set(id, weight.transpose())?;
        }
        let shallow_decoder_bias = shallow.decoder_layer_params(0).1;
        store.set(mirror_bias, shallow_store.get(shallow_decoder_bias).clone())?;
        input = shallow.codes(&shallow_store, &input);
    }
    Ok(())
}
