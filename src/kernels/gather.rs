//! Copying rows out of a data set into a batch: a minibatch's rows gathered from anywhere in
//! the data, and a shard's consecutive rows cut from a batch.
//!
//! A minibatch of a large data set is a gather of rows scattered over more memory than the
//! caches hold, so each row is a miss to main memory. Written as a plain loop, the copy of one
//! row waits for its miss before the next row's is issued (a 10⁴-row batch of an 11-column,
//! 10⁶-row data set took 0.6–0.8 ms, 70 ns a row); asking for rows a few ahead overlaps the
//! misses. Rows are copied whole into a small block that stays in cache, and the block is then
//! written out column by column, so that neither side jumps between distant addresses per
//! entry: 0.22 ms for that batch, and 0.12 ms against 0.16–0.19 ms for a 128-row batch of
//! 784-pixel images.

use super::buffers;
use super::wide::{PIECE, worth_spreading};
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Rows copied into the scratch block at a time (fewer for rows so wide that the block would
/// outgrow [`SCRATCH_ENTRIES`]).
const TILE: usize = 64;

/// The most entries of the scratch block: it stays in the L2 cache.
const SCRATCH_ENTRIES: usize = 1 << 16;

/// How many rows ahead the gather asks for the row it will copy.
const AHEAD: usize = 16;

/// The rows `indices` of a data set given by its transpose `data_t` (one column per data row, so
/// that each row is contiguous), as a `indices.len() x data_t.nrows()` matrix in recycled
/// storage. Long gathers are cut into blocks of rows for rayon's threads.
///
/// # Panics
/// If an index is not a column of `data_t`.
pub(crate) fn gather_rows_of_transpose<T: Real>(
    data_t: &DMatrix<T>,
    indices: &[usize],
) -> DMatrix<T> {
    let (dim, rows) = (data_t.nrows(), indices.len());
    let mut out = buffers::uninitialized(rows, dim);
    if rows == 0 || dim == 0 {
        return out;
    }
    let data = data_t.as_slice();
    let entries = rows * dim;
    if worth_spreading(entries) {
        // Blocks of about a piece each, a whole number of tiles; each block owns its rows'
        // stretch of every column.
        let block = (PIECE / dim).max(1).next_multiple_of(TILE);
        let mut blocks: Vec<Vec<&mut [T]>> = (0..rows.div_ceil(block))
            .map(|_| Vec::with_capacity(dim))
            .collect();
        for column in out.as_mut_slice().chunks_exact_mut(rows) {
            for (stretch, columns) in column.chunks_mut(block).zip(blocks.iter_mut()) {
                columns.push(stretch);
            }
        }
        blocks
            .into_par_iter()
            .zip(indices.par_chunks(block))
            .for_each(|(mut columns, indices)| gather_block(data, dim, indices, &mut columns));
    } else {
        let mut columns: Vec<&mut [T]> = out.as_mut_slice().chunks_exact_mut(rows).collect();
        gather_block(data, dim, indices, &mut columns);
    }
    out
}

/// Writes data row `indices[r]` (entries `dim * i ..` of `data`) into row `r` of `columns`:
/// [`TILE`] rows at a time copied whole into a scratch block (each a contiguous read, the rows
/// [`AHEAD`] further on asked for meanwhile), then the block's columns written out.
fn gather_block<T: Real>(data: &[T], dim: usize, indices: &[usize], columns: &mut [&mut [T]]) {
    let tile = (SCRATCH_ENTRIES / dim).clamp(1, TILE);
    let mut scratch = vec![T::zero(); tile * dim];
    for (t, rows) in indices.chunks(tile).enumerate() {
        let first = t * tile;
        for (k, &i) in rows.iter().enumerate() {
            if let Some(&ahead) = indices.get(first + k + AHEAD) {
                prefetch(data, ahead * dim);
                prefetch(data, ahead * dim + dim - 1);
            }
            // A loop, not `copy_from_slice`: rows of a few entries would each be a call to
            // memmove.
            for (to, &from) in scratch[k * dim..(k + 1) * dim]
                .iter_mut()
                .zip(&data[i * dim..(i + 1) * dim])
            {
                *to = from;
            }
        }
        for (j, column) in columns.iter_mut().enumerate() {
            for (k, entry) in column[first..first + rows.len()].iter_mut().enumerate() {
                *entry = scratch[k * dim + j];
            }
        }
    }
}

/// Asks for the cache line holding `data[at]` (a hint: nothing is read, and an index past the
/// end is ignored).
#[inline(always)]
fn prefetch<T>(data: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(entry) = data.get(at) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86-64, and a prefetch reads nothing (the address is the
        // entry's, in bounds).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(entry).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

/// Rows `start .. start + len` of `data`, in recycled storage: one contiguous copy per column.
///
/// # Panics
/// If the rows run past the end of `data`.
pub(crate) fn row_block<T: Real>(data: &DMatrix<T>, start: usize, len: usize) -> DMatrix<T> {
    let rows = data.nrows();
    assert!(start + len <= rows, "row_block: rows past the end");
    let mut out = buffers::uninitialized(len, data.ncols());
    if len == 0 {
        return out;
    }
    for (to, from) in out
        .as_mut_slice()
        .chunks_exact_mut(len)
        .zip(data.as_slice().chunks_exact(rows))
    {
        to.copy_from_slice(&from[start..start + len]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry equals the data's, whatever the sizes against the tile and the blocks.
    #[test]
    fn gathered_rows_are_the_data_rows() {
        for &(n, dim, rows) in &[
            (50, 3, 7),
            (40, 17, 33),
            (3000, 11, 2500),
            (500, 784, 130),
            (10, 1, 10),
        ] {
            let data = DMatrix::<f64>::from_fn(n, dim, |i, j| (i * 1000 + j) as f64);
            let indices: Vec<usize> = (0..rows).map(|r| (r * 7919 + 3) % n).collect();
            let batch = gather_rows_of_transpose(&data.transpose(), &indices);
            assert_eq!(
                batch,
                data.select_rows(&indices),
                "{n} x {dim}, {rows} rows"
            );
            // And the same from inside the pool, where nothing is spread.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            let inside = pool.install(|| gather_rows_of_transpose(&data.transpose(), &indices));
            assert_eq!(inside, batch);
        }
    }

    #[test]
    fn row_blocks_are_the_rows() {
        let data = DMatrix::<f32>::from_fn(9, 4, |i, j| (i * 10 + j) as f32);
        assert_eq!(row_block(&data, 2, 5), data.rows(2, 5).into_owned());
        assert_eq!(row_block(&data, 9, 0).shape(), (0, 4));
    }

    #[test]
    #[should_panic(expected = "rows past the end")]
    fn a_row_block_past_the_end_panics() {
        let data = DMatrix::<f32>::zeros(3, 2);
        let _ = row_block(&data, 2, 2);
    }
}
