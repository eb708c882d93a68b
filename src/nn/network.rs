//! The network trait: anything that maps a batch of rows to a batch of rows on the tape.

use super::{Linear, Mlp};
use crate::autodiff::Var;
use crate::real::Real;

/// A differentiable map from `inputs` columns to `outputs` columns, row by row, whose
/// parameters live in a [`ParamStore`](crate::ParamStore) and are loaded from the tape of its
/// input. Encoders and decoders take any `Network`: the MLP, a single layer, the identity, a
/// convolutional stack, or a user's own.
///
/// `Sync`, because a data-parallel step may run the same network on several threads.
pub trait Network<T: Real>: Sync + std::fmt::Debug {
    /// The network applied to a batch (one row per data point).
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T>;

    /// Input width.
    fn inputs(&self) -> usize;

    /// Output width.
    fn outputs(&self) -> usize;
}

/// Implements [`Network`] for each layer type through its inherent `forward`, `inputs` and
/// `outputs` (its `forward` is generic in the element type; the trait is per element type).
macro_rules! network_from_inherent {
    ($($layer:ident),*) => {$(
        impl<T: Real> Network<T> for $layer {
            fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
                $layer::forward(self, x)
            }
            fn inputs(&self) -> usize {
                $layer::inputs(self)
            }
            fn outputs(&self) -> usize {
                $layer::outputs(self)
            }
        }
    )*};
}

network_from_inherent!(Mlp, Linear);

impl<T: Real, N: Network<T> + ?Sized> Network<T> for Box<N> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        (**self).forward(x)
    }
    fn inputs(&self) -> usize {
        (**self).inputs()
    }
    fn outputs(&self) -> usize {
        (**self).outputs()
    }
}

/// The identity on `width` columns: no parameters (an encoder whose heads read the data
/// directly, as in a linear VAE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Columns in and out.
    pub width: usize,
}

impl<T: Real> Network<T> for Identity {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        x
    }
    fn inputs(&self) -> usize {
        self.width
    }
    fn outputs(&self) -> usize {
        self.width
    }
}
