//! The tape: a record of every operation of one forward pass, and the reverse sweep over it.

use super::checks::DeferredCheck;
pub(crate) use super::device_failure::device_result;
use super::elementwise::{BinaryOp, UnaryOp};
use super::gradients::Gradients;
use super::reduce::Reduce;
use crate::backend::{Device, DeviceMatrix, Kernels, OnDevice, Placed, Resident};
use crate::error::Result;
use crate::kernels::{PIECE, buffers, for_each_piece, wide};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use std::cell::RefCell;
use std::sync::Arc;

/// How a node was made: its parents (node indices) and whatever its vector-Jacobian product
/// needs beyond the parents' values and its own.
#[derive(Debug)]
pub(crate) enum Op<T: Real> {
    /// A leaf without gradient.
    Constant,
    /// A leaf whose gradient is kept ([`Tape::input`]).
    Input,
    /// A parameter loaded from the store.
    Param(ParamId),
    Unary(UnaryOp<T>, usize),
    Binary(BinaryOp, usize, usize),
    MatMul {
        a: usize,
        b: usize,
        ta: bool,
        tb: bool,
    },
    /// `x w + b` with `b` one row, broadcast down the rows.
    Affine {
        x: usize,
        w: usize,
        b: usize,
    },
    Reduce(Reduce, usize),
    LogSumExp(Reduce, usize),
    Transpose(usize),
    Reshape(usize),
    LowerTriangle {
        a: usize,
        include_diagonal: bool,
    },
    Diagonal(usize),
    DiagonalMatrix(usize),
    SolveLower {
        l: usize,
        b: usize,
    },
    Cholesky(usize),
    Conv2d {
        input: usize,
        kernel: usize,
        geometry: super::conv::Conv2d,
        transposed: bool,
    },
    Columns {
        a: usize,
        start: usize,
    },
    Rows {
        a: usize,
        start: usize,
    },
    ConcatColumns(Vec<usize>),
    ConcatRows(Vec<usize>),
    TileRows {
        a: usize,
        times: usize,
    },
    BernoulliLogits {
        logits: usize,
        x: usize,
        /// x − σ(logits), kept when the logits need a gradient.
        residual: Option<Value<T>>,
    },
    /// [`Var::diag_normal_kl`] of `[μq, ln σq, μp, ln σp]`.
    DiagNormalKl([usize; 4]),
    /// [`Var::normal_draw`] of `[μ, ℓ, ε]`.
    NormalDraw([usize; 3]),
}

/// A node's value: computed by the tape (owned) or handed in without a copy (shared: parameters,
/// data). Owning saves the reference count's allocation on every intermediate.
pub(crate) enum Value<T: Real> {
    Owned(DMatrix<T>),
    Shared(Arc<DMatrix<T>>),
    /// On the tape's device (every value of a tape made with [`Tape::on_device`]).
    Device(Arc<OnDevice<T>>),
}

impl<T: Real> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, c) = self.shape();
        let place = if matches!(self, Value::Device(_)) {
            "device"
        } else {
            "host"
        };
        write!(f, "Value({r}x{c} on the {place})")
    }
}

impl<T: Real> Value<T> {
    /// The device matrix of a value on a device tape (where every value is on the device).
    pub(crate) fn device_matrix(&self) -> &DeviceMatrix<T> {
        match self {
            Value::Device(d) => d.matrix(),
            _ => unreachable!("every value of a device tape is on the device"),
        }
    }

    /// `(rows, columns)`, without reading a device value back.
    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            Value::Owned(m) => m.shape(),
            Value::Shared(m) => m.shape(),
            Value::Device(d) => d.matrix().shape(),
        }
    }
}

impl<T: Real> std::ops::Deref for Value<T> {
    type Target = DMatrix<T>;
    /// The host matrix; for a device value, its host copy (read back on first use).
    fn deref(&self) -> &DMatrix<T> {
        match self {
            Value::Owned(m) => m,
            Value::Shared(m) => m,
            Value::Device(d) => d.host(),
        }
    }
}

/// One recorded operation: its value, how it was made, and whether a gradient flows to it.
pub(crate) struct Node<T: Real> {
    pub(crate) value: Value<T>,
    pub(crate) op: Op<T>,
    pub(crate) requires_grad: bool,
}

/// A record of one forward pass, for reverse-mode differentiation.
///
/// Make a fresh tape for each evaluation (a training step, say): load parameters with
/// [`Tape::param`], data with [`Tape::constant`], compute with the methods of [`Var`], then call
/// [`Tape::backward`] on a scalar to get the [`Gradients`]. Nodes hold their values behind
/// reference counts, so loading a parameter or detaching a value copies nothing.
///
/// ```
/// use elbo::autodiff::Tape;
/// use nalgebra::DMatrix;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.input(DMatrix::from_row_slice(1, 2, &[1.0, 2.0]));
/// let y = (x * x).sum(); // x1² + x2²
/// let grads = tape.backward(y);
/// assert_eq!(grads.wrt(x).unwrap().as_slice(), &[2.0, 4.0]);
/// ```
pub struct Tape<'p, T: Real> {
    params: Option<&'p ParamStore<T>>,
    /// False for an evaluation tape: parameters load as constants.
    gradients: bool,
    /// If set, only the parameters marked here (by position in the store) get gradients; the
    /// others load as constants (a parameter group's step leaves the other groups alone).
    trainable: Option<&'p [bool]>,
    pub(crate) nodes: RefCell<Vec<Node<T>>>,
    /// The device's kernels, for a tape made with [`Tape::on_device`]; `None` on the CPU.
    pub(crate) kernels: Option<Kernels>,
    /// Checks of device values waiting to be read back together (`checks.rs`).
    pub(crate) checks: RefCell<Vec<DeferredCheck<T>>>,
}

/// A handle to a matrix on a tape. Copy it freely; operations on it record new nodes.
///
/// Shape errors inside model code (adding a 3x2 to a 2x3, say) are programming errors and panic
/// with a message naming the operation and both shapes; user data is validated before it reaches
/// the tape.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Real> {
    pub(crate) tape: &'t Tape<'t, T>,
    pub(crate) id: usize,
}

impl<T: Real> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, c) = self.shape();
        write!(f, "Var(#{}, {r}x{c})", self.id)
    }
}

impl<T: Real> Default for Tape<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p, T: Real> Tape<'p, T> {
    /// A tape without parameters (for computing with constants and inputs).
    pub fn new() -> Self {
        Tape {
            params: None,
            gradients: true,
            trainable: None,
            nodes: RefCell::new(Vec::with_capacity(64)),
            kernels: None,
            checks: RefCell::new(Vec::new()),
        }
    }

    /// A tape that can load the parameters of `params`.
    pub fn with_params(params: &'p ParamStore<T>) -> Self {
        Tape {
            params: Some(params),
            gradients: true,
            trainable: None,
            nodes: RefCell::new(Vec::with_capacity(64)),
            kernels: None,
            checks: RefCell::new(Vec::new()),
        }
    }

    /// A tape for evaluation only: parameters load as constants, so nothing on it needs a
    /// gradient and operations skip what only a backward pass would use (as `torch.no_grad`).
    pub fn for_evaluation(params: &'p ParamStore<T>) -> Self {
        Tape {
            gradients: false,
            ..Self::with_params(params)
        }
    }

    /// A training tape on which only the parameters marked in `trainable` (by position in the
    /// store) get gradients: the engine's step for one parameter group.
    pub(crate) fn for_group(params: &'p ParamStore<T>, trainable: &'p [bool]) -> Self {
        Tape {
            trainable: Some(trainable),
            ..Self::with_params(params)
        }
    }

    /// This tape, with its values on `device`: constants, inputs and parameters are copied there
    /// as they are loaded (parameters already there, [`ParamStore::move_to`], are not),
    /// operations run there (those without a kernel on the device read their operands back and
    /// copy their result over), and [`Tape::backward`] leaves the parameters' gradients there
    /// (readable on the host all the same) and returns the inputs' on the host. On
    /// [`Device::Cpu`] the tape is unchanged.
    ///
    /// ```
    /// use elbo::autodiff::Tape;
    /// use elbo::backend::Device;
    /// use nalgebra::DMatrix;
    ///
    /// let tape = Tape::<f64>::new().on_device(Device::Emulated(0)).unwrap();
    /// let x = tape.input(DMatrix::from_row_slice(1, 2, &[1.0, 2.0]));
    /// let y = (x * x).sum();
    /// assert_eq!(y.scalar(), 5.0);
    /// assert_eq!(tape.backward(y).wrt(x).unwrap().as_slice(), &[2.0, 4.0]);
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::DeviceUnavailable`] if this build or machine cannot use `device`.
    pub fn on_device(mut self, device: Device) -> Result<Self> {
        assert!(
            self.is_empty(),
            "Tape::on_device on a tape that has recorded operations"
        );
        self.kernels = Kernels::of(device)?;
        Ok(self)
    }

    /// The device this tape's values live on.
    pub fn device(&self) -> Device {
        self.kernels.as_ref().map_or(Device::Cpu, Kernels::device)
    }

    /// The store this tape loads parameters from, if any.
    pub fn params(&self) -> Option<&'p ParamStore<T>> {
        self.params
    }

    /// A constant: no gradient flows into it.
    pub fn constant<'t>(&'t self, value: DMatrix<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        self.push(Value::Owned(value), Op::Constant)
    }

    /// A constant that shares `value` with the caller: nothing is copied.
    pub fn constant_shared<'t>(&'t self, value: Arc<DMatrix<T>>) -> Var<'t, T>
    where
        'p: 't,
    {
        self.push(Value::Shared(value), Op::Constant)
    }

    /// A constant from a matrix on the host or a device (a minibatch's rows,
    /// [`Batch::x`](crate::engine::Batch::x)): nothing is copied where the matrix already is
    /// where the tape runs.
    pub fn constant_placed<'t>(&'t self, value: &Placed<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        self.push(self.load(value), Op::Constant)
    }

    /// A constant a model holds for every tape ([`Resident`]): shared on the host, and on a
    /// device its copy there, made by the first tape on that device to load it.
    pub fn constant_resident<'t>(&'t self, value: &Resident<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        let placed = device_result(value.on(self.device()));
        self.constant_placed(&placed)
    }

    /// `value` as a node's value on this tape: shared where it already is, through the host
    /// from another device.
    fn load(&self, value: &Placed<T>) -> Value<T> {
        match value {
            Placed::Host(m) => Value::Shared(Arc::clone(m)),
            Placed::Device(d) if d.matrix().device() == self.device() => {
                Value::Device(Arc::clone(d))
            }
            Placed::Device(d) => Value::Owned(d.host().clone()),
        }
    }

    /// A 1x1 constant.
    pub fn scalar<'t>(&'t self, value: T) -> Var<'t, T>
    where
        'p: 't,
    {
        self.filled(1, 1, value)
    }

    /// A `rows x cols` constant with every entry `value`, made where the tape runs: on a
    /// device, there, with nothing copied from the host.
    pub fn filled<'t>(&'t self, rows: usize, cols: usize, value: T) -> Var<'t, T>
    where
        'p: 't,
    {
        match &self.kernels {
            Some(kernels) => {
                let filled = device_result(kernels.filled(rows, cols, value));
                self.push(Value::Device(OnDevice::new(filled)), Op::Constant)
            }
            None => self.constant(DMatrix::from_element(rows, cols, value)),
        }
    }

    /// A differentiable leaf: [`Gradients::wrt`] returns its gradient.
    pub fn input<'t>(&'t self, value: DMatrix<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        self.push(Value::Owned(value), Op::Input)
    }

    /// Loads a parameter from the tape's store; its gradient is reported by
    /// [`Gradients::param`] (a frozen parameter, or any on a [`Tape::for_evaluation`], loads as a
    /// constant, without gradient).
    ///
    /// # Panics
    /// If the tape has no store or `id` belongs to another store: both are programming errors.
    pub fn param<'t>(&'t self, id: ParamId) -> Var<'t, T>
    where
        'p: 't,
    {
        let store = self
            .params
            .expect("Tape::param needs a tape made by Tape::with_params");
        let excluded = self
            .trainable
            .is_some_and(|t| !t.get(id.index()).copied().unwrap_or(false));
        let op = if !self.gradients || excluded || store.is_frozen(id) {
            Op::Constant
        } else {
            Op::Param(id)
        };
        self.push(self.load(store.placed(id)), op)
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True if nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push<'t>(&'t self, value: Value<T>, op: Op<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        // On a device, a host value (a constant, a parameter, an op's result computed on the
        // host) is copied over.
        let value = match (&self.kernels, value) {
            (Some(kernels), Value::Owned(m)) => {
                let on_device = device_result(kernels.upload(&m));
                buffers::recycle(m);
                Value::Device(OnDevice::new(on_device))
            }
            (Some(kernels), Value::Shared(m)) => {
                Value::Device(OnDevice::new(device_result(kernels.upload(&m))))
            }
            (_, value) => value,
        };
        let mut nodes = self.nodes.borrow_mut();
        let requires_grad = match &op {
            Op::Constant => false,
            Op::Input | Op::Param(_) => true,
            op => any_parent(op, |p| nodes[p].requires_grad),
        };
        nodes.push(Node {
            value,
            op,
            requires_grad,
        });
        Var {
            tape: self,
            id: nodes.len() - 1,
        }
    }

    /// Reverse sweep from a 1x1 `loss`: the gradient of `loss` with respect to every input and
    /// parameter it depends on.
    ///
    /// # Panics
    /// If `loss` is not 1x1 or belongs to another tape.
    pub fn backward(&self, loss: Var<'_, T>) -> Gradients<T> {
        assert!(std::ptr::eq(
            loss.tape as *const _ as *const u8,
            self as *const _ as *const u8
        ));
        assert_eq!(loss.shape(), (1, 1), "backward needs a 1x1 loss");
        // The engine settles them first, to return their error; on a tape of one's own, a
        // distribution's bad parameter on a device ends here, as it would have at its making
        // on the CPU.
        if let Err(e) = self.settle_checks() {
            panic!("{e}");
        }
        if let Some(kernels) = &self.kernels {
            return super::device_vjp::backward(self, kernels, loss);
        }
        let nodes = self.nodes.borrow();
        let n_params = self.params.map_or(0, |p| p.len());
        let (grads, param_grads) = sweep(
            &nodes,
            loss.id,
            n_params,
            DMatrix::from_element(1, 1, T::one()),
            accumulate,
            |i, g, emit| super::vjp::propagate(&nodes, i, g, emit),
        );
        let store = self.params.map(|p| p.uid());
        let param_grads = param_grads
            .into_iter()
            .map(|g| g.map(Placed::from))
            .collect();
        Gradients::new(store, grads, param_grads)
    }
}

impl<T: Real> Drop for Node<T> {
    /// Hands the value the tape computed back for the next tape's matrices. (On the node, not
    /// on [`Tape`]: a `Drop` on the tape would keep its borrow of the parameter store alive to
    /// the end of the scope, and a caller could no longer update the store after its last use.)
    fn drop(&mut self) {
        if let Value::Owned(m) = &mut self.value {
            buffers::recycle(std::mem::replace(m, DMatrix::zeros(0, 0)));
        }
        if let Op::BernoulliLogits {
            residual: Some(Value::Owned(r)),
            ..
        } = &mut self.op
        {
            buffers::recycle(std::mem::replace(r, DMatrix::zeros(0, 0)));
        }
    }
}

/// The reverse walk of [`Tape::backward`], on the host or a device (`G` is where gradients
/// live): from the loss's gradient `seed`, each node's gradient goes to its parents through
/// `propagate(node, gradient, emit)`, and contributions to one node or parameter are summed by
/// `add`. Returns the gradients left by node (those of inputs) and by parameter position.
pub(crate) fn sweep<T: Real, G>(
    nodes: &[Node<T>],
    loss: usize,
    n_params: usize,
    seed: G,
    add: impl Fn(&mut Option<G>, G),
    propagate: impl Fn(usize, G, &mut Parents<'_, G>),
) -> (Vec<Option<G>>, Vec<Option<G>>) {
    let mut grads: Vec<Option<G>> = (0..=loss).map(|_| None).collect();
    grads[loss] = Some(seed);
    let mut params: Vec<Option<G>> = (0..n_params).map(|_| None).collect();
    for i in (0..=loss).rev() {
        let node = &nodes[i];
        if !node.requires_grad {
            continue;
        }
        match &node.op {
            Op::Input => continue,
            Op::Param(id) => {
                if let Some(g) = grads[i].take() {
                    add(&mut params[id.index()], g);
                }
                continue;
            }
            _ => {}
        }
        let Some(g) = grads[i].take() else { continue };
        let mut parents = Parents {
            grads: &mut grads,
            add: &add,
        };
        propagate(i, g, &mut parents);
    }
    (grads, params)
}

/// The gradients of a node's parents as [`sweep`] hands them to the node's VJP: each parent's
/// contributions are summed by the sweep's `add`, or taken by a VJP that adds its own into
/// them (a device's product added inside the product kernel).
pub(crate) struct Parents<'s, G> {
    grads: &'s mut [Option<G>],
    add: &'s dyn Fn(&mut Option<G>, G),
}

impl<G> Parents<'_, G> {
    /// Adds `contribution`, if there is one, to the gradient of `parent` (a VJP computes none
    /// for a parent that needs no gradient).
    pub(crate) fn send(&mut self, parent: usize, contribution: Option<G>) {
        if let Some(c) = contribution {
            (self.add)(&mut self.grads[parent], c)
        }
    }

    /// The gradient of `parent` summed so far, taken out: whoever takes it sends back the sum
    /// with its own contribution added.
    pub(crate) fn take(&mut self, parent: usize) -> Option<G> {
        self.grads[parent].take()
    }
}

/// True if `f` holds for any parent node index of `op` (checked without allocating).
pub(crate) fn any_parent<T: Real>(op: &Op<T>, f: impl Fn(usize) -> bool) -> bool {
    match op {
        Op::Constant | Op::Input | Op::Param(_) => false,
        Op::Unary(_, a)
        | Op::Reduce(_, a)
        | Op::LogSumExp(_, a)
        | Op::Transpose(a)
        | Op::Reshape(a)
        | Op::Diagonal(a)
        | Op::Cholesky(a)
        | Op::DiagonalMatrix(a)
        | Op::LowerTriangle { a, .. }
        | Op::Columns { a, .. }
        | Op::Rows { a, .. }
        | Op::TileRows { a, .. } => f(*a),
        Op::Binary(_, a, b)
        | Op::MatMul { a, b, .. }
        | Op::SolveLower { l: a, b }
        | Op::Conv2d {
            input: a,
            kernel: b,
            ..
        }
        | Op::BernoulliLogits {
            logits: a, x: b, ..
        } => f(*a) || f(*b),
        Op::Affine { x, w, b } => f(*x) || f(*w) || f(*b),
        Op::ConcatColumns(v) | Op::ConcatRows(v) => v.iter().any(|&p| f(p)),
        Op::DiagNormalKl(params) => params.iter().any(|&p| f(p)),
        Op::NormalDraw(parts) => parts.iter().any(|&p| f(p)),
    }
}

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

fn accumulate<T: Real>(slot: &mut Option<DMatrix<T>>, g: DMatrix<T>) {
    match slot {
        Some(acc) => {
            assert_eq!(
                acc.shape(),
                g.shape(),
                "gradient contributions differ in shape"
            );
            let pieces: Vec<(&mut [T], &[T])> = acc
                .as_mut_slice()
                .chunks_mut(PIECE)
                .zip(g.as_slice().chunks(PIECE))
                .collect();
            for_each_piece(pieces, g.len(), |(acc, g)| add_to(acc, g));
            buffers::recycle(g);
        }
        None => *slot = Some(g),
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// The value. Parameters and shared constants come back without a copy; values the tape
    /// computed are copied out.
    pub fn value(&self) -> Arc<DMatrix<T>> {
        match &self.tape.nodes.borrow()[self.id].value {
            Value::Owned(m) => Arc::new(m.clone()),
            Value::Shared(m) => Arc::clone(m),
            device @ Value::Device(_) => Arc::new((**device).clone()),
        }
    }

    /// Runs `f` on the value. The tape is borrowed for the call only, so an operation computes
    /// its value inside `f` and records the node after it: no borrow is left to drop by hand.
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(&DMatrix<T>) -> R) -> R {
        f(&self.tape.nodes.borrow()[self.id].value)
    }

    /// As [`Var::with_value`], on the values of several variables of this tape.
    ///
    /// # Panics
    /// If one lives on another tape.
    pub(crate) fn with_values<R, const N: usize>(
        vars: [Var<'t, T>; N],
        f: impl FnOnce([&DMatrix<T>; N]) -> R,
    ) -> R {
        Var::with_values_raw(vars, |values| f(values.map(|v| &**v)))
    }

    /// As [`Var::with_values`], for a slice of variables.
    pub(crate) fn with_all<R>(vars: &[Var<'t, T>], f: impl FnOnce(&[&DMatrix<T>]) -> R) -> R {
        let first = vars.first().expect("at least one variable");
        vars.iter().for_each(|v| first.same_tape(v));
        let nodes = first.tape.nodes.borrow();
        let values: Vec<&DMatrix<T>> = vars.iter().map(|v| &*nodes[v.id].value).collect();
        f(&values)
    }

    /// The single entry of a 1x1 value.
    ///
    /// # Panics
    /// If the value is not 1x1.
    pub fn scalar(&self) -> T {
        self.with_value(|v| {
            assert_eq!(v.shape(), (1, 1), "Var::scalar on a non-1x1 value");
            v[(0, 0)]
        })
    }

    /// `(rows, columns)` of the value.
    pub fn shape(&self) -> (usize, usize) {
        self.tape.nodes.borrow()[self.id].value.shape()
    }

    /// The tape this variable lives on.
    pub fn tape(&self) -> &'t Tape<'t, T> {
        self.tape
    }

    /// The same value as a constant: the gradient stops here.
    pub fn detach(self) -> Var<'t, T> {
        let value = match &self.tape.nodes.borrow()[self.id].value {
            Value::Owned(m) => Value::Owned(m.clone()),
            Value::Shared(m) => Value::Shared(Arc::clone(m)),
            Value::Device(d) => Value::Device(Arc::clone(d)),
        };
        self.tape.push(value, Op::Constant)
    }

    /// On a device tape, runs `f` on the device values of `vars` and records its result made by
    /// `op`; on the CPU, `None`.
    pub(crate) fn on_device<const N: usize>(
        vars: [Var<'t, T>; N],
        op: impl FnOnce() -> Op<T>,
        f: impl FnOnce(&Kernels, [&DeviceMatrix<T>; N]) -> Result<DeviceMatrix<T>>,
    ) -> Option<Var<'t, T>> {
        let tape = vars.first().expect("a variable").tape;
        let kernels = tape.kernels.as_ref()?;
        let value = Var::with_device_values(vars, |values| f(kernels, values));
        Some(tape.push(Value::Device(OnDevice::new(device_result(value))), op()))
    }

    /// As [`Var::on_device`], for a slice of variables.
    pub(crate) fn on_device_all(
        vars: &[Var<'t, T>],
        op: impl FnOnce() -> Op<T>,
        f: impl FnOnce(&Kernels, &[&DeviceMatrix<T>]) -> Result<DeviceMatrix<T>>,
    ) -> Option<Var<'t, T>> {
        let first = vars.first().expect("at least one variable");
        let kernels = first.tape.kernels.as_ref()?;
        vars.iter().for_each(|v| first.same_tape(v));
        let value = {
            let nodes = first.tape.nodes.borrow();
            let values: Vec<_> = vars
                .iter()
                .map(|v| nodes[v.id].value.device_matrix())
                .collect();
            f(kernels, &values)
        };
        Some(
            first
                .tape
                .push(Value::Device(OnDevice::new(device_result(value))), op()),
        )
    }

    /// Runs `f` on the device values of `vars` (all on this tape, which is on a device).
    pub(crate) fn with_device_values<R, const N: usize>(
        vars: [Var<'t, T>; N],
        f: impl FnOnce([&DeviceMatrix<T>; N]) -> R,
    ) -> R {
        Var::with_values_raw(vars, |values| f(values.map(Value::device_matrix)))
    }

    /// Runs `f` on the stored values of `vars` (all on this tape), host or device.
    fn with_values_raw<R, const N: usize>(
        vars: [Var<'t, T>; N],
        f: impl FnOnce([&Value<T>; N]) -> R,
    ) -> R {
        let first = vars.first().expect("a variable");
        vars.iter().for_each(|v| first.same_tape(v));
        let nodes = first.tape.nodes.borrow();
        f(vars.map(|v| &nodes[v.id].value))
    }

    /// Records `value` made by `op` on this variable's tape.
    pub(crate) fn record(&self, value: DMatrix<T>, op: Op<T>) -> Var<'t, T> {
        self.tape.push(Value::Owned(value), op)
    }

    pub(crate) fn same_tape(&self, other: &Var<'t, T>) {
        assert!(
            std::ptr::eq(self.tape, other.tape),
            "operands live on different tapes"
        );
    }
}
