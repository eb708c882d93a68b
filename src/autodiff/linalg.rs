//! Linear algebra on the tape: matrix products, transposes, and what a Cholesky-parameterised
//! Gaussian needs (lower triangles, diagonals, triangular solves).
use super::tape::{Op, Var};
use crate::real::Real;

impl<'t, T: Real> Var<'t, T> {
    fn product(self, other: Var<'t, T>, ta: bool, tb: bool) -> Self {
        self.same_tape(&other);
        let op = || Op::MatMul {
            a: self.id,
            b: other.id,
            ta,
            tb,
        };
        Var::apply([self, other], op, |k, [a, b]| k.matmul(a, ta, b, tb))
    }

    /// `self * w + b`, a dense layer's pre-activation, with `b` a single row added to every row
    /// of the product. The same as `self.matmul(w) + b`, in one node: the bias is broadcast
    /// into the output first and the product's kernel adds to it, so neither the sum nor its
    /// gradient takes a pass (or a matrix) of its own.
    ///
    /// # Panics
    /// If the inner dimensions differ or `b` is not one row as wide as `w`.
    pub fn affine(self, w: Var<'t, T>, b: Var<'t, T>) -> Self {
        assert_eq!(
            b.shape(),
            (1, w.shape().1),
            "affine: the bias is not one row as wide as the weights"
        );
        let op = || Op::Affine {
            x: self.id,
            w: w.id,
            b: b.id,
        };
        Var::apply([self, w, b], op, |k, [x, w, b]| k.affine(x, w, b))
    }

    /// Matrix product `self * other`.
    pub fn matmul(self, other: Var<'t, T>) -> Self {
        self.product(other, false, false)
    }
    /// `self * otherᵀ`, without forming the transpose.
    pub fn matmul_t(self, other: Var<'t, T>) -> Self {
        self.product(other, false, true)
    }
    /// `selfᵀ * other`, without forming the transpose.
    pub fn t_matmul(self, other: Var<'t, T>) -> Self {
        self.product(other, true, false)
    }

    /// The transpose.
    pub fn transpose(self) -> Self {
        let op = || Op::Transpose(self.id);
        Var::apply([self], op, |k, [a]| k.transpose(a))
    }

    /// The lower triangle (entries with column ≤ row, or < row without the diagonal); the rest
    /// are zero.
    pub fn lower_triangle(self, include_diagonal: bool) -> Self {
        let op = || Op::LowerTriangle {
            a: self.id,
            include_diagonal,
        };
        Var::apply([self], op, |k, [m]| k.lower_triangle(m, include_diagonal))
    }

    /// The diagonal of a square matrix, as a column (d x 1).
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn diagonal(self) -> Self {
        let op = || Op::Diagonal(self.id);
        Var::apply([self], op, |k, [m]| k.diagonal(m))
    }

    /// The square diagonal matrix whose diagonal is this row or column vector.
    ///
    /// # Panics
    /// If the value is not a vector.
    pub fn diagonal_matrix(self) -> Self {
        let op = || Op::DiagonalMatrix(self.id);
        Var::apply([self], op, |k, [v]| k.diagonal_matrix(v))
    }

    /// `L⁻¹ B` for this lower-triangular `L` (entries above the diagonal are ignored), by forward
    /// substitution. A zero on the diagonal gives NaN entries rather than a panic, so that a
    /// fitting loop sees a non-finite loss and can react.
    pub fn solve_lower(self, b: Var<'t, T>) -> Self {
        let op = || Op::SolveLower {
            l: self.id,
            b: b.id,
        };
        Var::apply([self, b], op, |k, [l, b]| k.solve_lower(l, b, false))
    }

    /// The lower Cholesky factor L of the symmetric part S = ½(A + Aᵀ) of this square matrix
    /// (S = L Lᵀ). Reading the symmetric part makes the op a function of every entry, so that its
    /// gradient is the symmetric one a finite-difference check sees. A matrix that is not
    /// positive definite gives NaN entries rather than a panic, so that a fitting loop sees a
    /// non-finite loss and can react.
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn cholesky(self) -> Self {
        let (r, c) = self.shape();
        assert!(r == c, "cholesky of a non-square {r}x{c} matrix");
        let op = || Op::Cholesky(self.id);
        Var::apply([self], op, |k, [a]| k.cholesky(a))
    }
}
