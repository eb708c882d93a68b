//! Matrix products: the one entry point to the GEMM kernels (the gemm crate's, called
//! single-threaded) and the plain loops used for products too small to pay for packing.

use super::buffers;
use super::wide::product_threads;
use crate::real::Real;
use nalgebra::DMatrix;

/// `op(a) * op(b)` where `op` transposes when the flag says so; no transposed copy is made.
///
/// Small products run a plain loop (the packing of the blocked kernel would cost more than the
/// product); larger ones go to the gemm crate's kernels, split over rayon's threads when called
/// from outside rayon's pool, and over the calling shard's share of them inside it (a
/// data-parallel step with as many shards as threads leaves none to share).
///
/// # Panics
/// If the inner dimensions differ.
pub fn matmul<T: Real>(a: &DMatrix<T>, ta: bool, b: &DMatrix<T>, tb: bool) -> DMatrix<T> {
    let (m, n) = (
        if ta { a.ncols() } else { a.nrows() },
        if tb { b.nrows() } else { b.ncols() },
    );
    // No zeroing: with β = 0 the kernel writes every entry of c without reading it (the small
    // loop adds, and asks for zeros itself).
    let out = buffers::uninitialized::<T>(m, n);
    product_into(a, ta, b, tb, out, false)
}

/// `c + op(a) * op(b)`, computed in `c`'s storage (a layer's bias, broadcast into `c`, is then
/// added by the product's kernel instead of by a pass of its own).
///
/// # Panics
/// If the inner dimensions differ or `c` is not `op(a)`'s rows by `op(b)`'s columns.
pub(crate) fn matmul_add<T: Real>(
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    tb: bool,
    c: DMatrix<T>,
) -> DMatrix<T> {
    product_into(a, ta, b, tb, c, true)
}

/// `op(a) * op(b)`, plus `out`'s entries if `add`, in `out`'s storage.
fn product_into<T: Real>(
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    tb: bool,
    mut out: DMatrix<T>,
    add: bool,
) -> DMatrix<T> {
    let (m, k) = if ta {
        (a.ncols(), a.nrows())
    } else {
        a.shape()
    };
    let (k2, n) = if tb {
        (b.ncols(), b.nrows())
    } else {
        b.shape()
    };
    assert_eq!(
        k, k2,
        "matmul: inner dimensions differ ({m}x{k} times {k2}x{n})"
    );
    assert_eq!(out.shape(), (m, n), "matmul: the output is not {m}x{n}");
    // Strides (row step, column step) of op(x) in x's column-major storage.
    let strides = |x: &DMatrix<T>, t: bool| -> (isize, isize) {
        let ld = x.nrows() as isize;
        if t { (ld, 1) } else { (1, ld) }
    };
    let (ra, ca) = strides(a, ta);
    let (rb, cb) = strides(b, tb);
    // Packing for the blocked kernel costs O(mk + kn): not worth it for tiny products or for
    // matrix-vector shapes, where it would cost as much as the product itself.
    if m * n * k <= 4096 || m.min(n) <= 4 {
        if !add {
            out.fill(T::zero());
        }
        small_matmul(
            a.as_slice(),
            (ra, ca),
            b.as_slice(),
            (rb, cb),
            out.as_mut_slice(),
            (m, k, n),
        );
        return out;
    }
    let product = Product {
        m,
        k,
        n,
        a: (a.as_ptr(), ra, ca),
        b: (b.as_ptr(), rb, cb),
        c: (out.as_mut_ptr(), 1, m as isize),
        beta: if add { T::one() } else { T::zero() },
    };
    let pieces = product_threads(m * n * k);
    // SAFETY: the strides describe op(a) (m x k), op(b) (k x n) and out (m x n) inside their
    // column-major buffers, and `out` outlives the call.
    unsafe {
        product.run(pieces);
    }
    out
}

/// One `c = op(a) op(b)` on raw column-major parts: sizes, then (pointer, row stride, column
/// stride) of op(a), op(b) and c.
#[derive(Clone, Copy)]
struct Product<T> {
    m: usize,
    k: usize,
    n: usize,
    a: (*const T, isize, isize),
    b: (*const T, isize, isize),
    c: (*mut T, isize, isize),
    /// 1 to add the product to c's entries, 0 to overwrite them (c is then not read).
    beta: T,
}

// SAFETY: a `Product` is only run while the buffers it points into are alive (`matmul` waits for
// every piece), and the pieces of one product write disjoint blocks of `c`.
unsafe impl<T: Send> Send for Product<T> {}

/// Products below this many multiply-adds run whole: a piece must pay for repacking its operand.
const MIN_SPLIT_WORK: usize = 1 << 22;
/// Pieces of a split product start at multiples of this many rows or columns (a multiple of
/// every kernel's tile), so that no piece is mostly ragged edge.
const SPLIT_ALIGN: usize = 32;

impl<T: Real> Product<T> {
    /// Computes the product in up to `pieces` parts on rayon's pool: halves of the longer side
    /// of `c`, recursively. The split depends only on the shape and `pieces` (the thread count),
    /// never on the scheduling, so results repeat to the bit for a given thread count (the
    /// kernel's blocking follows each piece's shape, so another split may round differently).
    ///
    /// # Safety
    /// As [`Real::gemm_raw`].
    unsafe fn run(self, pieces: usize) {
        let longer = self.m.max(self.n);
        if pieces < 2 || self.m * self.n * self.k < MIN_SPLIT_WORK || longer < 2 * SPLIT_ALIGN {
            // SAFETY: forwarded.
            unsafe {
                T::gemm_raw(
                    self.m,
                    self.k,
                    self.n,
                    T::one(),
                    self.a,
                    self.b,
                    self.beta,
                    self.c,
                )
            };
            return;
        }
        let half = (longer / 2).div_ceil(SPLIT_ALIGN) * SPLIT_ALIGN;
        let (first, second) = if self.n >= self.m {
            // Columns [0, half) and [half, n) of op(b) and c.
            let mut second = self;
            second.n = self.n - half;
            second.b.0 = self.b.0.wrapping_offset(half as isize * self.b.2);
            second.c.0 = self.c.0.wrapping_offset(half as isize * self.c.2);
            (Product { n: half, ..self }, second)
        } else {
            // Rows [0, half) and [half, m) of op(a) and c.
            let mut second = self;
            second.m = self.m - half;
            second.a.0 = self.a.0.wrapping_offset(half as isize * self.a.1);
            second.c.0 = self.c.0.wrapping_offset(half as isize * self.c.1);
            (Product { m: half, ..self }, second)
        };
        let rest = pieces - pieces / 2;
        // SAFETY: the two pieces cover disjoint blocks of c within the caller's buffers.
        rayon::join(
            move || unsafe { first.run(pieces / 2) },
            move || unsafe { second.run(rest) },
        );
    }
}

/// `out += op(a) op(b)` by plain loops ordered so that the innermost one runs over contiguous
/// memory where the layout allows.
fn small_matmul<T: Real>(
    a: &[T],
    (ra, ca): (isize, isize),
    b: &[T],
    (rb, cb): (isize, isize),
    out: &mut [T],
    (m, k, n): (usize, usize, usize),
) {
    let (ra, ca, rb, cb) = (ra as usize, ca as usize, rb as usize, cb as usize);
    // A few rows of op(a) against long contiguous columns of op(b) (the gradient of a few draws'
    // weights over a minibatch's rows): op(a)'s rows copied out contiguous once, so that each
    // entry is one long dot product; the column axpys below would have length m.
    if ra == 1 && (2..8).contains(&m) && rb == 1 && k >= 64 {
        let rows: Vec<T> = (0..m)
            .flat_map(|i| (0..k).map(move |p| a[i + p * ca]))
            .collect();
        for j in 0..n {
            let column = &b[j * cb..j * cb + k];
            for (i, row) in rows.chunks_exact(k).enumerate() {
                out[i + j * m] += dot(row, column);
            }
        }
        return;
    }
    // Axpys down op(a)'s columns need them long: a single row (m = 1) is contiguous either way
    // and takes dot products, and a few rows against op(b)'s contiguous rows take the row
    // branch.
    let b_rows_contiguous = cb == 1 && rb != 1;
    if ra == 1 && !(m == 1 && ca == 1) && !(b_rows_contiguous && m < 8) {
        // op(a) has contiguous columns: out[:, j] += op(a)[:, p] * op(b)[p, j].
        for j in 0..n {
            let col = &mut out[j * m..(j + 1) * m];
            for p in 0..k {
                axpy(col, b[p * rb + j * cb], &a[p * ca..p * ca + m]);
            }
        }
    } else if b_rows_contiguous {
        // op(b) = bᵀ has contiguous rows (a row of draws times a transposed data set, say):
        // out[i, :] += Σ_p op(a)[i, p] op(b)[p, :], along op(b)'s rows. Dot products would
        // read op(b)'s columns, one entry from each of k distant rows.
        // In stretches of columns that stay in L1 across the k passes, summed into a row of
        // their own and then added to out's row i (strided by m).
        const STRETCH: usize = 2048;
        let mut row = vec![T::zero(); STRETCH.min(n)];
        for start in (0..n).step_by(STRETCH) {
            let row = &mut row[..STRETCH.min(n - start)];
            for i in 0..m {
                row.fill(T::zero());
                for p in 0..k {
                    let from = p * rb + start;
                    axpy(row, a[i * ra + p * ca], &b[from..from + row.len()]);
                }
                for (j, &v) in row.iter().enumerate() {
                    out[i + (start + j) * m] += v;
                }
            }
        }
    } else {
        // op(a) = aᵀ has contiguous rows: out[i, j] = op(a)[i, :] · op(b)[:, j].
        for j in 0..n {
            for i in 0..m {
                let a_row = &a[i * ra..i * ra + k];
                let mut acc = T::zero();
                if rb == 1 {
                    acc = dot(a_row, &b[j * cb..j * cb + k]);
                } else {
                    for (p, &av) in a_row.iter().enumerate() {
                        acc += av * b[p * rb + j * cb];
                    }
                }
                out[i + j * m] += acc;
            }
        }
    }
}

/// `y += alpha x`, eight entries at a time so that the compiler emits vector instructions.
fn axpy<T: Real>(y: &mut [T], alpha: T, x: &[T]) {
    let mut ys = y.chunks_exact_mut(8);
    let mut xs = x.chunks_exact(8);
    for (yc, xc) in (&mut ys).zip(&mut xs) {
        for l in 0..8 {
            yc[l] += alpha * xc[l];
        }
    }
    for (yv, &xv) in ys.into_remainder().iter_mut().zip(xs.remainder()) {
        *yv += alpha * xv;
    }
}

/// Σ x_i y_i with eight independent partial sums, so that the compiler can vectorise it (one
/// running sum would fix the order of the additions and forbid that), accumulated in f64 as
/// [`super::sum`] is: a 1-row product over a million data rows is a gradient's entry.
fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let mut lanes = [0.0f64; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .fold(0.0, |a, (&u, &v)| a + (u * v).to_f64());
    for (u, v) in xc.zip(yc) {
        for l in 0..8 {
            lanes[l] += (u[l] * v[l]).to_f64();
        }
    }
    T::of_f64(lanes.iter().fold(tail, |a, &l| a + l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_nalgebra_in_every_transpose_and_size() {
        for &(m, k, n) in &[
            (2, 3, 4),
            (17, 33, 9),
            (40, 30, 20),
            (500, 21, 1),
            (1, 30, 40),
            (3, 50, 60),
            // A row or a few rows of weights against a transposed data set (the row branch,
            // over more than one stretch) and their gradients (the dot-product branch).
            (1, 11, 5000),
            (4, 11, 5000),
            (4, 3000, 11),
            (7, 100, 3),
        ] {
            let a = DMatrix::<f64>::from_fn(m, k, |i, j| (i as f64 * 0.7 - j as f64 * 0.3).sin());
            let b = DMatrix::<f64>::from_fn(k, n, |i, j| (i as f64 * 0.2 + j as f64 * 0.9).cos());
            let want = &a * &b;
            let at = a.transpose();
            let bt = b.transpose();
            for (x, tx, y, ty) in [
                (&a, false, &b, false),
                (&at, true, &b, false),
                (&a, false, &bt, true),
                (&at, true, &bt, true),
            ] {
                let got = matmul(x, tx, y, ty);
                assert!((got - &want).abs().max() < 1e-12, "{m}x{k}x{n}, {tx} {ty}");
            }
        }
    }

    #[test]
    fn a_split_product_matches_the_whole_one_and_repeats_to_the_bit() {
        for &(m, k, n, ta) in &[
            (96, 700, 300, false),
            (300, 500, 70, true),
            (75, 800, 90, false),
        ] {
            let a = DMatrix::<f32>::from_fn(m, k, |i, j| ((i * 7 + j * 3) as f32 * 0.01).sin());
            let b = DMatrix::<f32>::from_fn(k, n, |i, j| ((i * 5 + j) as f32 * 0.013).cos());
            let a = if ta { a.transpose() } else { a };
            let product_in = |pieces: usize| {
                let mut out = DMatrix::<f32>::zeros(m, n);
                let ld = a.nrows() as isize;
                let product = Product {
                    m,
                    k,
                    n,
                    a: (a.as_ptr(), if ta { ld } else { 1 }, if ta { 1 } else { ld }),
                    b: (b.as_ptr(), 1, k as isize),
                    c: (out.as_mut_ptr(), 1, m as isize),
                    beta: 0.0,
                };
                // SAFETY: the parts describe a, b and out above.
                unsafe { product.run(pieces) };
                out
            };
            let whole = product_in(1);
            let scale = whole.amax();
            for pieces in [2, 3, 8] {
                let split = product_in(pieces);
                // The kernel's blocking follows the piece's shape, so the sums may be ordered
                // differently: equal to float rounding, and the same split gives the same bits.
                assert!((&split - &whole).amax() <= 1e-5 * scale, "{pieces} pieces");
                assert_eq!(split.as_slice(), product_in(pieces).as_slice());
            }
        }
    }
    #[test]
    fn inside_the_pool_a_product_uses_its_share_of_the_threads() {
        use crate::kernels::with_product_threads;
        let a = DMatrix::<f64>::from_fn(64, 600, |i, j| ((i * 7 + j * 3) as f64 * 0.01).sin());
        let b = DMatrix::<f64>::from_fn(600, 256, |i, j| ((i * 5 + j) as f64 * 0.013).cos());
        let whole = matmul(&a, false, &b, false);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let (alone, shared) = pool.install(|| {
            // On a pool thread a product runs whole unless a share of threads was given.
            assert_eq!(product_threads(64 * 600 * 256), 1);
            let alone = matmul(&a, false, &b, false);
            let shared = with_product_threads(4, || {
                assert_eq!(product_threads(64 * 600 * 256), 4);
                matmul(&a, false, &b, false)
            });
            assert_eq!(product_threads(1), 1, "the share ends with the closure");
            (alone, shared)
        });
        for product in [alone, shared] {
            assert!((&product - &whole).amax() <= 1e-12 * whole.amax());
        }
    }
}
