//! What an autoencoder minimises: a reconstruction loss, penalties, and the corruption of its
//! input — as an engine [`Loss`].

use super::codec::Codec;
use super::corruption::Corruption;
use super::network::Autoencoder;
use crate::autodiff::{Tape, Var};
use crate::engine::{Batch, Loss};
use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::nn::Activation;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// L(x, r), the loss of a reconstruction r of x, summed over features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reconstruction {
    /// ‖x − r‖².
    SquaredError,
    /// −Σ_k [x_k ln r_k + (1 − x_k) ln(1 − r_k)] for data in [0, 1] and a logistic output
    /// (computed from the logits, so r never rounds to 0 or 1).
    CrossEntropy,
    /// The correntropy loss −Σ_k K_σ(x_k − r_k), K_σ(a) = exp(−a²/2σ²)/(√(2π) σ): bounded
    /// per feature, so an outlier costs little more than a bad fit (a robust autoencoder).
    Correntropy {
        /// σ, the bandwidth of K_σ (in the data's units).
        bandwidth: f64,
    },
}

/// The sparsity penalty β Σ_i KL(ρ ‖ ρ̂_i), ρ̂_i the mean over the batch of code unit i's
/// activation mapped to (0, 1) ([`Activation::to_unit_interval`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sparsity {
    /// ρ, the target mean activation, in (0, 1).
    pub target: f64,
    /// β, per example.
    pub weight: f64,
}

/// Everything an autoencoder is trained to minimise, per example:
/// L(x, g(f(x̃))) + λ_c ‖J_f(x̃)‖²_F + β Σ_i KL(ρ ‖ ρ̂_i), plus λ_w Σ w² over the whole set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// L.
    pub reconstruction: Reconstruction,
    /// λ_w, weight decay on every weight matrix (not the biases), for the whole data set.
    pub weight_decay: f64,
    /// The sparsity penalty, if any.
    pub sparsity: Option<Sparsity>,
    /// λ_c, the contractive penalty's weight per example (0: none).
    pub contractive: f64,
    /// The corruption of the input (denoising).
    pub corruption: Corruption,
}

impl Default for Objective {
    /// The squared error alone: a basic autoencoder.
    fn default() -> Self {
        Objective {
            reconstruction: Reconstruction::SquaredError,
            weight_decay: 0.0,
            sparsity: None,
            contractive: 0.0,
            corruption: Corruption::None,
        }
    }
}

impl Objective {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let non_negative = |name, v: f64| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "a finite number >= 0"))
            }
        };
        non_negative("weight decay", self.weight_decay)?;
        non_negative("contractive weight", self.contractive)?;
        if let Reconstruction::Correntropy { bandwidth } = self.reconstruction
            && !(bandwidth > 0.0 && bandwidth.is_finite())
        {
            return Err(Error::invalid(
                "correntropy bandwidth",
                bandwidth,
                "a finite number > 0",
            ));
        }
        if let Some(s) = self.sparsity {
            if !(s.target > 0.0 && s.target < 1.0) {
                return Err(Error::invalid(
                    "sparsity target",
                    s.target,
                    "a number in (0, 1)",
                ));
            }
            non_negative("sparsity weight", s.weight)?;
        }
        self.corruption.validate()
    }

    /// L(x, r) for each row (`B x 1`), from the output's pre-activation and activation.
    pub(crate) fn reconstruction_loss<'t, T: Real>(
        &self,
        x: Var<'t, T>,
        (pre, r): (Var<'t, T>, Var<'t, T>),
        output: Activation,
    ) -> Var<'t, T> {
        match self.reconstruction {
            Reconstruction::SquaredError => (x - r).square().row_sums(),
            Reconstruction::CrossEntropy if output == Activation::Sigmoid => {
                -pre.bernoulli_log_prob(x)
            }
            Reconstruction::CrossEntropy => {
                let one = T::one();
                -(x * r.ln() + (-x).shift(one) * (-r).shift(one).ln()).row_sums()
            }
            Reconstruction::Correntropy { bandwidth } => {
                let norm = 1.0 / ((2.0 * std::f64::consts::PI).sqrt() * bandwidth);
                let density = (x - r)
                    .square()
                    .scale(c(-0.5 / (bandwidth * bandwidth)))
                    .exp()
                    .scale(c(norm));
                -density.row_sums()
            }
        }
    }

    /// KL(ρ ‖ ρ̂) summed over code units, for the batch's codes.
    pub(crate) fn sparsity_penalty<'t, T: Real>(
        target: f64,
        code: Var<'t, T>,
        activation: Activation,
    ) -> Var<'t, T> {
        let rho_hat = activation.to_unit_interval(code).col_means(); // 1 x K
        let (rho, one) = (c::<T>(target), T::one());
        let kl = (rho_hat.recip().scale(rho)).ln().scale(rho)
            + ((-rho_hat).shift(one).recip().scale(one - rho))
                .ln()
                .scale(one - rho);
        kl.sum()
    }
}

/// An autoencoder's [`Objective`] as the engine's [`Loss`]: the per-example terms summed over
/// the batch and scaled by N/B (the batch stands for the data set), the sparsity penalty times
/// N, and the weight decay once.
#[derive(Debug)]
pub struct AutoencoderLoss<'a, T: Real, A: ?Sized = Autoencoder> {
    /// The model.
    pub autoencoder: &'a A,
    /// What it minimises.
    pub objective: Objective,
    /// The training data's (minimum, maximum), for salt-and-pepper corruption.
    pub range: (T, T),
}

impl<T: Real, A: ?Sized> Clone for AutoencoderLoss<'_, T, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Real, A: ?Sized> Copy for AutoencoderLoss<'_, T, A> {}

impl<T: Real, A: Codec<T> + ?Sized> AutoencoderLoss<'_, T, A> {
    /// The loss and the batch's codes (of the corrupted input, if any), for objectives that
    /// add a term on the codes (an adversarial or MMD-regularised autoencoder).
    pub(crate) fn loss_and_codes<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> (Var<'t, T>, Var<'t, T>) {
        let x = tape.constant_placed(batch.x);
        let input = match self.objective.corruption {
            Corruption::None => x,
            corruption => corruption.apply_on(x, self.range, rng),
        };
        let model = self.autoencoder;
        let contractive = self.objective.contractive > 0.0;
        let (code, frobenius) = model.encode_with_jacobian(input, contractive);
        let reconstruction = model.decode_parts(code);
        let mut per_row =
            self.objective
                .reconstruction_loss(x, reconstruction, model.output_activation());
        if let Some(frobenius) = frobenius {
            per_row = per_row + frobenius.scale(c(self.objective.contractive));
        }
        let mut total = per_row.sum().scale(batch.scale);
        if let Some(s) = self.objective.sparsity {
            let n = batch.scale * T::of_f64(batch.x.nrows() as f64);
            let penalty = Objective::sparsity_penalty(s.target, code, model.code_activation());
            total = total + penalty.scale(n * c(s.weight));
        }
        if self.objective.weight_decay > 0.0 {
            for id in model.weights() {
                total = total
                    + tape
                        .param(id)
                        .square()
                        .sum()
                        .scale(c(self.objective.weight_decay));
            }
        }
        (total, code)
    }
}

impl<T: Real, A: Codec<T> + ?Sized> Loss<T> for AutoencoderLoss<'_, T, A> {
    fn loss<'t, R: Rng + ?Sized>(
        &self,
        tape: &'t Tape<'t, T>,
        batch: &Batch<'_, T>,
        rng: &mut R,
    ) -> Result<Var<'t, T>> {
        Ok(self.loss_and_codes(tape, batch, rng).0)
    }

    /// A sum over rows when no term looks at the batch as a whole or at no row at all.
    fn row_separable(&self) -> bool {
        self.objective.sparsity.is_none() && self.objective.weight_decay == 0.0
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        self.objective.validate()?;
        if self.objective.contractive > 0.0 && !self.autoencoder.has_exact_jacobian() {
            return Err(Error::invalid(
                "contractive weight",
                self.objective.contractive,
                "0 for an autoencoder whose encoder's Jacobian is not known exactly (use the \
                 layered Autoencoder)",
            ));
        }
        check_columns(
            "data (the autoencoder's input columns)",
            data,
            self.autoencoder.inputs(),
        )?;
        Ok(())
    }
}
