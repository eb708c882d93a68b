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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Concat, Cpu};

    /// The shapes-only kernels give every kernel's result the shape the CPU's gives it: what a
    /// pass that lost its device computes after the failure has the shapes the model expects.
    #[test]
    fn every_kernel_has_the_cpus_result_shape() {
        let m = |r: usize, c: usize| DMatrix::from_fn(r, c, |i, j| 0.5 + (i * c + j) as f64 / 7.0);
        let s = |m: &DMatrix<f64>| Shape::<f64>::of(m.shape());
        let same = |what: &str, got: Shape<f64>, want: &DMatrix<f64>| {
            assert_eq!(got.0, want.shape(), "{what}");
        };
        let (a, b, g) = (m(4, 3), m(3, 5), m(4, 5));
        for (ta, tb, x, y) in [
            (false, false, &a, &b),
            (true, false, &m(3, 4), &b),
            (false, true, &a, &m(5, 3)),
        ] {
            let Ok(want) = Cpu.matmul(x, ta, y, tb);
            let Ok(got) = Shapes.matmul(&s(x), ta, &s(y), tb);
            same("matmul", got, &want);
        }
        let Ok(want) = Cpu.transpose(&a);
        same("transpose", Shapes.transpose(&s(&a)).unwrap(), &want);
        for (x, y) in [(&a, &m(1, 3)), (&a, &m(4, 1)), (&m(1, 1), &a), (&a, &a)] {
            let Ok(want) = Cpu.binary(BinaryOp::Mul, x, y);
            same(
                "binary",
                Shapes.binary(BinaryOp::Mul, &s(x), &s(y)).unwrap(),
                &want,
            );
            let Ok((ga, gb)) = Cpu.binary_vjp(BinaryOp::Div, [x, y, &want, &want], (true, true));
            let Ok((sa, sb)) = Shapes.binary_vjp(
                BinaryOp::Div,
                [&s(x), &s(y), &s(&want), &s(&want)],
                (true, true),
            );
            same("binary_vjp a", sa.unwrap(), &ga.unwrap());
            same("binary_vjp b", sb.unwrap(), &gb.unwrap());
        }
        for how in [Reduce::All, Reduce::EachRow, Reduce::EachColumn] {
            let Ok(want) = Cpu.sum(&a, how);
            same("sum", Shapes.sum(&s(&a), how).unwrap(), &want);
            let Ok(back) = Cpu.sum_vjp(&want, a.shape());
            same(
                "sum_vjp",
                Shapes.sum_vjp(&s(&want), a.shape()).unwrap(),
                &back,
            );
            let Ok(want) = Cpu.logsumexp(&a, how);
            same("logsumexp", Shapes.logsumexp(&s(&a), how).unwrap(), &want);
        }
        let Ok((value, residual)) = Cpu.bernoulli_logits(&g, &g, true);
        let Ok((sv, sr)) = Shapes.bernoulli_logits(&s(&g), &s(&g), true);
        same("bernoulli", sv, &value);
        same("bernoulli residual", sr.unwrap(), &residual.unwrap());
        let Ok(want) = Cpu.gather_rows_of_transpose(&b, &[4, 0, 2]);
        same(
            "gather",
            Shapes.gather_rows_of_transpose(&s(&b), &[4, 0, 2]).unwrap(),
            &want,
        );
        let spd = m(3, 3).transpose() * m(3, 3) + DMatrix::identity(3, 3);
        let Ok(l) = Cpu.cholesky(&spd);
        same("cholesky", Shapes.cholesky(&s(&spd)).unwrap(), &l);
        let Ok(want) = Cpu.solve_lower(&l, &b, true);
        same(
            "solve_lower",
            Shapes.solve_lower(&s(&l), &s(&b), true).unwrap(),
            &want,
        );
        let Ok(want) = Cpu.tile_rows(&a, 3);
        same("tile_rows", Shapes.tile_rows(&s(&a), 3).unwrap(), &want);
        let Ok(back) = Cpu.untile_rows(&want, 3);
        same(
            "untile_rows",
            Shapes.untile_rows(&s(&want), 3).unwrap(),
            &back,
        );
        let Ok(want) = Cpu.block(&b, (1, 2), (2, 3));
        same(
            "block",
            Shapes.block(&s(&b), (1, 2), (2, 3)).unwrap(),
            &want,
        );
        let Ok(back) = Cpu.embed(&want, (3, 5), (1, 2));
        same(
            "embed",
            Shapes.embed(&s(&want), (3, 5), (1, 2)).unwrap(),
            &back,
        );
        for how in [Concat::Columns, Concat::Rows] {
            let parts = match how {
                Concat::Columns => [a.clone(), m(4, 2)],
                Concat::Rows => [a.clone(), m(2, 3)],
            };
            let Ok(want) = Cpu.concat(&[&parts[0], &parts[1]], how);
            let shapes = [s(&parts[0]), s(&parts[1])];
            same(
                "concat",
                Shapes.concat(&[&shapes[0], &shapes[1]], how).unwrap(),
                &want,
            );
        }
        let Ok(want) = Cpu.diagonal(&spd);
        same("diagonal", Shapes.diagonal(&s(&spd)).unwrap(), &want);
        let Ok(back) = Cpu.diagonal_matrix(&want);
        same(
            "diagonal_matrix",
            Shapes.diagonal_matrix(&s(&want)).unwrap(),
            &back,
        );
        let geometry = Conv2d {
            in_channels: 2,
            height: 5,
            width: 4,
            out_channels: 3,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        let images = m(2, geometry.input_len());
        let Ok(patches) = Cpu.im2col(&images, geometry);
        same(
            "im2col",
            Shapes.im2col(&s(&images), geometry).unwrap(),
            &patches,
        );
        let Ok(back) = Cpu.col2im(&patches, geometry, 2);
        same(
            "col2im",
            Shapes.col2im(&s(&patches), geometry, 2).unwrap(),
            &back,
        );
        let (mu, shared, eps) = (m(4, 3), m(1, 3), m(4, 3));
        let Ok(draw) = Cpu.normal_draw([&mu, &shared, &eps]);
        same(
            "normal_draw",
            Shapes
                .normal_draw([&s(&mu), &s(&shared), &s(&eps)])
                .unwrap(),
            &draw,
        );
        let Ok(grads) = Cpu.normal_draw_vjp([&mu, &shared, &eps], &draw, [true; 3]);
        let Ok(shapes) =
            Shapes.normal_draw_vjp([&s(&mu), &s(&shared), &s(&eps)], &s(&draw), [true; 3]);
        for (got, want) in shapes.into_iter().zip(grads) {
            same("normal_draw_vjp", got.unwrap(), &want.unwrap());
        }
        let params = [&mu, &shared, &m(1, 3), &eps];
        let Ok(kl) = Cpu.diag_normal_kl(params);
        let shaped = params.map(s);
        same(
            "diag_normal_kl",
            Shapes.diag_normal_kl(shaped.each_ref()).unwrap(),
            &kl,
        );
        let Ok(grads) = Cpu.diag_normal_kl_vjp(params, &kl, [true; 4]);
        let Ok(shapes) = Shapes.diag_normal_kl_vjp(shaped.each_ref(), &s(&kl), [true; 4]);
        for (got, want) in shapes.into_iter().zip(grads) {
            same("diag_normal_kl_vjp", got.unwrap(), &want.unwrap());
        }
    }
}
