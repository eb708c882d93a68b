//! The tape: a record of every operation of one forward pass, and the reverse sweep over it.

use super::custom_op::Custom;
use crate::backend::{Device, DeviceMatrix, HostMatrix, Kernels, OnDevice, Placed, Resident};
use crate::error::{Error, Result};
use crate::ops::{BinaryOp, Conv2d, Reduce, UnaryOp};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use nalgebra::DMatrix;
use std::cell::{OnceCell, RefCell};
use std::sync::Arc;

/// A check run on the host on a value read back: `Ok`, or the error it gives.
pub(super) type HostCheck<T> = Box<dyn Fn(&DMatrix<T>) -> Result<()>>;

/// A check of a value on a device tape, waiting to be settled.
pub(crate) struct DeferredCheck<T: Real> {
    /// A 1x1 node: the number of entries that fail (NaN where one is not finite).
    pub(super) violations: usize,
    /// The node checked.
    pub(super) value: usize,
    /// The check on the host, with the error it gives.
    pub(super) on_host: HostCheck<T>,
}

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
        geometry: Box<Conv2d>,
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
        /// x − σ(logits), kept when the logits need a gradient (boxed, as the geometry of a
        /// convolution: a node is moved on every push, and the rarely used large payloads kept
        /// every node over the size a move copies without a call).
        residual: Option<Box<Value<T>>>,
    },
    /// [`Var::diag_normal_kl`] of `[μq, ln σq, μp, ln σp]`.
    DiagNormalKl([usize; 4]),
    /// [`Var::normal_draw`] of `[μ, ℓ, ε]`.
    NormalDraw([usize; 3]),
    /// [`Var::custom`]: an op of the user's own.
    Custom(Custom<T>),
}

/// A node's value: a matrix on the tape's device. On the CPU, the matrix itself (computed by
/// the tape and owned, or handed in without a copy: parameters, data); on another device, shared
/// with its host copy, read back once where a host reader asks for it.
pub(crate) enum Value<T: Real> {
    /// On the CPU ([`DeviceMatrix::Cpu`]).
    Host(DeviceMatrix<T>),
    /// On another device.
    Device(Arc<OnDevice<T>>),
}

impl<T: Real> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, c) = self.shape();
        write!(f, "Value({r}x{c} on {})", self.matrix().device())
    }
}

impl<T: Real> Value<T> {
    /// A matrix made on a tape's device, as a node's value.
    pub(crate) fn of(m: DeviceMatrix<T>) -> Self {
        match m {
            host @ DeviceMatrix::Cpu(_) => Value::Host(host),
            device => Value::Device(OnDevice::new(device)),
        }
    }

    /// The matrix, where it lives.
    pub(crate) fn matrix(&self) -> &DeviceMatrix<T> {
        match self {
            Value::Host(m) => m,
            Value::Device(d) => d.matrix(),
        }
    }

    /// `(rows, columns)`, without reading a device value back.
    pub(crate) fn shape(&self) -> (usize, usize) {
        self.matrix().shape()
    }
}

impl<T: Real> Value<T> {
    /// The host matrix; for a device value, its host copy (read back on first use).
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device fails at the copy.
    pub(crate) fn try_host(&self) -> Result<&DMatrix<T>> {
        match self {
            Value::Host(m) => Ok(m.as_host().expect("a host value is on the CPU")),
            Value::Device(d) => d.try_host(),
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
/// [`Tape::backward`] on a scalar to get the [`Gradients`](super::Gradients). Nodes hold their values behind
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
    /// The kernels of the device the tape runs on ([`Kernels::Cpu`] unless made with
    /// [`Tape::on_device`]).
    kernels: Kernels,
    /// What the tape runs once its device has failed: the results' shapes only.
    lost: Kernels,
    /// The device's first failure in this pass, returned by [`Tape::try_backward`] (set once;
    /// every op reads whether it is, without a borrow).
    failure: OnceCell<Error>,
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
            nodes: RefCell::new(Vec::with_capacity(128)),
            kernels: Kernels::Cpu,
            lost: Kernels::Lost(Device::Cpu),
            failure: OnceCell::new(),
            checks: RefCell::new(Vec::new()),
        }
    }

    /// A tape that can load the parameters of `params`.
    pub fn with_params(params: &'p ParamStore<T>) -> Self {
        Tape {
            params: Some(params),
            gradients: true,
            trainable: None,
            nodes: RefCell::new(Vec::with_capacity(128)),
            kernels: Kernels::Cpu,
            lost: Kernels::Lost(Device::Cpu),
            failure: OnceCell::new(),
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
        self.lost = Kernels::Lost(device);
        Ok(self)
    }

    /// The device this tape's values live on.
    pub fn device(&self) -> Device {
        self.kernels.device()
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
        self.push(self.upload_owned(value), Op::Constant)
    }

    /// A constant that shares `value` with the caller: nothing is copied.
    pub fn constant_shared<'t>(&'t self, value: Arc<DMatrix<T>>) -> Var<'t, T>
    where
        'p: 't,
    {
        let shared = self.run(|k| k.upload_shared(&value));
        self.push(Value::of(shared), Op::Constant)
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
        match value.on(self.device()) {
            Ok(placed) => self.constant_placed(&placed),
            Err(e) => self.push(Value::of(self.lose(e, value.host().shape())), Op::Constant),
        }
    }

    /// `value` as a node's value on this tape: shared where it already is, through the host
    /// from another device.
    fn load(&self, value: &Placed<T>) -> Value<T> {
        match value {
            Placed::Host(m) => Value::of(self.run(|k| k.upload_shared(m))),
            Placed::Device(d) if d.matrix().device() == self.device() => {
                Value::Device(Arc::clone(d))
            }
            Placed::Device(d) => match d.try_host() {
                Ok(host) => Value::of(self.run(|k| k.upload(host))),
                Err(e) => Value::of(self.lose(e, d.matrix().shape())),
            },
        }
    }

    /// A host matrix handed to the tape, as a value on its device.
    fn upload_owned(&self, value: DMatrix<T>) -> Value<T> {
        Value::of(self.upload_matrix(value))
    }

    /// A host matrix handed to the tape's device.
    pub(crate) fn upload_matrix(&self, value: DMatrix<T>) -> DeviceMatrix<T> {
        let shape = value.shape();
        match self.kernels().upload_owned(value) {
            Ok(m) => m,
            Err(e) => self.lose(e, shape),
        }
    }

    /// The kernels the tape's ops call: its device's, or, once that device has failed in this
    /// pass, the shapes-only kernels, so that the model's code runs on to its end and the pass
    /// returns the failure ([`Tape::try_backward`]) instead of unwinding through it.
    #[inline]
    pub(crate) fn kernels(&self) -> &Kernels {
        if self.failure.get().is_some() {
            &self.lost
        } else {
            &self.kernels
        }
    }

    /// `f` on the tape's kernels; if the device fails, its error is kept for the pass and `f`
    /// runs again on the shapes-only kernels, which cannot fail.
    #[inline]
    pub(crate) fn run<R>(&self, f: impl Fn(&Kernels) -> Result<R>) -> R {
        match f(self.kernels()) {
            Ok(r) => r,
            Err(e) => {
                self.fail(e);
                f(&self.lost)
                    .unwrap_or_else(|_| unreachable!("the shapes-only kernels cannot fail"))
            }
        }
    }

    /// Keeps `e`, the device's first failure of this pass, and gives a value of `shape` lost
    /// to it.
    pub(crate) fn lose(&self, e: Error, shape: (usize, usize)) -> DeviceMatrix<T> {
        self.fail(e);
        DeviceMatrix::Lost(self.device(), shape)
    }

    /// `value` on the host: its matrix, or NaN of its shape where the device fails at the read
    /// (the failure kept for the pass).
    pub(crate) fn host_of<'v>(&self, value: &'v Value<T>) -> std::borrow::Cow<'v, DMatrix<T>> {
        match value.try_host() {
            Ok(m) => std::borrow::Cow::Borrowed(m),
            Err(e) => {
                self.fail(e);
                std::borrow::Cow::Owned(nan(value.shape()))
            }
        }
    }

    /// Keeps `e` if it is this pass's first failure.
    pub(crate) fn fail(&self, e: Error) {
        // A later failure is a consequence of the first: only the first is kept.
        let _ = self.failure.set(e);
    }

    /// The pass's device failure, if any: ops after it computed shapes only.
    ///
    /// # Errors
    /// [`crate::Error::Device`]: the device's first failure in this pass.
    pub fn check(&self) -> Result<()> {
        match self.failure.get() {
            None => Ok(()),
            Some(e) => Err(e.again()),
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
        let filled = self.run(|k| k.filled(rows, cols, value));
        self.push(Value::of(filled), Op::Constant)
    }

    /// A differentiable leaf: [`Gradients::wrt`](super::Gradients::wrt) returns its gradient.
    pub fn input<'t>(&'t self, value: DMatrix<T>) -> Var<'t, T>
    where
        'p: 't,
    {
        self.push(self.upload_owned(value), Op::Input)
    }

    /// Loads a parameter from the tape's store; its gradient is reported by
    /// [`Gradients::param`](super::Gradients::param) (a frozen parameter, or any on a [`Tape::for_evaluation`], loads as a
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
}

impl<T: Real> Drop for Node<T> {
    /// Hands the value the tape computed back for the next tape's matrices. (On the node, not
    /// on [`Tape`]: a `Drop` on the tape would keep its borrow of the parameter store alive to
    /// the end of the scope, and a caller could no longer update the store after its last use.)
    fn drop(&mut self) {
        if let Value::Host(m) = &mut self.value {
            m.recycle_storage();
        }
        if let Op::BernoulliLogits {
            residual: Some(r), ..
        } = &mut self.op
            && let Value::Host(r) = &mut **r
        {
            r.recycle_storage();
        }
    }
}

/// What a host reader of a value lost to a device's failure sees: NaN of its shape.
pub(crate) fn nan<T: Real>((rows, cols): (usize, usize)) -> DMatrix<T> {
    DMatrix::from_element(rows, cols, T::of_f64(f64::NAN))
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
        Op::Custom(custom) => custom.operands.iter().any(|&p| f(p)),
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// The value. Parameters and shared constants come back without a copy; values the tape
    /// computed are copied out.
    pub fn value(&self) -> Arc<DMatrix<T>> {
        match &self.tape.nodes.borrow()[self.id].value {
            Value::Host(DeviceMatrix::Cpu(HostMatrix::Shared(m))) => Arc::clone(m),
            _ => self.with_value(|v| Arc::new(v.clone())),
        }
    }

    /// Runs `f` on the value. The tape is borrowed for the call only, so an operation computes
    /// its value inside `f` and records the node after it: no borrow is left to drop by hand.
    ///
    /// Where a device fails at reading the value back, `f` sees NaN of its shape and the
    /// failure is kept for the pass ([`Tape::check`], [`Tape::try_backward`]).
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(&DMatrix<T>) -> R) -> R {
        let nodes = self.tape.nodes.borrow();
        let value = &nodes[self.id].value;
        match value.try_host() {
            Ok(m) => f(m),
            Err(e) => {
                self.tape.fail(e);
                f(&nan(value.shape()))
            }
        }
    }

    /// As [`Var::with_value`], with the pass's device failure, if any, as the error.
    ///
    /// # Errors
    /// [`crate::Error::Device`] if the device failed in this pass, here or before.
    pub(crate) fn try_with_value<R>(&self, f: impl FnOnce(&DMatrix<T>) -> R) -> Result<R> {
        let out = self.with_value(f);
        self.tape.check()?;
        Ok(out)
    }

    /// As [`Var::scalar`], with the pass's device failure, if any, as the error.
    ///
    /// # Errors
    /// As [`Var::try_with_value`].
    pub(crate) fn try_scalar(&self) -> Result<T> {
        self.try_with_value(|v| {
            assert_eq!(v.shape(), (1, 1), "Var::scalar on a non-1x1 value");
            v[(0, 0)]
        })
    }

    /// The single entry of a 1x1 value (NaN on a tape whose device failed in this pass: see
    /// [`Tape::check`]).
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
            Value::Host(DeviceMatrix::Cpu(HostMatrix::Shared(m))) => {
                Value::Host(DeviceMatrix::Cpu(HostMatrix::Shared(Arc::clone(m))))
            }
            Value::Host(m) => {
                Value::Host(DeviceMatrix::host(m.as_host().expect("on the CPU").clone()))
            }
            Value::Device(d) => Value::Device(Arc::clone(d)),
        };
        self.tape.push(value, Op::Constant)
    }

    /// Runs the kernel call `f` on the values of `vars` where the tape runs, and records its
    /// result made by `op`: every operation of the tape, on every device, goes through here.
    pub(crate) fn apply<const N: usize>(
        vars: [Var<'t, T>; N],
        op: impl FnOnce() -> Op<T>,
        f: impl Fn(&Kernels, [&DeviceMatrix<T>; N]) -> Result<DeviceMatrix<T>>,
    ) -> Var<'t, T> {
        let tape = vars.first().expect("a variable").tape;
        let value = tape.run(|k| Var::with_matrices(vars, |values| f(k, values)));
        tape.push(Value::of(value), op())
    }

    /// As [`Var::apply`], for a slice of variables.
    pub(crate) fn apply_all(
        vars: &[Var<'t, T>],
        op: impl FnOnce() -> Op<T>,
        f: impl Fn(&Kernels, &[&DeviceMatrix<T>]) -> Result<DeviceMatrix<T>>,
    ) -> Var<'t, T> {
        let first = vars.first().expect("at least one variable");
        vars.iter().for_each(|v| first.same_tape(v));
        let tape = first.tape;
        let value = {
            let nodes = tape.nodes.borrow();
            let values: Vec<_> = vars.iter().map(|v| nodes[v.id].value.matrix()).collect();
            tape.run(|k| f(k, &values))
        };
        tape.push(Value::of(value), op())
    }

    /// Runs `f` on the matrices of `vars` (all on this tape), where they live.
    pub(crate) fn with_matrices<R, const N: usize>(
        vars: [Var<'t, T>; N],
        f: impl FnOnce([&DeviceMatrix<T>; N]) -> R,
    ) -> R {
        Var::with_values_raw(vars, |values| f(values.map(Value::matrix)))
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

    pub(crate) fn same_tape(&self, other: &Var<'t, T>) {
        assert!(
            std::ptr::eq(self.tape, other.tape),
            "operands live on different tapes"
        );
    }
}
