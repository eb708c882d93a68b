//! The shapes of the kernels' results, and nothing else: what a tape whose device failed runs
//! for the rest of its pass. Every op still returns a value of the right shape, so the model's
//! code runs on to its end (reading NaN where it reads a value), and the pass then returns the
//! device's error (`Tape::try_backward`) instead of unwinding through the model.

use super::{Backend, Device};
use crate::ops::{AdamUpdate, BinaryOp, Conv2d, DrawParts, Grid, NormalPair, Reduce, UnaryOp};
use crate::ops::{broadcast_shape, draw_shape, term_shape};
use crate::real::Real;
use nalgebra::DMatrix;
use std::convert::Infallible;
use std::marker::PhantomData;

/// A backend whose matrices are their shapes.
pub(crate) struct Shapes;

/// A matrix of `T` that is only its shape.
pub(crate) struct Shape<T>(pub(crate) (usize, usize), PhantomData<T>);

impl<T> Shape<T> {
    pub(crate) fn of(shape: (usize, usize)) -> Self {
        Shape(shape, PhantomData)
    }
}

impl<T> Clone for Shape<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shape<T> {}

impl<T: Real> Backend<T> for Shapes {
    type Matrix = Shape<T>;
    type Error = Infallible;

    fn device(&self) -> Device {
        Device::Cpu
    }
    fn shape(&self, m: &Shape<T>) -> (usize, usize) {
        m.0
    }
    fn upload(&self, m: &DMatrix<T>) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of(m.shape()))
    }
    fn download(&self, &Shape((r, c), _): &Shape<T>) -> Result<DMatrix<T>, Infallible> {
        Ok(DMatrix::from_element(r, c, T::of_f64(f64::NAN)))
    }
    fn zeros(&self, rows: usize, cols: usize) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((rows, cols)))
    }
    fn matmul(
        &self,
        a: &Shape<T>,
        ta: bool,
        b: &Shape<T>,
        tb: bool,
    ) -> Result<Shape<T>, Infallible> {
        let (a, b) = (a.0, b.0);
        let (m, k) = if ta { (a.1, a.0) } else { a };
        let (k2, n) = if tb { (b.1, b.0) } else { b };
        assert_eq!(k, k2, "matmul: inner dimensions {k} and {k2} differ");
        Ok(Shape::of((m, n)))
    }
    fn transpose(&self, a: &Shape<T>) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((a.0.1, a.0.0)))
    }
    fn reshape(&self, m: Shape<T>, rows: usize, cols: usize) -> Shape<T> {
        assert_eq!(m.0.0 * m.0.1, rows * cols, "reshape: entries differ");
        Shape::of((rows, cols))
    }
    fn unary(&self, _: UnaryOp<T>, x: &Shape<T>) -> Result<Shape<T>, Infallible> {
        Ok(*x)
    }
    fn unary_vjp(
        &self,
        _: UnaryOp<T>,
        x: &Shape<T>,
        _: &Shape<T>,
        _: Shape<T>,
    ) -> Result<Shape<T>, Infallible> {
        Ok(*x)
    }
    fn binary(&self, _: BinaryOp, a: &Shape<T>, b: &Shape<T>) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of(broadcast_shape(a.0, b.0, "a binary op")))
    }
    fn sum(&self, x: &Shape<T>, how: Reduce) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of(how.out_shape(x.0)))
    }
    fn logsumexp(&self, x: &Shape<T>, how: Reduce) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of(how.out_shape(x.0)))
    }
    fn logsumexp_vjp(
        &self,
        _: Reduce,
        x: &Shape<T>,
        _: &Shape<T>,
        _: &Shape<T>,
    ) -> Result<Shape<T>, Infallible> {
        Ok(*x)
    }
    fn bernoulli_logits(
        &self,
        logits: &Shape<T>,
        _: &Shape<T>,
        residual: bool,
    ) -> Result<(Shape<T>, Option<Shape<T>>), Infallible> {
        Ok((Shape::of((logits.0.0, 1)), residual.then_some(*logits)))
    }
    fn adam(
        &self,
        _: AdamUpdate<T>,
        _: &mut Shape<T>,
        _: &mut Shape<T>,
        _: &mut Shape<T>,
        _: &Shape<T>,
    ) -> Result<(), Infallible> {
        Ok(())
    }
    fn gather_rows_of_transpose(
        &self,
        data_t: &Shape<T>,
        indices: &[usize],
    ) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((indices.len(), data_t.0.0)))
    }
    fn copy_grid(
        &self,
        _: &Shape<T>,
        _: Grid,
        _: &mut Shape<T>,
        _: Grid,
        _: [usize; 3],
    ) -> Result<(), Infallible> {
        Ok(())
    }
    fn lower_triangle(&self, m: &Shape<T>, _: bool) -> Result<Shape<T>, Infallible> {
        Ok(*m)
    }
    fn solve_lower(&self, _: &Shape<T>, b: &Shape<T>, _: bool) -> Result<Shape<T>, Infallible> {
        Ok(*b)
    }
    fn cholesky(&self, m: &Shape<T>) -> Result<Shape<T>, Infallible> {
        Ok(*m)
    }
    fn im2col(&self, images: &Shape<T>, g: Conv2d) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((
            images.0.0 * g.out_height() * g.out_width(),
            g.kernel_shape().1,
        )))
    }
    fn col2im(&self, _: &Shape<T>, g: Conv2d, images: usize) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((images, g.input_len())))
    }
    fn standard_normal(&self, rows: usize, cols: usize, _: u64) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((rows, cols)))
    }
    fn uniform(
        &self,
        rows: usize,
        cols: usize,
        _: (f64, f64),
        _: u64,
    ) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((rows, cols)))
    }
    fn replace_in_rows(
        &self,
        x: &Shape<T>,
        _: usize,
        _: (T, T),
        _: u64,
    ) -> Result<Shape<T>, Infallible> {
        Ok(*x)
    }
    fn normal_draw(&self, parts: DrawParts<&Shape<T>>) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of(draw_shape(parts.map(|m| m.0))))
    }
    fn normal_draw_vjp(
        &self,
        parts: DrawParts<&Shape<T>>,
        _: &Shape<T>,
        need: [bool; 3],
    ) -> Result<DrawParts<Option<Shape<T>>>, Infallible> {
        Ok([0, 1, 2].map(|k| need[k].then_some(*parts[k])))
    }
    fn diag_normal_kl(&self, params: NormalPair<&Shape<T>>) -> Result<Shape<T>, Infallible> {
        Ok(Shape::of((term_shape(params.map(|m| m.0)).0, 1)))
    }
    fn diag_normal_kl_vjp(
        &self,
        params: NormalPair<&Shape<T>>,
        _: &Shape<T>,
        need: [bool; 4],
    ) -> Result<NormalPair<Option<Shape<T>>>, Infallible> {
        Ok([0, 1, 2, 3].map(|k| need[k].then_some(*params[k])))
    }
}
