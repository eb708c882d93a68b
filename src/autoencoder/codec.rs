//! What an autoencoder objective needs of a model: an encoder and a decoder on the tape. The
//! layered [`Autoencoder`] is one (with its Jacobian known exactly); [`NetworkAutoencoder`]
//! makes one of any two networks (convolutional, say).

use super::jacobian::frobenius_of_layers;
use super::network::Autoencoder;
use crate::autodiff::Var;
use crate::nn::{Activation, Network};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;

/// An encoder f and a decoder g, as an [`AutoencoderLoss`](super::AutoencoderLoss) uses them.
pub trait Codec<T: Real>: Sync {
    /// Input columns D.
    fn inputs(&self) -> usize;

    /// Code units K.
    fn code_width(&self) -> usize;

    /// The code f(x) of each row and, if `jacobian` and the model knows it exactly,
    /// ‖J_f(x)‖²_F per row (`B x 1`).
    fn encode_with_jacobian<'t>(
        &self,
        x: Var<'t, T>,
        jacobian: bool,
    ) -> (Var<'t, T>, Option<Var<'t, T>>);

    /// True if [`Codec::encode_with_jacobian`] gives the Jacobian (the contractive penalty
    /// needs it).
    fn has_exact_jacobian(&self) -> bool;

    /// The decoder's output pre-activation and the reconstruction g(h).
    fn decode_parts<'t>(&self, code: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>);

    /// The code's activation (what a sparsity target is measured against).
    fn code_activation(&self) -> Activation;

    /// The reconstruction's activation (the cross-entropy reads the logits when it is the
    /// logistic).
    fn output_activation(&self) -> Activation;

    /// The weight matrices weight decay penalises.
    fn weights(&self) -> Vec<ParamId>;

    /// Codes of the rows of `x`, off the tape.
    fn codes(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T> {
        let tape = crate::autodiff::Tape::for_evaluation(store);
        self.encode_with_jacobian(tape.constant(x.clone()), false)
            .0
            .value()
            .clone_owned()
    }

    /// Reconstructions g(f(x)) of the rows of `x`, off the tape.
    fn reconstruct(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T> {
        let tape = crate::autodiff::Tape::for_evaluation(store);
        let code = self.encode_with_jacobian(tape.constant(x.clone()), false).0;
        self.decode_parts(code).1.value().clone_owned()
    }
}

impl<T: Real> Codec<T> for Autoencoder {
    fn inputs(&self) -> usize {
        Autoencoder::inputs(self)
    }
    fn code_width(&self) -> usize {
        Autoencoder::code_size(self)
    }
    fn encode_with_jacobian<'t>(
        &self,
        x: Var<'t, T>,
        jacobian: bool,
    ) -> (Var<'t, T>, Option<Var<'t, T>>) {
        let layers = self.encode_layers(x);
        let code = layers.last().expect("at least one layer").post;
        let frobenius = jacobian.then(|| frobenius_of_layers(&layers, Autoencoder::inputs(self)));
        (code, frobenius)
    }
    fn has_exact_jacobian(&self) -> bool {
        true
    }
    fn decode_parts<'t>(&self, code: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        Autoencoder::decode_parts(self, code)
    }
    fn code_activation(&self) -> Activation {
        Autoencoder::code_activation(self)
    }
    fn output_activation(&self) -> Activation {
        Autoencoder::output_activation(self)
    }
    fn weights(&self) -> Vec<ParamId> {
        Autoencoder::weights(self)
    }
}

/// An autoencoder of any two networks: f(x) = σ_code(E(x)), g(h) = σ_out(D(h)) — a
/// convolutional encoder with a transposed-convolution decoder, say. Its Jacobian is not
/// known in closed form (no contractive penalty).
#[derive(Debug)]
pub struct NetworkAutoencoder<E, D> {
    /// E, ending in the code's pre-activation.
    pub encoder: E,
    /// D, ending in the reconstruction's pre-activation.
    pub decoder: D,
    /// σ_code.
    pub code: Activation,
    /// σ_out.
    pub output: Activation,
    /// The weights weight decay penalises (none unless given).
    pub weights: Vec<ParamId>,
}

impl<T: Real, E: Network<T>, D: Network<T>> Codec<T> for NetworkAutoencoder<E, D> {
    fn inputs(&self) -> usize {
        self.encoder.inputs()
    }
    fn code_width(&self) -> usize {
        self.encoder.outputs()
    }
    fn encode_with_jacobian<'t>(
        &self,
        x: Var<'t, T>,
        _jacobian: bool,
    ) -> (Var<'t, T>, Option<Var<'t, T>>) {
        (self.code.apply(self.encoder.forward(x)), None)
    }
    fn has_exact_jacobian(&self) -> bool {
        false
    }
    fn decode_parts<'t>(&self, code: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        let pre = self.decoder.forward(code);
        (pre, self.output.apply(pre))
    }
    fn code_activation(&self) -> Activation {
        self.code
    }
    fn output_activation(&self) -> Activation {
        self.output
    }
    fn weights(&self) -> Vec<ParamId> {
        self.weights.clone()
    }
}
