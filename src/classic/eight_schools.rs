//! Eight schools (Rubin 1981; Gelman et al., *Bayesian Data Analysis*, §5.5): a hierarchical
//! normal model of J estimated effects with known standard errors.

use crate::dist::{HalfCauchy, Normal};
use crate::error::{Error, Result};
use crate::model::check_columns;
use crate::program::{Model, Trace};
use crate::real::Real;
use nalgebra::DMatrix;

/// y_j ~ N(θ_j, σ_j²), θ_j ~ N(μ, τ²), μ ~ N(0, 5²), τ ~ HalfCauchy(5), with the data as J rows
/// of (y_j, σ_j).
///
/// Non-centred (the default): the parameters are `mu`, `tau` and `theta_trans` (θ̃ ~ N(0, 1)),
/// with θ_j = μ + τ θ̃_j kept as `theta`. Centred: `mu`, `tau`, `theta`. The two describe the
/// same posterior; the centred one has the funnel between τ and θ that makes small τ hard to
/// reach for samplers and Gaussian approximations alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EightSchools {
    /// The centred form.
    pub centered: bool,
}

impl<T: Real> Model<T> for EightSchools {
    fn model<'t>(&self, m: &mut Trace<'t, '_, T>) -> Result<()> {
        let j = m.data().shape().0;
        let mu = m.sample("mu", &Normal::new(m.constant(0.0), m.constant(5.0))?, 1)?;
        let tau = m.sample("tau", &HalfCauchy::new(m.constant(5.0))?, 1)?;
        let theta = if self.centered {
            m.sample("theta", &Normal::new(mu, tau)?, j)?
        } else {
            let standard = Normal::new(m.constant(0.0), m.constant(1.0))?;
            let theta_trans = m.sample("theta_trans", &standard, j)?;
            let theta = mu + tau * theta_trans;
            m.deterministic("theta", theta)?;
            theta
        };
        m.observe("y", &Normal::new(theta, m.column(1))?, m.column(0))
    }

    fn validate(&self, data: &DMatrix<T>) -> Result<()> {
        check_columns("eight-schools data (rows of y and sigma)", data, 2)?;
        if let Some(bad) = data
            .column(1)
            .iter()
            .find(|s| s.to_f64().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
        {
            return Err(Error::invalid("sigma", bad, "a standard error > 0"));
        }
        Ok(())
    }
}
