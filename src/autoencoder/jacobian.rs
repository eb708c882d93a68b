//! ‖J_f(x)‖²_F, the squared Frobenius norm of the encoder's Jacobian at each row, exactly and
//! on the tape (the contractive penalty is differentiated through it).

use super::network::LayerTrace;
use crate::autodiff::Var;
use crate::real::Real;
use nalgebra::DMatrix;

/// Σ_{i,j} (∂f_i/∂x_j)² for each row of the input (`B x 1`), from the encoder's layers.
///
/// One layer (h = σ(x W + b)) has the closed form Σ_i σ'(a_i)² Σ_j W_ji². Deeper encoders
/// carry every row's Jacobian J_l = diag(σ'(a_l)) W_lᵀ J_{l−1} side by side as one
/// `n_l x (B·D)` matrix (row b's block in columns b·D .. (b+1)·D), so that each layer is one
/// product and one elementwise scaling on the tape: O(B·D·Σ n_l n_{l−1}) work, exact.
pub(crate) fn frobenius_of_layers<'t, T: Real>(
    layers: &[LayerTrace<'t, T>],
    inputs: usize,
) -> Var<'t, T> {
    let first = &layers[0];
    let tape = first.pre.tape();
    let slope = first.activation.derivative(first.pre, first.post); // B x n₁
    if layers.len() == 1 {
        // Σ_i σ'(a_i)² ‖W_{·i}‖²: column norms of W (D x n₁) as a n₁ x 1 column.
        let column_norms = first.weight.square().col_sums().transpose();
        return slope.square().matmul(column_norms);
    }
    let rows = slope.shape().0;
    let d = inputs;
    // Expansion matrices: E_D tiles a D-column block B times; E_B repeats each of B columns D
    // times.
    let tile = tape.constant(DMatrix::from_fn(d, rows * d, |j, c| {
        if c % d == j { T::one() } else { T::zero() }
    }));
    let repeat = tape.constant(DMatrix::from_fn(rows, rows * d, |b, c| {
        if c / d == b { T::one() } else { T::zero() }
    }));
    let mut m = slope.transpose().matmul(repeat) * first.weight.t_matmul(tile);
    for layer in &layers[1..] {
        let slope = layer.activation.derivative(layer.pre, layer.post);
        m = slope.transpose().matmul(repeat) * layer.weight.t_matmul(m);
    }
    // Each row's block of squares, summed: (1 x B·D) times E_Bᵀ.
    m.square().col_sums().matmul_t(repeat).transpose()
}

/// The mean of ‖J_f(x)‖²_F over the rows of `x` for an autoencoder's encoder, off the tape.
pub fn jacobian_frobenius<T: Real>(
    autoencoder: &super::Autoencoder,
    store: &crate::params::ParamStore<T>,
    x: &DMatrix<T>,
) -> f64 {
    let tape = crate::autodiff::Tape::for_evaluation(store);
    let layers = autoencoder.encode_layers(tape.constant(x.clone()));
    let per_row = frobenius_of_layers(&layers, autoencoder.inputs());
    per_row.value().iter().map(|v| v.to_f64()).sum::<f64>() / x.nrows().max(1) as f64
}
