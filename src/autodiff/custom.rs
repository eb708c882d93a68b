//! `Var::custom`: an operation of the user's own ([`CustomOp`]) recorded on the tape.

use super::custom_op::{Custom, CustomOp};
use super::tape::{Op, Value, Var};
use crate::real::Real;
use nalgebra::DMatrix;
use std::sync::Arc;

impl<'t, T: Real> Var<'t, T> {
    /// `op` applied to `inputs` (all on one tape): a [`CustomOp`] recorded on the tape, whose
    /// gradient the reverse sweep takes by its `vjp`.
    ///
    /// # Panics
    /// If `inputs` is empty or its variables live on different tapes.
    pub fn custom(op: impl CustomOp<T> + 'static, inputs: &[Var<'t, T>]) -> Var<'t, T> {
        let first = inputs
            .first()
            .expect("a custom op needs at least one operand");
        inputs.iter().for_each(|v| first.same_tape(v));
        let tape = first.tape;
        let value = {
            let nodes = tape.nodes.borrow();
            let values: Vec<_> = inputs
                .iter()
                .map(|v| tape.host_of(&nodes[v.id].value))
                .collect();
            let values: Vec<&DMatrix<T>> = values.iter().map(|m| &**m).collect();
            op.forward(&values)
        };
        let on_device = tape.upload_matrix(value);
        let custom = Custom {
            op: Arc::new(op),
            operands: inputs.iter().map(|v| v.id).collect(),
        };
        tape.push(Value::of(on_device), Op::Custom(custom))
    }
}
