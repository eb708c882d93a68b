//! Neural-network building blocks on the tape: the [`Network`] trait, affine layers,
//! convolutional layers, the LSTM cell, activations, multilayer perceptrons and their
//! initialisation, and a softmax classifier.

mod activation;
mod classifier;
mod conv;
mod init;
mod linear;
mod lstm;
mod mlp;
mod network;
mod sequential;

pub use activation::Activation;
pub use classifier::Classifier;
pub(crate) use classifier::check_width;
pub use conv::ConvLayer;
pub use init::Init;
pub use linear::Linear;
pub use lstm::Lstm;
pub use mlp::Mlp;
pub use network::{Identity, Network};
pub use sequential::Sequential;

use crate::error::{Error, Result};

/// Checks a layer's sizes, `inputs -> outputs`: each at least 1.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `what`.
fn check_sizes(what: &'static str, inputs: usize, outputs: usize) -> Result<()> {
    if inputs == 0 || outputs == 0 {
        return Err(Error::invalid(
            what,
            format!("{inputs} -> {outputs}"),
            "sizes of at least 1",
        ));
    }
    Ok(())
}
