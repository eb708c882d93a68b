//! The CPU backend: nalgebra matrices in host memory and the host's kernels, one file per family
//! (the numeric building blocks they share, products, sums and recycled storage, are in
//! `crate::kernels`).

mod bernoulli;
mod conv;
pub(crate) mod elementwise;
mod linalg;
mod normal_draw;
mod normal_kl;
mod reduce;
mod shape;

use super::{Backend, Device, OperandGradients, draws};
use crate::kernels::{self, buffers};
use crate::ops::UnaryOp;
use crate::ops::{AdamUpdate, BinaryOp, Concat, Conv2d, DrawParts, Grid, NormalPair, Reduce};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::convert::Infallible;

/// The host's cores: matrices are `nalgebra::DMatrix`, kernels the crate's own (spread over
/// rayon's pool where they are long enough).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl<T: Real> Backend<T> for Cpu {
    type Matrix = DMatrix<T>;
    type Error = Infallible;

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn shape(&self, m: &DMatrix<T>) -> (usize, usize) {
        m.shape()
    }

    fn upload(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Infallible> {
        Ok(buffers::copy(m))
    }

    fn download(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Infallible> {
        Ok(buffers::copy(m))
    }

    fn zeros(&self, rows: usize, cols: usize) -> Result<DMatrix<T>, Infallible> {
        Ok(buffers::zeros(rows, cols))
    }

    fn filled(&self, rows: usize, cols: usize, value: T) -> Result<DMatrix<T>, Infallible> {
        Ok(DMatrix::from_element(rows, cols, value))
    }

    fn matmul(
        &self,
        a: &DMatrix<T>,
        ta: bool,
        b: &DMatrix<T>,
        tb: bool,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(kernels::matmul(a, ta, b, tb))
    }

    fn reshape(&self, m: DMatrix<T>, rows: usize, cols: usize) -> DMatrix<T> {
        m.reshape_generic(nalgebra::Dyn(rows), nalgebra::Dyn(cols))
    }

    fn tile_rows(&self, x: &DMatrix<T>, times: usize) -> Result<DMatrix<T>, Infallible> {
        Ok(shape::tile_rows(x, times))
    }

    fn untile_rows(&self, g: &DMatrix<T>, times: usize) -> Result<DMatrix<T>, Infallible> {
        Ok(shape::untile(g, times))
    }

    fn affine(
        &self,
        x: &DMatrix<T>,
        w: &DMatrix<T>,
        b: &DMatrix<T>,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(linalg::affine(x, w, b))
    }

    fn transpose(&self, a: &DMatrix<T>) -> Result<DMatrix<T>, Infallible> {
        // A vector's transpose is a reshape of its copy; a matrix's, one pass.
        Ok(if a.nrows() == 1 || a.ncols() == 1 {
            linalg::transposed(buffers::copy(a))
        } else {
            a.transpose()
        })
    }

    fn unary(&self, op: UnaryOp<T>, x: &DMatrix<T>) -> Result<DMatrix<T>, Infallible> {
        Ok(elementwise::unary_map(op, x))
    }

    fn unary_vjp(
        &self,
        op: UnaryOp<T>,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        g: DMatrix<T>,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(elementwise::unary_vjp(op, x, y, g))
    }

    fn add_into(&self, acc: &mut DMatrix<T>, g: DMatrix<T>) -> Result<(), Infallible> {
        kernels::add_into(acc, g);
        Ok(())
    }

    fn matmul_add(
        &self,
        acc: &mut DMatrix<T>,
        a: &DMatrix<T>,
        ta: bool,
        b: &DMatrix<T>,
        tb: bool,
    ) -> Result<(), Infallible> {
        // The product, then added in `acc`'s storage: the sum the reverse sweep would have made
        // of the two contributions, to the bit.
        kernels::add_into(acc, kernels::matmul(a, ta, b, tb));
        Ok(())
    }

    fn sum_vjp(&self, g: &DMatrix<T>, shape: (usize, usize)) -> Result<DMatrix<T>, Infallible> {
        Ok(reduce::sum_vjp(g, shape))
    }

    fn block(
        &self,
        m: &DMatrix<T>,
        at: (usize, usize),
        shape: (usize, usize),
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(shape::block(m, at, shape))
    }

    fn embed(
        &self,
        g: &DMatrix<T>,
        shape: (usize, usize),
        at: (usize, usize),
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(shape::embed(g, shape, at))
    }

    fn concat(&self, parts: &[&DMatrix<T>], how: Concat) -> Result<DMatrix<T>, Infallible> {
        Ok(shape::concat(parts, how))
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: &DMatrix<T>,
        b: &DMatrix<T>,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(elementwise::binary_map(op, a, b))
    }

    fn sum(&self, x: &DMatrix<T>, how: Reduce) -> Result<DMatrix<T>, Infallible> {
        Ok(reduce::sum(x, how))
    }

    fn logsumexp(&self, x: &DMatrix<T>, how: Reduce) -> Result<DMatrix<T>, Infallible> {
        Ok(reduce::logsumexp(x, how))
    }

    fn logsumexp_vjp(
        &self,
        how: Reduce,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        g: &DMatrix<T>,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(reduce::logsumexp_vjp(how, x, y, g))
    }

    fn bernoulli_logits(
        &self,
        logits: &DMatrix<T>,
        x: &DMatrix<T>,
        residual: bool,
    ) -> Result<(DMatrix<T>, Option<DMatrix<T>>), Infallible> {
        Ok(bernoulli::bernoulli_logits(logits, x, residual))
    }

    fn diag_normal_kl(&self, params: NormalPair<&DMatrix<T>>) -> Result<DMatrix<T>, Infallible> {
        Ok(normal_kl::diag_normal_kl(params))
    }

    fn diag_normal_kl_vjp(
        &self,
        params: NormalPair<&DMatrix<T>>,
        g: &DMatrix<T>,
        need: [bool; 4],
    ) -> Result<NormalPair<Option<DMatrix<T>>>, Infallible> {
        Ok(normal_kl::diag_normal_kl_vjp(params, g, need))
    }

    fn normal_draw(&self, parts: DrawParts<&DMatrix<T>>) -> Result<DMatrix<T>, Infallible> {
        Ok(normal_draw::normal_draw(parts))
    }

    fn normal_draw_vjp(
        &self,
        parts: DrawParts<&DMatrix<T>>,
        g: &DMatrix<T>,
        need: [bool; 3],
    ) -> Result<DrawParts<Option<DMatrix<T>>>, Infallible> {
        Ok(normal_draw::normal_draw_vjp(parts, g, need))
    }

    fn adam(
        &self,
        update: AdamUpdate<T>,
        param: &mut DMatrix<T>,
        first: &mut DMatrix<T>,
        second: &mut DMatrix<T>,
        grad: &DMatrix<T>,
    ) -> Result<(), Infallible> {
        update.apply(
            param.as_mut_slice(),
            first.as_mut_slice(),
            second.as_mut_slice(),
            grad.as_slice(),
        );
        Ok(())
    }

    fn gather_rows_of_transpose(
        &self,
        data_t: &DMatrix<T>,
        indices: &[usize],
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(kernels::gather_rows_of_transpose(data_t, indices))
    }

    fn copy_grid(
        &self,
        src: &DMatrix<T>,
        from: Grid,
        dst: &mut DMatrix<T>,
        to: Grid,
        shape: [usize; 3],
    ) -> Result<(), Infallible> {
        from.assert_within(shape, src.len(), "copy_grid's source");
        to.assert_within(shape, dst.len(), "copy_grid's destination");
        let (src, dst) = (src.as_slice(), dst.as_mut_slice());
        for l in 0..shape[2] {
            for j in 0..shape[1] {
                for i in 0..shape[0] {
                    dst[to.at([i, j, l])] = src[from.at([i, j, l])];
                }
            }
        }
        Ok(())
    }

    fn lower_triangle(
        &self,
        m: &DMatrix<T>,
        include_diagonal: bool,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(linalg::lower_mask(m, include_diagonal))
    }

    fn solve_lower(
        &self,
        l: &DMatrix<T>,
        b: &DMatrix<T>,
        transposed: bool,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(linalg::solve_lower(l, b, transposed))
    }

    fn cholesky(&self, m: &DMatrix<T>) -> Result<DMatrix<T>, Infallible> {
        Ok(linalg::cholesky_of_symmetric(m))
    }

    fn im2col(&self, images: &DMatrix<T>, geometry: Conv2d) -> Result<DMatrix<T>, Infallible> {
        Ok(geometry.im2col(images))
    }

    fn col2im(
        &self,
        patches: &DMatrix<T>,
        geometry: Conv2d,
        images: usize,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(geometry.col2im(patches, images))
    }

    fn standard_normal(
        &self,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(draws::standard_normal(
            rows,
            cols,
            &mut Pcg64::seed_from_u64(seed),
        ))
    }

    fn uniform(
        &self,
        rows: usize,
        cols: usize,
        range: (f64, f64),
        seed: u64,
    ) -> Result<DMatrix<T>, Infallible> {
        Ok(draws::uniform(
            rows,
            cols,
            range,
            &mut Pcg64::seed_from_u64(seed),
        ))
    }

    fn replace_in_rows(
        &self,
        x: &DMatrix<T>,
        count: usize,
        range: (T, T),
        seed: u64,
    ) -> Result<DMatrix<T>, Infallible> {
        let mut out = x.clone();
        draws::replace_in_rows(&mut out, count, range, &mut Pcg64::seed_from_u64(seed));
        Ok(out)
    }

    fn unbroadcast(&self, g: &DMatrix<T>, shape: (usize, usize)) -> Result<DMatrix<T>, Infallible> {
        Ok(elementwise::unbroadcast(buffers::copy(g), shape))
    }

    fn binary_vjp(
        &self,
        op: BinaryOp,
        [a, b, y, g]: [&DMatrix<T>; 4],
        need: (bool, bool),
    ) -> Result<OperandGradients<DMatrix<T>>, Infallible> {
        Ok(elementwise::binary_vjp(op, a, b, y, g, need))
    }
}
