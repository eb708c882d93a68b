//! The crate's one error type. Every fallible public function returns [`Result`].

use std::path::PathBuf;

/// Shorthand for `std::result::Result<T, elbo::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with user input or a fit. Each variant carries the offending
/// value and its message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting or argument is outside its valid range.
    #[error("invalid {name} = {value}: {expected}")]
    InvalidParameter {
        /// Which setting.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// Two things that must agree in shape do not.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being checked.
        what: &'static str,
        /// The expected shape, as text.
        expected: String,
        /// The shape given, as text.
        got: String,
    },
    /// There is no data to work on.
    #[error("{what} is empty: give at least one row")]
    EmptyData {
        /// Which data set.
        what: &'static str,
    },
    /// Data holds NaN or an infinity.
    #[error(
        "{what} holds a non-finite value ({value}) at row {row}, column {col} (0-based): \
         remove or impute it"
    )]
    NonFiniteData {
        /// Which data set.
        what: &'static str,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
        /// The value itself.
        value: f64,
    },
    /// A matrix that must be symmetric positive definite is not.
    #[error("{what} is not symmetric positive definite: give a valid covariance")]
    NotPositiveDefinite {
        /// Which matrix.
        what: &'static str,
    },
    /// The posterior has no Laplace approximation where the search for its mode ended.
    #[error(
        "no Laplace approximation: {problem}; start the fit from the guide's own initial values \
         instead (without start_at_laplace), or check the model's log density"
    )]
    NoLaplace {
        /// What went wrong.
        problem: &'static str,
    },
    /// Too many optimisation steps in a row had a non-finite loss or gradient.
    #[error(
        "fitting diverged: {consecutive} steps in a row up to step {step} had a non-finite \
         {culprit}; lower the learning rate, clip gradients or check the model"
    )]
    Diverged {
        /// The step at which fitting gave up (0-based).
        step: usize,
        /// How many steps in a row were skipped.
        consecutive: usize,
        /// "loss" or "gradient of parameter `name`".
        culprit: String,
    },
    /// A parameter name is not in the store, or is there twice.
    #[error("parameter `{name}`: {problem}")]
    Parameter {
        /// The parameter's name.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Gradients were applied to a parameter store other than the one they were taken in.
    #[error(
        "these gradients were taken on a tape of another parameter store: take them on a tape \
         made from the store the optimizer updates"
    )]
    ForeignGradients,
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}; choose a location that exists and is writable", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A size chosen by the user needs more memory than the machine can give.
    #[error(
        "{what} of {size} would need {} of memory, more than the {} available: choose a smaller size",
        human_bytes(*bytes),
        human_bytes(*available)
    )]
    TooLarge {
        /// What was to be allocated.
        what: &'static str,
        /// The size asked for, as text (a count or a shape).
        size: String,
        /// Bytes it would take (saturated at `u64::MAX` where the count overflows).
        bytes: u64,
        /// Bytes the machine has available.
        available: u64,
    },
    /// An IDX file (the MNIST format) is malformed.
    #[error("{}: {problem}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A checkpoint cannot be written or read back into this model.
    #[error("checkpoint {}: {problem}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A figure could not be drawn or written.
    #[error("cannot draw {}: {problem}", path.display())]
    Plot {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A CSV file is malformed.
    #[error("{}:{line}: {problem}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong, including the column where it applies.
        problem: String,
    },
    /// A compute device was asked for that this machine or build cannot give.
    #[error("{device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for (`cuda:0`, say).
        device: String,
        /// Why, and what to do about it.
        reason: String,
    },
    /// A device failed at an operation it had accepted (out of memory, a failed launch).
    #[error("{device} failed at {operation}: {problem}")]
    Device {
        /// The device.
        device: String,
        /// What it was doing.
        operation: &'static str,
        /// The driver's or library's message.
        problem: String,
    },
}

impl Error {
    /// Builds [`Error::InvalidParameter`].
    pub fn invalid(
        name: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            expected,
        }
    }

    /// Builds [`Error::ShapeMismatch`] from two `(rows, cols)` shapes.
    pub fn shape(what: &'static str, expected: (usize, usize), got: (usize, usize)) -> Self {
        Error::ShapeMismatch {
            what,
            expected: format!("{}x{}", expected.0, expected.1),
            got: format!("{}x{}", got.0, got.1),
        }
    }

    /// The same error once more, for a second reader of a failure kept by a pass (a device's
    /// errors carry only text; any other kind is told as text on the same variant).
    pub(crate) fn again(&self) -> Self {
        match self {
            Error::Device {
                device,
                operation,
                problem,
            } => Error::Device {
                device: device.clone(),
                operation,
                problem: problem.clone(),
            },
            Error::DeviceUnavailable { device, reason } => Error::DeviceUnavailable {
                device: device.clone(),
                reason: reason.clone(),
            },
            other => Error::Device {
                device: "a device".into(),
                operation: "a kernel",
                problem: other.to_string(),
            },
        }
    }
}

/// `value` if it is a finite number > 0, else [`Error::InvalidParameter`] naming it.
pub(crate) fn require_positive<T: crate::Real>(name: &'static str, value: T) -> Result<T> {
    if value > T::zero() && value.is_finite() {
        Ok(value)
    } else {
        Err(Error::invalid(name, value, "a finite number > 0"))
    }
}

/// `bytes` as a short figure with a binary unit.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
