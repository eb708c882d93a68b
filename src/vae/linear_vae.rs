//! The linear VAE: amortized SGVB on the one latent-variable model with an exact answer.

use crate::engine::TrainerSettings;
use crate::error::Result;
use crate::guide::{GaussianEncoder, LocalDiagGaussianGuide};
use crate::infer::{Estimator, FitReport, Objective, Svi, SviConfig};
use crate::likelihood::{GaussianDecoder, ObservationVariance};
use crate::nn::{Activation, Identity, Init, Mlp};
use crate::optim::Adam;
use crate::params::{ParamId, ParamStore};
use crate::prior::StandardNormal;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// p(z) = N(0, I_q), p(x | z) = N(W z + b, σ² I) with W, b and a scalar σ² learned, and
/// q(z | x) = N(A x + a, diag exp(C x + c)) — the model of probabilistic PCA, fitted by the
/// same SGVB code as every other model (Lucas et al. 2019 show its optimum is PPCA's maximum
/// likelihood with the exact posterior). Runs in f64, to be compared with the closed form.
///
/// The networks work on standardised data, x̃ = (x − m) / s with m the training data's column
/// means and s one scale for every column (the root mean square of the centred data; one, not
/// one per column, because PPCA's noise is isotropic and a per-column scale would change the
/// model). So the fit is the same — step for step — whatever the data's units and offsets, and
/// the model it stands for in the data's own coordinates is W = s W̃, b = m + s b̃, σ² = s² σ̃²,
/// with densities lower by D ln s per row.
pub struct LinearVae {
    params: ParamStore<f64>,
    svi: Svi<StandardNormal, GaussianDecoder, GaussianEncoder<Identity>>,
    decoder_weights: ParamId,
    decoder_bias: ParamId,
    /// m and s, set by the first fit.
    standardization: Option<(DVector<f64>, f64)>,
}

impl LinearVae {
    /// A linear VAE for `dim`-column data with `latent` dimensions, weights drawn from `rng`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for zero sizes.
    pub fn new<R: Rng + ?Sized>(dim: usize, latent: usize, rng: &mut R) -> Result<Self> {
        let mut params = ParamStore::new();
        let encoder =
            GaussianEncoder::linear(&mut params, "encoder", dim, latent, Init::Uniform, rng)?;
        let net = Mlp::new(
            &mut params,
            "decoder",
            &[latent, dim],
            Activation::Identity,
            Activation::Identity,
            Init::Uniform,
            rng,
        )?;
        let (decoder_weights, decoder_bias) = net.layers()[0].params();
        let decoder = GaussianDecoder::new(
            &mut params,
            "decoder",
            net,
            ObservationVariance::LearnedScalar,
        )?;
        let svi = Svi::new(StandardNormal::new(latent)?, decoder, encoder);
        Ok(LinearVae {
            params,
            svi,
            decoder_weights,
            decoder_bias,
            standardization: None,
        })
    }

    /// Fits encoder and decoder together by SGVB with Adam, on `x` standardised by the moments
    /// of the first data fitted.
    ///
    /// # Errors
    /// As [`Svi::fit`].
    pub fn fit<R: Rng + ?Sized>(
        &mut self,
        x: &DMatrix<f64>,
        config: &SviConfig,
        rng: &mut R,
    ) -> Result<FitReport> {
        self.svi.validate_data(x)?;
        if self.standardization.is_none() {
            let mean = x.row_mean().transpose();
            let centred = x - DMatrix::from_fn(x.nrows(), x.ncols(), |_, j| mean[j]);
            let rms = (centred.norm_squared() / centred.len() as f64).sqrt();
            // Constant data have no scale of their own: keep their unit.
            let scale = if rms > 0.0 && rms.is_finite() {
                rms
            } else {
                1.0
            };
            self.standardization = Some((mean, scale));
        }
        let standard = self.standardize(x);
        self.svi.fit(
            &mut self.params,
            &standard,
            &mut Adam::default(),
            config,
            rng,
        )
    }

    /// (x − m) / s.
    fn standardize(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        match &self.standardization {
            Some((mean, scale)) => {
                DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| (x[(i, j)] - mean[j]) / scale)
            }
            None => x.clone(),
        }
    }

    /// D ln s: how much a standardised row's log density exceeds the original's.
    fn log_jacobian(&self, dim: usize) -> f64 {
        self.standardization
            .as_ref()
            .map_or(0.0, |(_, scale)| dim as f64 * scale.ln())
    }

    /// The standardisation's scale s (1 before the first fit).
    fn scale(&self) -> f64 {
        self.standardization.as_ref().map_or(1.0, |(_, s)| *s)
    }

    /// Mean ELBO per row, computed exactly: for a linear Gaussian decoder the expected
    /// log-likelihood under q = N(m, diag s²) is −(‖x − W m − b‖² + Σ_k s_k² ‖W_k‖²) / (2σ²)
    /// − (D/2) log(2πσ²), and the KL to N(0, I) is analytic, so no draw is needed.
    pub fn exact_elbo(&self, x: &DMatrix<f64>) -> f64 {
        let standard = self.standardize(x);
        let (means, sds) = self.svi.guide.encode(&self.params, &standard);
        self.elbo_of(&standard, &means, &sds) - self.log_jacobian(x.ncols())
    }

    /// The exact mean ELBO per row of standardised rows `x` for per-row Gaussians
    /// N(means_i, diag sds_i²).
    fn elbo_of(&self, x: &DMatrix<f64>, means: &DMatrix<f64>, sds: &DMatrix<f64>) -> f64 {
        // The layer computes z Wᵀ + b with its weight stored latent x dim.
        let (w, b) = (
            self.params.get(self.decoder_weights),
            self.params.get(self.decoder_bias),
        );
        let sigma2 = self.svi.likelihood.variance(&self.params)[0];
        let column_norms: Vec<f64> = w.row_iter().map(|r| r.norm_squared()).collect();
        let d = x.ncols() as f64;
        let fit = means * w;
        let total: f64 = (0..x.nrows())
            .map(|i| {
                let residual: f64 = (0..x.ncols())
                    .map(|j| (x[(i, j)] - fit[(i, j)] - b[j]).powi(2))
                    .sum();
                let spread: f64 = (0..means.ncols())
                    .map(|k| sds[(i, k)].powi(2) * column_norms[k])
                    .sum();
                let expected_log_lik = -(residual + spread) / (2.0 * sigma2)
                    - 0.5 * d * (2.0 * std::f64::consts::PI * sigma2).ln();
                let kl: f64 = (0..means.ncols())
                    .map(|k| {
                        0.5 * (sds[(i, k)].powi(2) + means[(i, k)].powi(2)
                            - 1.0
                            - 2.0 * sds[(i, k)].ln())
                    })
                    .sum();
                expected_log_lik - kl
            })
            .sum();
        total / x.nrows() as f64
    }

    /// Mean ELBO per row estimated by the generic estimator (analytic KL, `particles` draws per
    /// row); [`LinearVae::exact_elbo`] is its exact value.
    ///
    /// # Errors
    /// As [`Svi::evaluate`].
    pub fn elbo<R: Rng + ?Sized>(
        &self,
        x: &DMatrix<f64>,
        particles: usize,
        rng: &mut R,
    ) -> Result<f64> {
        let total = self.svi.evaluate(
            &self.params,
            &self.standardize(x),
            &Objective::new(Estimator::ElboAnalyticKl, particles),
            rng,
        )?;
        Ok(total / x.nrows() as f64 - self.log_jacobian(x.ncols()))
    }

    /// Mean importance-weighted bound per row with `k` samples.
    ///
    /// # Errors
    /// As [`Svi::evaluate`].
    pub fn iwae<R: Rng + ?Sized>(&self, x: &DMatrix<f64>, k: usize, rng: &mut R) -> Result<f64> {
        let total = self.svi.evaluate(
            &self.params,
            &self.standardize(x),
            &Objective::new(Estimator::Iwae, k),
            rng,
        )?;
        Ok(total / x.nrows() as f64 - self.log_jacobian(x.ncols()))
    }

    /// The decoder's loadings W (`dim x latent`), in the data's units.
    pub fn loadings(&self) -> DMatrix<f64> {
        // The layer computes z Wᵀ with its weight stored latent x dim.
        self.params.get(self.decoder_weights).transpose() * self.scale()
    }

    /// The learned observation variance σ², in the data's units.
    pub fn noise_variance(&self) -> f64 {
        self.svi.likelihood.variance(&self.params)[0] * self.scale().powi(2)
    }

    /// The amortization gap (Cremer et al. 2018) on `x`: with the decoder held fixed, fits a free
    /// diagonal Gaussian for every row (warm-started at the encoder's output) and returns the
    /// exact mean ELBO per row it reaches minus the encoder's. Near 0 when the encoder is as good
    /// as per-point optimisation can be. The model itself is left unchanged.
    ///
    /// # Errors
    /// As [`Svi::fit`].
    pub fn amortization_gap<R: Rng + ?Sized>(
        &self,
        x: &DMatrix<f64>,
        config: &SviConfig,
        rng: &mut R,
    ) -> Result<f64> {
        let mut params = self.params.clone();
        let model: Vec<_> = params.ids().collect();
        for id in model {
            params.set_frozen(id, true);
        }
        let x = &self.standardize(x);
        let (means, sds) = self.svi.guide.encode(&self.params, x);
        let encoder_elbo = self.elbo_of(x, &means, &sds);
        let local = LocalDiagGaussianGuide::new(&mut params, "local", means, sds)?;
        let svi = Svi::new(self.svi.prior, self.svi.likelihood.clone(), local.clone());
        let config = SviConfig {
            trainer: TrainerSettings {
                batch_size: None,
                ..config.trainer.clone()
            },
            ..config.clone()
        };
        svi.fit(&mut params, x, &mut Adam::default(), &config, rng)?;
        let (local_means, local_sds) = local.mean_and_sd(&params);
        Ok(self.elbo_of(x, &local_means, &local_sds) - encoder_elbo)
    }
}
