//! Operations of the user's own (`CustomOp`): differentiated by their own VJP, checked by
//! finite differences on every device, and usable wherever a `Var` is: in programs and in
//! networks, where one that computes a built-in op's arithmetic gives the built-in's bits.

use super::common;
use elbo::autodiff::{CustomOp, GradCheck, Tape, Var, check_gradients, sigmoid, softplus};
use elbo::dist::Normal;
use elbo::nn::{Activation, Init, Mlp, Network};
use elbo::program::{self, FitSettings, Model, Program, Trace};
use elbo::{ParamStore, Real};
use nalgebra::DMatrix;
use rand::SeedableRng;

/// √(a² + b²) entry by entry, a two-operand op.
struct Hypot;

impl<T: Real> CustomOp<T> for Hypot {
    fn name(&self) -> &str {
        "hypot"
    }
    fn forward(&self, inputs: &[&DMatrix<T>]) -> DMatrix<T> {
        inputs[0].zip_map(inputs[1], |a, b| (a * a + b * b).sqrt())
    }
    fn vjp(
        &self,
        inputs: &[&DMatrix<T>],
        output: &DMatrix<T>,
        g: &DMatrix<T>,
        need: &[bool],
    ) -> Vec<Option<DMatrix<T>>> {
        // d/da = a / h, d/db = b / h.
        let part = |k: usize| {
            need[k].then(|| {
                let over = inputs[k].zip_map(output, |v, h| v / h);
                over.component_mul(g)
            })
        };
        vec![part(0), part(1)]
    }
}

/// The built-in softplus' arithmetic, written as a custom op.
#[derive(Clone, Copy)]
struct MySoftplus;

impl CustomOp<f64> for MySoftplus {
    fn name(&self) -> &str {
        "my softplus"
    }
    fn forward(&self, inputs: &[&DMatrix<f64>]) -> DMatrix<f64> {
        inputs[0].map(softplus)
    }
    fn vjp(
        &self,
        inputs: &[&DMatrix<f64>],
        _output: &DMatrix<f64>,
        g: &DMatrix<f64>,
        _need: &[bool],
    ) -> Vec<Option<DMatrix<f64>>> {
        vec![Some(g.zip_map(inputs[0], |g, x| g * sigmoid(x)))]
    }
}

#[test]
fn a_custom_op_passes_the_finite_difference_check_on_every_device() {
    let a = DMatrix::from_row_slice(2, 3, &[0.5, -1.2, 2.0, 0.3, -0.7, 1.1]);
    let b = DMatrix::from_row_slice(2, 3, &[-0.4, 0.9, 1.5, -2.2, 0.6, -0.8]);
    for device in common::devices() {
        let opts = GradCheck {
            device,
            ..GradCheck::default()
        };
        let report = check_gradients(&[a.clone(), b.clone()], opts, |v| {
            (Var::custom(Hypot, v) * v[0]).sum()
        });
        assert!(report.passed(1e-6), "on {device}: {report:?}");
    }
}

#[test]
fn a_custom_op_gives_the_same_gradients_on_the_emulated_device_as_on_the_cpu() {
    let a = DMatrix::from_fn(4, 3, |i, j| i as f64 * 0.3 - j as f64 * 0.7 + 0.1);
    let b = DMatrix::from_fn(4, 3, |i, j| 1.0 - i as f64 * 0.2 + j as f64 * 0.5);
    let gradients = |device| {
        let tape = Tape::new().on_device(device).unwrap();
        let (x, y) = (tape.input(a.clone()), tape.input(b.clone()));
        // x feeds the op twice (once through y's product): contributions are summed.
        let h = Var::custom(Hypot, &[x, x * y]);
        let grads = tape.backward((h.square() + x).sum());
        [x, y].map(|v| grads.wrt(v).unwrap().clone())
    };
    let host = gradients(elbo::backend::Device::Cpu);
    for device in common::devices() {
        assert_eq!(gradients(device), host, "on {device}");
    }
}

#[test]
fn an_operand_that_needs_no_gradient_is_not_asked_for_one() {
    struct Strict;
    impl CustomOp<f64> for Strict {
        fn name(&self) -> &str {
            "strict"
        }
        fn forward(&self, inputs: &[&DMatrix<f64>]) -> DMatrix<f64> {
            inputs[0] + inputs[1]
        }
        fn vjp(
            &self,
            _: &[&DMatrix<f64>],
            _: &DMatrix<f64>,
            g: &DMatrix<f64>,
            need: &[bool],
        ) -> Vec<Option<DMatrix<f64>>> {
            assert_eq!(need, [true, false], "the constant needs no gradient");
            vec![Some(g.clone()), None]
        }
    }
    let tape = Tape::new();
    let x = tape.input(DMatrix::from_element(2, 2, 1.0));
    let c = tape.constant(DMatrix::from_element(2, 2, 3.0));
    let grads = tape.backward(Var::custom(Strict, &[x, c]).sum());
    assert_eq!(grads.wrt(x).unwrap(), &DMatrix::from_element(2, 2, 1.0));
}

#[test]
#[should_panic(expected = "custom op `hypot`: vjp gave 1 gradients for 2 operands")]
fn a_vjp_with_a_gradient_missing_is_named_in_the_panic() {
    struct Short;
    impl CustomOp<f64> for Short {
        fn name(&self) -> &str {
            "hypot"
        }
        fn forward(&self, inputs: &[&DMatrix<f64>]) -> DMatrix<f64> {
            inputs[0].clone()
        }
        fn vjp(
            &self,
            _: &[&DMatrix<f64>],
            _: &DMatrix<f64>,
            g: &DMatrix<f64>,
            _: &[bool],
        ) -> Vec<Option<DMatrix<f64>>> {
            vec![Some(g.clone())]
        }
    }
    let tape = Tape::new();
    let x = tape.input(DMatrix::from_element(1, 2, 1.0));
    tape.backward(Var::custom(Short, &[x, x]).sum());
}

#[test]
#[should_panic(
    expected = "custom op `my softplus`: the gradient of operand 0 is 1x1, the operand 2x2"
)]
fn a_gradient_of_the_wrong_shape_is_named_in_the_panic() {
    struct Wrong;
    impl CustomOp<f64> for Wrong {
        fn name(&self) -> &str {
            "my softplus"
        }
        fn forward(&self, inputs: &[&DMatrix<f64>]) -> DMatrix<f64> {
            inputs[0].clone()
        }
        fn vjp(
            &self,
            _: &[&DMatrix<f64>],
            _: &DMatrix<f64>,
            _: &DMatrix<f64>,
            _: &[bool],
        ) -> Vec<Option<DMatrix<f64>>> {
            vec![Some(DMatrix::zeros(1, 1))]
        }
    }
    let tape = Tape::new();
    let x = tape.input(DMatrix::from_element(2, 2, 1.0));
    tape.backward(Var::custom(Wrong, &[x]).sum());
}

/// Normal data with a mean and a scale softplus(s): the scale through the built-in op or the
/// custom one.
struct SoftScale {
    custom: bool,
}

impl Model<f64> for SoftScale {
    fn model<'t>(&self, m: &mut Trace<'t, '_, f64>) -> elbo::Result<()> {
        let mu = m.sample("mu", &Normal::new(m.constant(0.0), m.constant(10.0))?, 1)?;
        let s = m.sample("s", &Normal::new(m.constant(0.0), m.constant(2.0))?, 1)?;
        let scale = if self.custom {
            Var::custom(MySoftplus, &[s])
        } else {
            s.softplus()
        };
        m.observe("y", &Normal::new(mu, scale)?, m.column(0))
    }
}

#[test]
fn a_program_with_a_custom_op_fits_to_the_bits_of_the_built_in_one() {
    let y = DMatrix::from_fn(40, 1, |i, _| 3.0 + ((i * 37 % 11) as f64 - 5.0) * 0.4);
    let fit = |custom| {
        let program = Program::new(SoftScale { custom }, y.clone()).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let fit = program::fit(&program, &FitSettings::default(), &mut rng).unwrap();
        assert!(fit.converged());
        let draws = fit.draws(2_000, &mut rng).unwrap();
        draws
            .summary()
            .iter()
            .map(|s| (s.name.clone(), s.mean.to_bits(), s.sd.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fit(true), fit(false));
}

/// An MLP with a softplus on its output, built in or custom.
#[derive(Debug)]
struct SoftOut {
    mlp: Mlp,
    custom: bool,
}

impl Network<f64> for SoftOut {
    fn forward<'t>(&self, x: Var<'t, f64>) -> Var<'t, f64> {
        let h = self.mlp.forward(x);
        if self.custom {
            Var::custom(MySoftplus, &[h])
        } else {
            h.softplus()
        }
    }
    fn inputs(&self) -> usize {
        Network::<f64>::inputs(&self.mlp)
    }
    fn outputs(&self) -> usize {
        Network::<f64>::outputs(&self.mlp)
    }
}

#[test]
fn a_network_with_a_custom_op_has_the_built_in_ones_gradients() {
    let mut rng = common::rng(5);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "net",
        &[3, 8, 2],
        Activation::Tanh,
        Activation::Identity,
        Init::Xavier,
        &mut rng,
    )
    .unwrap();
    let x = DMatrix::from_fn(5, 3, |i, j| (i as f64 - 2.0) * 0.4 + j as f64 * 0.3);
    let gradients = |custom| {
        let net = SoftOut {
            mlp: mlp.clone(),
            custom,
        };
        let tape = Tape::with_params(&store);
        let out = net.forward(tape.constant(x.clone()));
        let grads = tape.backward(out.square().sum());
        grads
            .iter()
            .map(|(_, g)| g.clone())
            .collect::<Vec<DMatrix<f64>>>()
    };
    let built_in = gradients(false);
    assert!(!built_in.is_empty());
    assert_eq!(gradients(true), built_in);
}
