//! The linear VAE: amortized SGVB on the one latent-variable model with an exact answer.

use crate::data::Standardization;
use crate::engine::TrainerSettings;
use crate::error::Result;
use crate::guide::{GaussianEncoder, LocalDiagGaussianGuide};
use crate::infer::{Estimator, FitReport, Objective, Svi, SviConfig};
use crate::likelihood::{GaussianDecoder, ObservationVariance};
use crate::nn::{Activation, Init, Linear, Mlp};
use crate::optim::Adam;
use crate::params::{ParamId, ParamStore};
use crate::prior::StandardNormal;
use crate::reduction::{mean_and_covariance, sorted_eigen};
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
///
/// The encoder sees x̃ through a frozen whitening layer (Σ̃^{-1/2} of the training data), which
/// leaves its family unchanged and makes every direction of its regression equally easy.
///
/// By default ([`LinearVaeStart::PrincipalAxes`]) the first fit starts from the data's principal
/// axes; see [`LinearVaeStart`] for why, and for the random start.
pub struct LinearVae {
    params: ParamStore<f64>,
    svi: Svi<StandardNormal, GaussianDecoder, GaussianEncoder<Linear>>,
    decoder_weights: ParamId,
    /// The encoder's frozen first layer, set by the first fit to whiten its input.
    whitening: Linear,
    decoder_bias: ParamId,
    /// m and s, set by the first fit.
    standardization: Option<Standardization>,
    start: LinearVaeStart,
}

/// Where a [`LinearVae`]'s first fit starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LinearVaeStart {
    /// From the principal axes of the standardised data (as GPLVMs start their latent
    /// positions at PCA): the encoder's mean maps each row to its leading `q` principal
    /// coordinates at unit variance, its log variances are ln(σ₀²/λ_k) with σ₀² the mean of the
    /// other eigenvalues, the decoder is the least-squares map back (Λ_q^{1/2} V_qᵀ) and the
    /// observation variance is σ₀². This is not the optimum — PPCA shrinks both maps by
    /// (Λ_q − σ²) / Λ_q and its posterior has the precision M = WᵀW/σ² + I — and on the grid in
    /// `docs/linear_models.md` it starts 0.08–0.74 nats per row below it; SGVB has to close
    /// that. What it avoids is the valley along which the decoder's scale trades against the
    /// codes' (W c, z / c): only the KL term tells its points apart, so Adam crosses it slowly,
    /// and from a random start on data with factors of very different sizes the codes ended
    /// with variance 3 and the ELBO 0.67 nats per row short after 20,000 steps.
    #[default]
    PrincipalAxes,
    /// From the random weights drawn at construction (heads and decoder U(±1/√fan_in),
    /// observation variance 1 in standardised units).
    Random,
}

impl LinearVae {
    /// A linear VAE for `dim`-column data with `latent` dimensions that starts from the data's
    /// principal axes, with random weights drawn from `rng` (used only by
    /// [`LinearVaeStart::Random`]; see [`LinearVae::with_start`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for zero sizes.
    pub fn new<R: Rng + ?Sized>(dim: usize, latent: usize, rng: &mut R) -> Result<Self> {
        Self::with_start(dim, latent, LinearVaeStart::default(), rng)
    }

    /// A linear VAE whose first fit starts at `start`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for zero sizes.
    pub fn with_start<R: Rng + ?Sized>(
        dim: usize,
        latent: usize,
        start: LinearVaeStart,
        rng: &mut R,
    ) -> Result<Self> {
        let mut params = ParamStore::new();
        // Its weight is set (and frozen) at the first fit; identity until then.
        let whitening = Linear::new(&mut params, "encoder.whiten", dim, dim, Init::Uniform, rng)?;
        let (weight, bias) = whitening.params();
        params.set(weight, DMatrix::identity(dim, dim))?;
        params.set_frozen(weight, true);
        params.set_frozen(bias, true);
        let encoder = GaussianEncoder::new(
            &mut params,
            "encoder",
            whitening.clone(),
            latent,
            Init::Uniform,
            rng,
        )?;
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
            whitening,
            standardization: None,
            start,
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
        let first = self.standardization.is_none();
        if first {
            self.standardization = Some(Standardization::of(x));
        }
        let standard = self.standardize(x);
        if first {
            let axes = PrincipalAxes::of(mean_and_covariance(&standard).1);
            self.params
                .set(self.whitening.params().0, axes.whitening())?;
            if self.start == LinearVaeStart::PrincipalAxes {
                self.start_at(&axes)?;
            }
        }
        self.svi.fit(
            &mut self.params,
            &standard,
            &mut Adam::default(),
            config,
            rng,
        )
    }

    /// Sets the parameters as [`LinearVaeStart::PrincipalAxes`] says.
    fn start_at(&mut self, axes: &PrincipalAxes) -> Result<()> {
        let (mean_head, log_var_head) = self.svi.guide.heads();
        let (mean_weight, mean_bias) = mean_head.params();
        let (log_var_weight, log_var_bias) = log_var_head.params();
        let (dim, q) = self.params.get(mean_weight).shape();
        self.params.set(mean_weight, axes.leading(q))?;
        self.params.set(mean_bias, DMatrix::zeros(1, q))?;
        // A linear-Gaussian posterior has the same variance for every row.
        self.params.set(log_var_weight, DMatrix::zeros(dim, q))?;
        self.params
            .set(log_var_bias, axes.posterior_log_variances(q))?;
        self.params
            .set(self.decoder_weights, axes.least_squares_decoder(q))?;
        self.params.set(self.decoder_bias, DMatrix::zeros(1, dim))?;
        self.svi
            .likelihood
            .set_variance(&mut self.params, axes.noise_variance(q))
    }

    /// (x − m) / s.
    fn standardize(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        match &self.standardization {
            Some(standardization) => standardization.apply(x),
            None => x.clone(),
        }
    }

    /// D ln s: how much a standardised row's log density exceeds the original's.
    fn log_jacobian(&self, dim: usize) -> f64 {
        self.standardization
            .as_ref()
            .map_or(0.0, |s| s.log_jacobian(dim))
    }

    /// The standardisation's scale s (1 before the first fit).
    fn scale(&self) -> f64 {
        self.standardization.as_ref().map_or(1.0, |s| s.scale)
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
        let objective = Objective::new(Estimator::ElboAnalyticKl, particles);
        self.mean_bound(x, &objective, rng)
    }

    /// Mean importance-weighted bound per row with `k` samples.
    ///
    /// # Errors
    /// As [`Svi::evaluate`].
    pub fn iwae<R: Rng + ?Sized>(&self, x: &DMatrix<f64>, k: usize, rng: &mut R) -> Result<f64> {
        self.mean_bound(x, &Objective::new(Estimator::Iwae, k), rng)
    }

    /// Mean `objective` per row of `x`, in the data's units: estimated on the standardised
    /// data, less the log-Jacobian of the standardisation.
    fn mean_bound<R: Rng + ?Sized>(
        &self,
        x: &DMatrix<f64>,
        objective: &Objective,
        rng: &mut R,
    ) -> Result<f64> {
        let total = self
            .svi
            .evaluate(&self.params, &self.standardize(x), objective, rng)?;
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

/// The eigen-decomposition of a covariance matrix.
struct PrincipalAxes {
    /// Eigenvalues, largest first, floored at 1e-12 of the largest (for constant directions).
    variances: DVector<f64>,
    /// The matching unit eigenvectors, as columns.
    axes: DMatrix<f64>,
}

impl PrincipalAxes {
    /// The axes of a covariance matrix.
    fn of(covariance: DMatrix<f64>) -> Self {
        let (variances, axes) = sorted_eigen(covariance);
        let floor = 1e-12 * variances[0].max(f64::MIN_POSITIVE);
        PrincipalAxes {
            variances: variances.map(|v| v.max(floor)),
            axes,
        }
    }

    /// Σ^{-1/2}. The encoder sees its input through this: its mean is a linear regression on
    /// x, whose steps converge at the pace of the smallest eigenvalue of the input's
    /// covariance; on whitened input every direction converges alike, however different the
    /// factors' scales (on the grid's noise-variance-1 data, from a random start, the largest
    /// angle to PPCA's subspace fell from 13–32° to 0.5–1.8°). The encoder's family is
    /// unchanged (A Σ^{-1/2} is as free as A).
    fn whitening(&self) -> DMatrix<f64> {
        let inverse_roots = self.variances.map(|l| 1.0 / l.sqrt());
        &self.axes * DMatrix::from_diagonal(&inverse_roots) * self.axes.transpose()
    }

    /// The mean of the eigenvalues after the first `q` (the smallest if there are none): the
    /// variance the first `q` axes leave unexplained per dimension.
    fn noise_variance(&self, q: usize) -> f64 {
        let d = self.variances.len();
        if q < d {
            self.variances.rows(q, d - q).mean()
        } else {
            self.variances[d - 1]
        }
    }

    /// ln(σ²/λ_k) for the first `q` axes, with σ² from [`Self::noise_variance`]: the
    /// posterior variance of the k-th unit-variance principal coordinate.
    /// Latents beyond the data's dimension keep the prior's variance (ln 1 = 0).
    fn posterior_log_variances(&self, q: usize) -> DMatrix<f64> {
        let noise = self.noise_variance(q);
        DMatrix::from_fn(1, q, |_, k| match self.variances.get(k) {
            Some(&variance) => (noise / variance).min(1.0).ln(),
            None => 0.0,
        })
    }

    /// Λ_q^{1/2} V_qᵀ (`q x dim`, as the decoder layer stores it): the least-squares map from
    /// the unit-variance principal coordinates back to the data (zero rows for latents beyond
    /// the data's dimension).
    fn least_squares_decoder(&self, q: usize) -> DMatrix<f64> {
        self.leading(q).transpose().map_with_location(|k, _, v| {
            v * self
                .variances
                .get(k)
                .map_or(0.0, |variance| variance.sqrt())
        })
    }

    /// The first `q` axes (`dim x q`, zero columns beyond the data's dimension): on whitened
    /// input, the map to the leading principal coordinates at unit variance.
    fn leading(&self, q: usize) -> DMatrix<f64> {
        let d = self.axes.ncols();
        DMatrix::from_fn(d, q, |i, k| if k < d { self.axes[(i, k)] } else { 0.0 })
    }
}
