//! The encoder and decoder: stacks of affine layers with activations, the decoder free or tied
//! to the encoder's weights.

use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::nn::{Activation, Init, Linear};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// The shape of an autoencoder.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoencoderConfig {
    /// Layer sizes from the input to the code: `[D, h₁, …, K]`. The decoder mirrors them. A
    /// code K < D is undercomplete, K > D overcomplete.
    pub sizes: Vec<usize>,
    /// Activation of the hidden layers (encoder and decoder).
    pub hidden: Activation,
    /// Activation of the code layer.
    pub code: Activation,
    /// Activation of the reconstruction (the logistic for data in [0, 1] with the
    /// cross-entropy; the identity for the squared error on any data).
    pub output: Activation,
    /// Tied weights: each decoder layer uses the transpose of its mirror encoder layer's
    /// weights (W₂ = W₁ᵀ), with a bias of its own.
    pub tied: bool,
    /// Weight initialisation.
    pub init: Init,
}

impl AutoencoderConfig {
    /// A one-hidden-layer autoencoder D → K → D: `code` activation, identity output, untied.
    pub fn shallow(inputs: usize, code: usize, activation: Activation) -> Self {
        AutoencoderConfig {
            sizes: vec![inputs, code],
            hidden: activation,
            code: activation,
            output: Activation::Identity,
            tied: false,
            init: Init::ForActivation,
        }
    }
}

/// A decoder layer: weights of its own, or the transpose of an encoder layer's.
#[derive(Clone, Debug)]
enum DecoderLayer {
    Free(Linear),
    Tied { weight: ParamId, bias: ParamId },
}

/// An autoencoder: encoder layers (input to code) and decoder layers (code to output).
#[derive(Clone, Debug)]
pub struct Autoencoder {
    encoder: Vec<Linear>,
    decoder: Vec<DecoderLayer>,
    hidden: Activation,
    code: Activation,
    output: Activation,
}

/// One layer's pre-activations and activations, as the Jacobian of the encoder needs them.
pub(crate) struct LayerTrace<'t, T: Real> {
    pub(crate) pre: Var<'t, T>,
    pub(crate) post: Var<'t, T>,
    pub(crate) weight: Var<'t, T>,
    pub(crate) activation: Activation,
}

impl Autoencoder {
    /// Registers the layers in `store` as `{name}.encoder.k` and `{name}.decoder.k`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than two sizes or a size of 0;
    /// [`Error::Parameter`] if a name is taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        config: &AutoencoderConfig,
        rng: &mut R,
    ) -> Result<Self> {
        let sizes = &config.sizes;
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::invalid(
                "autoencoder sizes",
                format!("{sizes:?}"),
                "an input and a code size (and any hidden sizes), each at least 1",
            ));
        }
        let depth = sizes.len() - 1;
        let activation_of = |k: usize| {
            if k + 1 == depth {
                config.code
            } else {
                config.hidden
            }
        };
        let encoder = (0..depth)
            .map(|k| {
                let init = config.init.resolve(activation_of(k));
                Linear::new(
                    store,
                    &format!("{name}.encoder.{k}"),
                    sizes[k],
                    sizes[k + 1],
                    init,
                    rng,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..depth)
            .map(|k| {
                // Decoder layer k maps sizes[depth − k] to sizes[depth − k − 1].
                let (from, to) = (sizes[depth - k], sizes[depth - k - 1]);
                let activation = if k + 1 == depth {
                    config.output
                } else {
                    config.hidden
                };
                let layer_name = format!("{name}.decoder.{k}");
                if config.tied {
                    let weight = encoder[depth - 1 - k].params().0;
                    let bias = store.add(format!("{layer_name}.bias"), DMatrix::zeros(1, to))?;
                    Ok(DecoderLayer::Tied { weight, bias })
                } else {
                    let init = config.init.resolve(activation);
                    Ok(DecoderLayer::Free(Linear::new(
                        store,
                        &layer_name,
                        from,
                        to,
                        init,
                        rng,
                    )?))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Autoencoder {
            encoder,
            decoder,
            hidden: config.hidden,
            code: config.code,
            output: config.output,
        })
    }

    /// Input columns D.
    pub fn inputs(&self) -> usize {
        self.encoder[0].inputs()
    }

    /// Code units K.
    pub fn code_size(&self) -> usize {
        self.encoder[self.encoder.len() - 1].outputs()
    }

    /// The code layer's activation.
    pub fn code_activation(&self) -> Activation {
        self.code
    }

    /// The weight matrices (not the biases), each once: what weight decay penalises.
    pub fn weights(&self) -> Vec<ParamId> {
        let mut ids: Vec<ParamId> = self.encoder.iter().map(|l| l.params().0).collect();
        for layer in &self.decoder {
            if let DecoderLayer::Free(l) = layer {
                ids.push(l.params().0);
            }
        }
        ids
    }

    /// The encoder layers (for stacking and inspection).
    pub fn encoder_layers(&self) -> &[Linear] {
        &self.encoder
    }

    /// Decoder layer k's parameters (k = 0 reads the code): its weight if it has its own
    /// (`None` when tied), and its bias.
    pub fn decoder_layer_params(&self, k: usize) -> (Option<ParamId>, ParamId) {
        match &self.decoder[k] {
            DecoderLayer::Free(l) => (Some(l.params().0), l.params().1),
            DecoderLayer::Tied { bias, .. } => (None, *bias),
        }
    }

    /// Encoder layers and decoder layers (= encoder layers).
    pub fn depth(&self) -> usize {
        self.encoder.len()
    }

    /// The activation after encoder layer k.
    pub fn encoder_activation(&self, k: usize) -> Activation {
        if k + 1 == self.encoder.len() {
            self.code
        } else {
            self.hidden
        }
    }

    /// The activation after decoder layer k.
    pub fn decoder_activation(&self, k: usize) -> Activation {
        if k + 1 == self.decoder.len() {
            self.output
        } else {
            self.hidden
        }
    }

    /// f(x) with every layer's pre-activation and activation.
    pub(crate) fn encode_layers<'t, T: Real>(&self, x: Var<'t, T>) -> Vec<LayerTrace<'t, T>> {
        let tape = x.tape();
        let depth = self.encoder.len();
        let mut h = x;
        let mut layers = Vec::with_capacity(depth);
        for (k, layer) in self.encoder.iter().enumerate() {
            let activation = if k + 1 == depth {
                self.code
            } else {
                self.hidden
            };
            let pre = layer.forward(h);
            h = activation.apply(pre);
            layers.push(LayerTrace {
                pre,
                post: h,
                weight: tape.param(layer.params().0),
                activation,
            });
        }
        layers
    }

    /// The code f(x) (`B x K`).
    pub fn encode<'t, T: Real>(&self, x: Var<'t, T>) -> Var<'t, T> {
        self.encode_layers(x)
            .last()
            .expect("at least one layer")
            .post
    }

    /// The decoder's last pre-activation and the reconstruction g(h).
    pub(crate) fn decode_parts<'t, T: Real>(&self, code: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        let tape = code.tape();
        let depth = self.decoder.len();
        let mut h = code;
        let mut pre = code;
        for (k, layer) in self.decoder.iter().enumerate() {
            pre = match layer {
                DecoderLayer::Free(l) => l.forward(h),
                DecoderLayer::Tied { weight, bias } => {
                    h.matmul_t(tape.param(*weight)) + tape.param(*bias)
                }
            };
            let activation = if k + 1 == depth {
                self.output
            } else {
                self.hidden
            };
            h = activation.apply(pre);
        }
        (pre, h)
    }

    /// The reconstruction g(h) of codes `h`.
    pub fn decode<'t, T: Real>(&self, code: Var<'t, T>) -> Var<'t, T> {
        self.decode_parts(code).1
    }

    /// The output activation.
    pub fn output_activation(&self) -> Activation {
        self.output
    }

    /// Codes of the rows of `x`, off the tape.
    pub fn codes<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T> {
        super::Codec::codes(self, store, x)
    }

    /// Reconstructions g(f(x)) of the rows of `x`, off the tape.
    pub fn reconstruct<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T> {
        super::Codec::reconstruct(self, store, x)
    }
}
