//! Comparing subspaces.

use nalgebra::DMatrix;

/// The largest principal angle, in degrees, between the column spaces of `a` and `b` (both
/// `D x q`): 0 when they span the same subspace, 90 when some direction of one is orthogonal to
/// the other.
pub fn largest_principal_angle(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let (qa, qb) = (a.clone().qr().q(), b.clone().qr().q());
    let cosines = (qa.transpose() * qb).singular_values();
    let smallest = cosines
        .iter()
        .copied()
        .fold(1.0f64, f64::min)
        .clamp(0.0, 1.0);
    smallest.acos().to_degrees()
}
