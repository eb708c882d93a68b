//! The host's elementwise kernels: unary maps, binary operations with broadcasting and their
//! vector-Jacobian products.

use crate::backend::OperandGradients;
use crate::kernels::{self, buffers, wide};
use crate::ops::{BinaryOp, UnaryOp, broadcast_shape};
use crate::real::Real;
use nalgebra::DMatrix;

/// Column `j` of `m` under broadcasting: its own column `j`, or its only column.
#[inline(always)]
fn broadcast_column<T: Real>(m: &DMatrix<T>, j: usize) -> &[T] {
    let jj = if m.ncols() == 1 { 0 } else { j };
    &m.as_slice()[jj * m.nrows()..(jj + 1) * m.nrows()]
}

/// `f(a_ij, b_ij)` over the broadcast shape of `a` and `b`.
pub(crate) fn zip_broadcast<T: Real>(
    a: &DMatrix<T>,
    b: &DMatrix<T>,
    what: &str,
    f: impl Fn(T, T) -> T,
) -> DMatrix<T> {
    if a.shape() == b.shape() {
        let mut out = buffers::uninitialized(a.nrows(), a.ncols());
        let entries = out
            .as_mut_slice()
            .iter_mut()
            .zip(a.as_slice().iter().zip(b.as_slice()));
        wide(a.len(), || entries.for_each(|(o, (&x, &y))| *o = f(x, y)));
        return out;
    }
    let (r, c) = broadcast_shape(a.shape(), b.shape(), what);
    // Every entry is written below.
    let mut out = buffers::uninitialized(r, c);
    if out.is_empty() {
        // No rows (or no columns) to walk: zero rows broadcast against a row, say.
        return out;
    }
    // A 1 x 1 operand: one loop over the other's storage (a one-row matrix's columns are
    // single entries, which the loop by columns below would visit one at a time).
    if a.len() == 1 || b.len() == 1 {
        let len = out.len();
        let entries = out.as_mut_slice().iter_mut();
        if a.len() == 1 {
            let (x, ys) = (a[0], b.as_slice());
            wide(len, || entries.zip(ys).for_each(|(o, &y)| *o = f(x, y)));
        } else {
            let (xs, y) = (a.as_slice(), b[0]);
            wide(len, || entries.zip(xs).for_each(|(o, &x)| *o = f(x, y)));
        }
        return out;
    }
    // Column j of an operand: its own column j, or its only column; a one-row operand repeats
    // its single entry down the column. One wide loop over all columns (draws by data rows
    // against a data row or a column of scales has short columns: a dispatch per column cost
    // more than the column).
    let columns = out.as_mut_slice().chunks_exact_mut(r).enumerate();
    wide(r * c, || {
        for (j, out_col) in columns {
            let (ca, cb) = (broadcast_column(a, j), broadcast_column(b, j));
            match (ca.len() == 1 && r > 1, cb.len() == 1 && r > 1) {
                (false, false) => out_col
                    .iter_mut()
                    .zip(ca.iter().zip(cb))
                    .for_each(|(o, (&x, &y))| *o = f(x, y)),
                (true, false) => out_col
                    .iter_mut()
                    .zip(cb)
                    .for_each(|(o, &y)| *o = f(ca[0], y)),
                (false, true) => out_col
                    .iter_mut()
                    .zip(ca)
                    .for_each(|(o, &x)| *o = f(x, cb[0])),
                (true, true) => out_col.iter_mut().for_each(|o| *o = f(ca[0], cb[0])),
            }
        }
    });
    out
}

/// `op` applied to every entry of `x`.
pub(crate) fn unary_map<T: Real>(op: UnaryOp<T>, x: &DMatrix<T>) -> DMatrix<T> {
    // A copy mapped in place: a plain slice loop, which vectorises (a collected map did not).
    let mut value = buffers::copy(x);
    op.map_in_place(value.as_mut_slice());
    value
}

/// `a op b` entry by entry, over the shape the two broadcast to.
///
/// # Panics
/// If the shapes do not broadcast.
pub(crate) fn binary_map<T: Real>(op: BinaryOp, a: &DMatrix<T>, b: &DMatrix<T>) -> DMatrix<T> {
    match op {
        BinaryOp::Add => zip_broadcast(a, b, "add", |x, y| x + y),
        BinaryOp::Sub => zip_broadcast(a, b, "sub", |x, y| x - y),
        BinaryOp::Mul => zip_broadcast(a, b, "mul", |x, y| x * y),
        BinaryOp::Div => zip_broadcast(a, b, "div", |x, y| x / y),
    }
}

/// Sums `g` over the axes along which an operand of `shape` was broadcast.
pub(crate) fn unbroadcast<T: Real>(g: DMatrix<T>, shape: (usize, usize)) -> DMatrix<T> {
    if g.shape() == shape {
        return g;
    }
    let mut out = buffers::zeros(shape.0, shape.1);
    let rows = g.nrows();
    for (j, col) in g.as_slice().chunks_exact(rows.max(1)).enumerate() {
        let jj = if shape.1 == 1 { 0 } else { j };
        if shape.0 == 1 {
            // In f64 (kernels::sum), as every sum over rows: a row broadcast down many rows
            // sums as many terms into its gradient.
            out[(0, jj)] += kernels::sum(col);
        } else {
            let rows_out = shape.0;
            for (o, &v) in out.as_mut_slice()[jj * rows_out..(jj + 1) * rows_out]
                .iter_mut()
                .zip(col)
            {
                *o += v;
            }
        }
    }
    out
}

/// Vector-Jacobian product of a unary map.
pub(crate) fn unary_vjp<T: Real>(
    op: UnaryOp<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    g: DMatrix<T>,
) -> DMatrix<T> {
    let mut g = g;
    op.vjp_in_place(g.as_mut_slice(), x.as_slice(), y.as_slice());
    g
}

/// Vector-Jacobian products of a binary operation, for whichever operands need them.
pub(crate) fn binary_vjp<T: Real>(
    op: BinaryOp,
    a: &DMatrix<T>,
    b: &DMatrix<T>,
    y: &DMatrix<T>,
    g: &DMatrix<T>,
    need: (bool, bool),
) -> OperandGradients<DMatrix<T>> {
    let (ga, gb) = match op {
        BinaryOp::Add => (
            need.0.then(|| buffers::copy(g)),
            need.1.then(|| buffers::copy(g)),
        ),
        BinaryOp::Sub => (
            need.0.then(|| buffers::copy(g)),
            need.1.then(|| {
                let mut minus = buffers::copy(g);
                minus.neg_mut();
                minus
            }),
        ),
        BinaryOp::Mul => (
            need.0.then(|| zip_broadcast(g, b, "mul", |g, b| g * b)),
            need.1.then(|| zip_broadcast(g, a, "mul", |g, a| g * a)),
        ),
        BinaryOp::Div => (
            need.0.then(|| zip_broadcast(g, b, "div", |g, b| g / b)),
            need.1.then(|| {
                // d(a/b)/db = -y/b
                let gy = zip_broadcast(g, y, "mul", |g, y| g * y);
                let gb = zip_broadcast(&gy, b, "div", |gy, b| -gy / b);
                buffers::recycle(gy);
                gb
            }),
        ),
    };
    (
        ga.map(|g| unbroadcast(g, a.shape())),
        gb.map(|g| unbroadcast(g, b.shape())),
    )
}
