//! Binary elementwise operations with row/column broadcasting.

/// A binary elementwise operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// The shape two operands broadcast to: along each axis the sizes agree or one of them is 1.
pub(crate) fn broadcast_shape(a: (usize, usize), b: (usize, usize), what: &str) -> (usize, usize) {
    let axis = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    match (axis(a.0, b.0), axis(a.1, b.1)) {
        (Some(r), Some(c)) => (r, c),
        _ => panic!(
            "{what}: shapes {}x{} and {}x{} do not broadcast",
            a.0, a.1, b.0, b.1
        ),
    }
}
