//! Fused operations' operands: their order and the shapes they may take.

/// `(R, d)`: the shape of a fused op's entries whose operands are each `R x d` or `1 x d`
/// (one row shared by every row), R the most rows among them.
///
/// # Panics
/// If their widths differ or one has a number of rows other than 1 or R, naming `op`.
fn rows_broadcast(op: &str, shapes: &[(usize, usize)]) -> (usize, usize) {
    let rows = shapes.iter().map(|s| s.0).max().unwrap_or(0);
    let width = shapes.first().map_or(0, |s| s.1);
    for &(r, d) in shapes {
        assert!(
            d == width && (r == 1 || r == rows),
            "{op}: operands of shapes {shapes:?} (each R x d or 1 x d, one d)"
        );
    }
    (rows, width)
}

/// The three operands of a draw, in this order: the means μ, the log standard deviations ℓ and
/// the standard-normal noise ε.
pub(crate) type DrawParts<M> = [M; 3];

/// `(R, d)`: the shape of the draw of `parts`' shapes.
///
/// # Panics
/// As `Var::normal_draw`.
pub(crate) fn draw_shape(shapes: DrawParts<(usize, usize)>) -> (usize, usize) {
    rows_broadcast("normal_draw", &shapes)
}

/// The four parameters of a KL term, in this order: q's means and log standard deviations,
/// then p's.
pub(crate) type NormalPair<M> = [M; 4];

/// `(R, d)`: the rows and width of the term of `params`' shapes.
///
/// # Panics
/// As `Var::diag_normal_kl`.
pub(crate) fn term_shape(shapes: NormalPair<(usize, usize)>) -> (usize, usize) {
    rows_broadcast("diag_normal_kl", &shapes)
}
