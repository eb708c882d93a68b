//! One matrix added into another in place: how the reverse sweep sums a gradient's
//! contributions and how data-parallel shards' gradients are summed.

use super::{PIECE, buffers, for_each_piece, wide};
use crate::real::Real;
use nalgebra::DMatrix;

/// `acc += g`, on the slices: nalgebra's `+=` walks both matrices with strided iterators.
pub(crate) fn add_to<T: Real>(acc: &mut [T], g: &[T]) {
    wide(
        g.len(),
        #[inline(always)]
        || {
            for (a, &b) in acc.iter_mut().zip(g) {
                *a += b;
            }
        },
    )
}

/// `acc += g`, in pieces spread over the cores where `g` is long; `g`'s storage is recycled.
///
/// # Panics
/// If the shapes differ.
pub(crate) fn add_into<T: Real>(acc: &mut DMatrix<T>, g: DMatrix<T>) {
    assert_eq!(
        acc.shape(),
        g.shape(),
        "gradient contributions differ in shape"
    );
    if g.len() <= PIECE {
        // One piece: added here, without the list of pieces a spread sum makes.
        add_to(acc.as_mut_slice(), g.as_slice());
    } else {
        let pieces: Vec<(&mut [T], &[T])> = acc
            .as_mut_slice()
            .chunks_mut(PIECE)
            .zip(g.as_slice().chunks(PIECE))
            .collect();
        for_each_piece(pieces, g.len(), |(acc, g)| add_to(acc, g));
    }
    buffers::recycle(g);
}
