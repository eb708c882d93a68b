//! A softmax classifier: a network's outputs read as the logits of classes, trained by the
//! cross-entropy through the engine.

use crate::autodiff::{Tape, Var};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::nn::Network;
use crate::params::ParamStore;
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// p(y = k | x) = softmax(N(x))_k over as many classes as the network has outputs.
///
/// As an engine [`Loss`] it reads rows of features followed by their one-hot labels
/// ([`crate::data::with_one_hot`]) and gives the cross-entropy −Σ ln p(y | x) over the data
/// set (N/B times the batch's), a sum over rows.
#[derive(Clone, Debug)]
pub struct Classifier<N> {
    /// The network, features in, one logit per class out.
    pub network: N,
}

impl<N> Classifier<N> {
    /// Class probabilities of each row of `x` (features only), off the tape.
    pub fn probabilities<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> DMatrix<T>
    where
        N: Network<T>,
    {
        let tape = Tape::for_evaluation(store);
        let logits = self.network.forward(tape.constant(x.clone()));
        let log_norm = logits.row_logsumexp();
        (logits - log_norm).exp().value().clone_owned()
    }

    /// The most probable class of each row of `x`.
    pub fn predict<T: Real>(&self, store: &ParamStore<T>, x: &DMatrix<T>) -> Vec<u8>
    where
        N: Network<T>,
    {
        self.probabilities(store, x)
            .row_iter()
            .map(|row| {
                let mut best = 0;
                for (k, p) in row.iter().enumerate() {
                    if *p > row[best] {
                        best = k;
                    }
                }
                best as u8
            })
            .collect()
    }

    /// The fraction of rows of `x` whose most probable class is their label.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if there is not one label per row.
    pub fn accuracy<T: Real>(
        &self,
        store: &ParamStore<T>,
        x: &DMatrix<T>,
        labels: &[u8],
    ) -> Result<f64>
    where
        N: Network<T>,
    {
        if labels.len() != x.nrows() || labels.is_empty() {
            return Err(Error::shape(
                "labels (one per row)",
                (x.nrows(), 1),
                (labels.len(), 1),
            ));
        }
        let predicted = self.predict(store, x);
        let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(right as f64 / labels.len() as f64)
    }
}

impl<T: Real, N: Network<T>> Loss<T> for Classifier<N> {
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        _rng: &mut R,
    ) -> Result<Var<'t, T>> {
        let rows = tape.constant_placed(batch.x);
        let features = self.network.inputs();
        let labels = rows.columns(features, self.network.outputs());
        let logits = self.network.forward(rows.columns(0, features));
        let chosen = (logits * labels).row_sums();
        Ok((logits.row_logsumexp() - chosen).sum().scale(batch.scale))
    }

    fn row_separable(&self) -> bool {
        true
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        check_width(data, self.network.inputs(), self.network.outputs())
    }
}

/// Checks that data rows are `features` wide plus `classes` one-hot label columns: a
/// classifier's data, and a conditional generator's.
pub(crate) fn check_width<T: nalgebra::Scalar>(
    data: &DMatrix<T>,
    features: usize,
    classes: usize,
) -> Result<()> {
    check_columns(
        "data (features, then one-hot labels)",
        data,
        features + classes,
    )
}
