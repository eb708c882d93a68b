//! A finite mixture of normals with ordered means.

use crate::dist::{Dirichlet, Distribution, HalfNormal, Normal, Support};
use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::program::{Model, Trace};
use crate::real::Real;
use nalgebra::DMatrix;

/// y_i ~ Σ_k w_k N(μ_k, σ_k²) for one column of data, with K components whose means are
/// ordered (μ_1 < … < μ_K, which removes the label switching that makes a mixture's posterior
/// K!-modal). Priors are set from the data's location m and scale s, so the model means the
/// same on data in any units: μ ~ N(m, (2s)²) on the ordered vector, σ_k ~ HalfNormal(s),
/// w ~ Dirichlet(2, …, 2). Parameters `mu`, `sigma`, `w`.
///
/// Each point's component is summed out: ln p(y_i) = logsumexp_k (ln w_k + ln N(y_i | μ_k, σ_k²)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormalMixture {
    components: usize,
    location: f64,
    scale: f64,
}

impl NormalMixture {
    /// A mixture of `components` normals with priors centred on `data` (one column).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than 2 components; [`Error::ShapeMismatch`] unless
    /// the data are one column; [`Error::EmptyData`] or [`Error::InvalidParameter`] for data with
    /// no spread.
    pub fn for_data<T: Real>(components: usize, data: &DMatrix<T>) -> Result<Self> {
        if components < 2 {
            return Err(Error::invalid("components", components, "at least 2"));
        }
        check_columns("mixture data (one column)", data, 1)?;
        if data.nrows() < 2 {
            return Err(Error::EmptyData {
                what: "mixture data (at least 2 rows)",
            });
        }
        let y: Vec<f64> = data.iter().map(|v| v.to_f64()).collect();
        let n = y.len() as f64;
        let location = y.iter().sum::<f64>() / n;
        let scale = (y.iter().map(|v| (v - location).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(Error::invalid(
                "data spread",
                scale,
                "data that are not all equal",
            ));
        }
        Ok(NormalMixture {
            components,
            location,
            scale,
        })
    }
}

impl<T: Real> Model<T> for NormalMixture {
    fn model<'t>(&self, m: &mut Trace<'t, '_, T>) -> Result<()> {
        let k = self.components;
        let mu = m.param("mu", k, Support::Ordered)?;
        m.factor(
            Normal::new(m.constant(self.location), m.constant(2.0 * self.scale))?.log_prob(mu),
        )?;
        let sigma = m.sample("sigma", &HalfNormal::new(m.constant(self.scale))?, k)?;
        let concentration = m.tape().filled(1, k, T::of_f64(2.0));
        let w = m.sample("w", &Dirichlet::new(concentration)?, k)?;
        if !m.scores_likelihood() {
            return Ok(());
        }
        let y = m.column(0);
        let log_w = w.ln();
        // Each component's term for every (draw, point), then an elementwise log-sum-exp with
        // the largest term factored out (its value only: the result does not depend on it).
        let terms = (0..k)
            .map(|c| {
                let normal = Normal::new(mu.columns(c, 1), sigma.columns(c, 1))?;
                Ok(normal.log_prob(y) + log_w.columns(c, 1))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut largest = terms[0].value().clone_owned();
        for term in &terms[1..] {
            largest.zip_apply(&*term.value(), |a, b| *a = if b > *a { b } else { *a });
        }
        let largest = m.tape().constant(largest);
        let mut total = (terms[0] - largest).exp();
        for term in &terms[1..] {
            total = total + (*term - largest).exp();
        }
        m.likelihood_term(total.ln() + largest)
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        check_columns("mixture data (one column)", data, 1)
    }
}
