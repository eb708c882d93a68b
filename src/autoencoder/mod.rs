//! Deterministic autoencoders: an encoder f and a decoder g trained so that g(f(x)) ≈ x, with
//! the regularisers that make the code useful — weight decay, sparsity, contraction — and the
//! training set-ups that make it robust: denoising (corrupted inputs, clean targets) and the
//! correntropy loss (outliers weigh little). They train through the engine's one loop
//! ([`AutoencoderLoss`] is an engine [`Loss`](crate::engine::Loss)).

mod codec;
mod corruption;
mod jacobian;
mod network;
mod objective;
mod sequence;
mod stacked;

pub use codec::{Codec, NetworkAutoencoder};
pub use corruption::Corruption;
pub use jacobian::jacobian_frobenius;
pub use network::{Autoencoder, AutoencoderConfig};
pub use objective::{AutoencoderLoss, Objective, Reconstruction, Sparsity};
pub use sequence::SequenceAutoencoder;
pub use stacked::pretrain_layerwise;
