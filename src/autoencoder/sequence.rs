//! The sequence autoencoder: an LSTM reads a sequence and keeps its final state as the code;
//! another unrolls the code back into the sequence.

use super::codec::Codec;
use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::nn::{Activation, Init, Linear, Lstm};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use rand::Rng;

/// Rows are sequences of `steps` steps of F features, flattened step by step (step t in
/// columns t·F .. (t+1)·F) — an 8x8 image read row by row, say. The encoder LSTM reads them;
/// its final hidden state, through a dense layer and the code activation, is the code. The
/// decoder LSTM takes the code as its input at every step and a dense layer reads each step's
/// output back into F features (then the output activation).
#[derive(Clone, Debug)]
pub struct SequenceAutoencoder {
    steps: usize,
    encoder: Lstm,
    to_code: Linear,
    decoder: Lstm,
    to_output: Linear,
    code: Activation,
    output: Activation,
}

impl SequenceAutoencoder {
    /// `steps` steps of `features` features, LSTMs of `hidden` units, `code` code units.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a size of 0; [`Error::Parameter`] if a name is taken.
    #[allow(clippy::too_many_arguments)]
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        (steps, features): (usize, usize),
        hidden: usize,
        code: usize,
        activations: (Activation, Activation),
        rng: &mut R,
    ) -> Result<Self> {
        if steps == 0 {
            return Err(Error::invalid("sequence steps", 0, "at least 1"));
        }
        let encoder = Lstm::new(store, &format!("{name}.encoder"), features, hidden, rng)?;
        let to_code = Linear::new(
            store,
            &format!("{name}.code"),
            hidden,
            code,
            Init::Xavier,
            rng,
        )?;
        let decoder = Lstm::new(store, &format!("{name}.decoder"), code, hidden, rng)?;
        let to_output = Linear::new(
            store,
            &format!("{name}.output"),
            hidden,
            features,
            Init::Xavier,
            rng,
        )?;
        Ok(SequenceAutoencoder {
            steps,
            encoder,
            to_code,
            decoder,
            to_output,
            code: activations.0,
            output: activations.1,
        })
    }
}

impl<T: Real> Codec<T> for SequenceAutoencoder {
    fn inputs(&self) -> usize {
        self.steps * self.encoder.inputs()
    }

    fn code_width(&self) -> usize {
        self.to_code.outputs()
    }

    fn encode_with_jacobian<'t>(
        &self,
        x: Var<'t, T>,
        _jacobian: bool,
    ) -> (Var<'t, T>, Option<Var<'t, T>>) {
        let f = self.encoder.inputs();
        let mut state = self.encoder.zero_state(x, x.shape().0);
        for t in 0..self.steps {
            state = self.encoder.step(x.columns(t * f, f), state);
        }
        (self.code.apply(self.to_code.forward(state.0)), None)
    }

    fn has_exact_jacobian(&self) -> bool {
        false
    }

    fn decode_parts<'t>(&self, code: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        let mut state = self.decoder.zero_state(code, code.shape().0);
        let mut steps = Vec::with_capacity(self.steps);
        for _ in 0..self.steps {
            state = self.decoder.step(code, state);
            steps.push(self.to_output.forward(state.0));
        }
        let pre = Var::concat_columns(&steps);
        (pre, self.output.apply(pre))
    }

    fn code_activation(&self) -> Activation {
        self.code
    }

    fn output_activation(&self) -> Activation {
        self.output
    }

    fn weights(&self) -> Vec<ParamId> {
        Vec::new()
    }
}
