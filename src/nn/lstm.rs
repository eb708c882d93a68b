//! The long short-term memory cell, from tape operations.

use super::{Init, check_sizes};
use crate::autodiff::Var;
use crate::error::Result;
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// An LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate): from the input x_t and
/// the state (h, c), the gates [i, f, g, o] = [σ, σ, tanh, σ]([x_t, h] W + b), the cell
/// c' = f ⊙ c + i ⊙ g and the output h' = o ⊙ tanh(c'). Parameters `{name}.weight`
/// (`(F + H) x 4H`) and `{name}.bias` (`1 x 4H`, the forget gate's part starting at 1 so that
/// the cell remembers from the first step).
#[derive(Clone, Debug)]
pub struct Lstm {
    weight: ParamId,
    bias: ParamId,
    inputs: usize,
    hidden: usize,
}

impl Lstm {
    /// A cell reading `inputs` features per step into `hidden` units.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a size of 0; [`crate::Error::Parameter`] if a name is
    /// taken.
    pub fn new<T: Real, R: Rng + ?Sized>(
        store: &mut ParamStore<T>,
        name: &str,
        inputs: usize,
        hidden: usize,
        rng: &mut R,
    ) -> Result<Self> {
        check_sizes("LSTM size", inputs, hidden)?;
        let weight = store.add(
            format!("{name}.weight"),
            Init::Xavier.weights(inputs + hidden, 4 * hidden, rng),
        )?;
        let bias = DMatrix::from_fn(1, 4 * hidden, |_, j| {
            if (hidden..2 * hidden).contains(&j) {
                T::one()
            } else {
                T::zero()
            }
        });
        let bias = store.add(format!("{name}.bias"), bias)?;
        Ok(Lstm {
            weight,
            bias,
            inputs,
            hidden,
        })
    }

    /// Features per step F.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Hidden units H.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// One step: the new (h, c) from `x` (`B x F`) and the state (`B x H` each).
    pub fn step<'t, T: Real>(
        &self,
        x: Var<'t, T>,
        (h, c): (Var<'t, T>, Var<'t, T>),
    ) -> (Var<'t, T>, Var<'t, T>) {
        let tape = x.tape();
        let n = self.hidden;
        let gates =
            Var::concat_columns(&[x, h]).affine(tape.param(self.weight), tape.param(self.bias));
        let input = gates.columns(0, n).sigmoid();
        let forget = gates.columns(n, n).sigmoid();
        let candidate = gates.columns(2 * n, n).tanh();
        let output = gates.columns(3 * n, n).sigmoid();
        let cell = forget * c + input * candidate;
        (output * cell.tanh(), cell)
    }

    /// The zero state for `rows` sequences.
    pub fn zero_state<'t, T: Real>(
        &self,
        like: Var<'t, T>,
        rows: usize,
    ) -> (Var<'t, T>, Var<'t, T>) {
        let zeros = || like.tape().filled(rows, self.hidden, T::zero());
        (zeros(), zeros())
    }
}
