//! A reparameterised Gaussian draw μ + e^ℓ ε as one tape op: as three ops it was three launches
//! on a GPU forward and four back, on every step of every Gaussian guide.

use super::tape::{Op, Var};
use crate::ops::DrawParts;
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    /// μ + e^ℓ ε entry by entry (`R x d`), from `[μ, ℓ, ε]`, each `R x d` or `1 x d` shared by
    /// every row. The same values, to the bit, as `mean + log_sd.exp() * eps`.
    ///
    /// # Panics
    /// If their widths differ or one has a number of rows other than 1 or `R`.
    pub(crate) fn normal_draw(parts: DrawParts<Var<'t, T>>) -> Var<'t, T> {
        let op = || Op::NormalDraw(parts.map(|v| v.id));
        Var::apply(parts, op, |k, values| k.normal_draw(values))
    }
}
