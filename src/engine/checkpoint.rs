//! Checkpoints of any model: its parameters, its trainer (optimizer states, progress, minibatch
//! order) and its generator, with whatever the model needs to rebuild itself, in one versioned
//! JSON document written atomically.
//!
//! Format `elbo-checkpoint`, version 2: `format`, `version`, `precision` (`f32` or `f64`),
//! `model` (the model's own description, any JSON), `params` (name, rows, columns and the
//! column-major values of every parameter), `frozen` (names of frozen parameters), `groups`
//! (per parameter group: name, optimizer counters and slots by parameter name), `progress` and
//! `rng` (the PCG generator's state). Numbers are written as the shortest decimal that reads
//! back to the same float, so a resumed run continues bit for bit.

use super::trainer::{Progress, Trainer};
use crate::error::{Error, Result};
use crate::io::write_atomically;
use crate::optim::OptimizerState;
use crate::params::ParamStore;
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::DMatrix;
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: &str = "elbo-checkpoint";
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Matrix {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct NamedMatrix {
    name: String,
    #[serde(flatten)]
    matrix: Matrix,
}

#[derive(Serialize, Deserialize)]
struct Slot {
    param: String,
    slot: String,
    #[serde(flatten)]
    matrix: Matrix,
}

#[derive(Serialize, Deserialize)]
struct GroupState {
    name: String,
    counters: Vec<(String, u64)>,
    slots: Vec<Slot>,
}

#[derive(Serialize, Deserialize)]
struct Document {
    format: String,
    version: u32,
    precision: String,
    model: serde_json::Value,
    params: Vec<NamedMatrix>,
    frozen: Vec<String>,
    groups: Vec<GroupState>,
    progress: Progress,
    rng: Pcg64,
}

fn precision<T: Real>() -> &'static str {
    if std::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

fn to_matrix<T: Real>(m: &DMatrix<T>) -> Matrix {
    Matrix {
        rows: m.nrows(),
        cols: m.ncols(),
        values: m.iter().map(|v| v.to_f64()).collect(),
    }
}

impl<T: Real> Trainer<'_, T> {
    /// Saves `store`, this trainer's state, the generator `rng` and `model` (whatever the model
    /// needs to rebuild itself: its settings, say) to `path`, atomically: the document goes to
    /// a temporary file beside it, is flushed to disk, and replaces `path` by a rename, so a
    /// crash mid-save leaves the previous checkpoint intact.
    ///
    /// # Errors
    /// [`Error::NonFiniteData`] if a parameter is NaN or infinite (a diverged model is never
    /// saved); [`Error::Write`] if the file cannot be written.
    pub fn save(
        &self,
        path: impl AsRef<Path>,
        store: &ParamStore<T>,
        rng: &Pcg64,
        model: &impl Serialize,
    ) -> Result<()> {
        for id in store.ids() {
            check_finite("parameter to save", store.get(id))?;
        }
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let state = g.optimizer.state();
                GroupState {
                    name: g.name.clone(),
                    counters: state.counters,
                    slots: state
                        .slots
                        .iter()
                        .map(|(id, slot, value)| Slot {
                            param: store.name(*id).to_string(),
                            slot: slot.clone(),
                            matrix: to_matrix(value),
                        })
                        .collect(),
                }
            })
            .collect();
        let document = Document {
            format: FORMAT.to_string(),
            version: VERSION,
            precision: precision::<T>().to_string(),
            model: serde_json::to_value(model).map_err(|e| Error::Checkpoint {
                path: path.as_ref().to_path_buf(),
                problem: format!("the model's description does not serialise ({e})"),
            })?,
            params: store
                .ids()
                .map(|id| NamedMatrix {
                    name: store.name(id).to_string(),
                    matrix: to_matrix(store.get(id)),
                })
                .collect(),
            frozen: store
                .ids()
                .filter(|&id| store.is_frozen(id))
                .map(|id| store.name(id).to_string())
                .collect(),
            groups,
            progress: self.progress.clone(),
            rng: rng.clone(),
        };
        let text = serde_json::to_string(&document).expect("a checkpoint serialises");
        write_atomically(path.as_ref(), text.as_bytes())
    }
}

/// A checkpoint read from disk, checked for its format, not yet applied to a model.
///
/// Reading allocates no more than the file's own size; a model rebuilds its architecture from
/// [`Checkpoint::model`], compares its size with [`Checkpoint::values`] before allocating it,
/// and then [`Checkpoint::restore`]s parameters, trainer and generator.
pub struct Checkpoint {
    path: PathBuf,
    document: Document,
}

impl Checkpoint {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; [`Error::Checkpoint`] if it is not a checkpoint or
    /// has another format version.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let fail = |problem: String| Error::Checkpoint {
            path: path.clone(),
            problem,
        };
        // The header first, so that a file of another version says so rather than failing on
        // a field it does not have.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let header: Header = serde_json::from_str(&text)
            .map_err(|e| fail(format!("not a readable checkpoint ({e})")))?;
        if header.format != FORMAT || header.version != VERSION {
            return Err(fail(format!(
                "format {} version {}; this build reads {FORMAT} version {VERSION}",
                header.format, header.version
            )));
        }
        let document: Document = serde_json::from_str(&text)
            .map_err(|e| fail(format!("not a readable checkpoint ({e})")))?;
        Ok(Checkpoint { path, document })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, problem: impl Into<String>) -> Error {
        Error::Checkpoint {
            path: self.path.clone(),
            problem: problem.into(),
        }
    }

    /// The model's own description, as it was saved.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it does not read as an `M`.
    pub fn model<M: DeserializeOwned>(&self) -> Result<M> {
        M::deserialize(&self.document.model)
            .map_err(|e| self.fail(format!("its model description does not fit ({e})")))
    }

    /// The number of parameter values the file holds: a model whose saved settings describe
    /// more than this cannot have been saved from them.
    pub fn values(&self) -> usize {
        self.document
            .params
            .iter()
            .map(|p| p.matrix.values.len())
            .sum()
    }

    /// Writes the saved parameters into `store`, the saved optimizer states and progress into
    /// `trainer`, and the saved generator state into `rng`. `store` must hold exactly the saved
    /// parameters (same names, same shapes) and `trainer` the saved groups (same names); the
    /// trainer's settings and schedules are the caller's, so a resumed run may change them.
    ///
    /// Everything is checked before anything is written: on an error, `store`, `trainer` and
    /// `rng` are as they were.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] saying what does not fit: precision, a parameter's name or shape,
    /// a group, an optimizer state, or an inconsistent minibatch order.
    pub fn restore<T: Real>(
        &self,
        store: &mut ParamStore<T>,
        trainer: &mut Trainer<'_, T>,
        rng: &mut Pcg64,
    ) -> Result<()> {
        let doc = &self.document;
        if doc.precision != precision::<T>() {
            return Err(self.fail(format!(
                "saved in {}, loaded as {}: resume in the precision it was trained in",
                doc.precision,
                precision::<T>()
            )));
        }
        if doc.params.len() != store.len() {
            return Err(self.fail(format!(
                "{} parameters saved, the model has {}",
                doc.params.len(),
                store.len()
            )));
        }
        let matrix = |m: &Matrix, what: &str| -> Result<DMatrix<T>> {
            if m.rows.checked_mul(m.cols) != Some(m.values.len()) {
                return Err(self.fail(format!(
                    "{what}: {} values for {}x{}",
                    m.values.len(),
                    m.rows,
                    m.cols
                )));
            }
            Ok(DMatrix::from_iterator(
                m.rows,
                m.cols,
                m.values.iter().map(|&v| T::of_f64(v)),
            ))
        };
        let id_of = |name: &str| {
            store
                .id(name)
                .ok_or_else(|| self.fail(format!("parameter `{name}` is not in the model")))
        };
        let mut values = Vec::with_capacity(doc.params.len());
        for p in &doc.params {
            let id = id_of(&p.name)?;
            let value = matrix(&p.matrix, &p.name)?;
            if value.shape() != store.get(id).shape() {
                return Err(self.fail(format!(
                    "parameter `{}` is {}x{} in the file and {}x{} in the model",
                    p.name,
                    value.nrows(),
                    value.ncols(),
                    store.get(id).nrows(),
                    store.get(id).ncols()
                )));
            }
            check_finite("saved parameter", &value)
                .map_err(|e| self.fail(format!("parameter `{}`: {e}", p.name)))?;
            values.push((id, value));
        }
        let frozen = doc
            .frozen
            .iter()
            .map(|name| id_of(name))
            .collect::<Result<Vec<_>>>()?;
        if doc.groups.len() != trainer.groups.len() {
            return Err(self.fail(format!(
                "{} parameter groups saved, the trainer has {}",
                doc.groups.len(),
                trainer.groups.len()
            )));
        }
        let mut states = Vec::with_capacity(doc.groups.len());
        for (saved, group) in doc.groups.iter().zip(&trainer.groups) {
            if saved.name != group.name {
                return Err(self.fail(format!(
                    "group `{}` saved where the trainer has `{}`",
                    saved.name, group.name
                )));
            }
            let mut slots = Vec::with_capacity(saved.slots.len());
            for s in &saved.slots {
                let id = id_of(&s.param)?;
                let value = matrix(&s.matrix, &format!("{} of `{}`", s.slot, s.param))?;
                if value.shape() != store.get(id).shape() {
                    return Err(self.fail(format!(
                        "optimizer slot {} of `{}` does not have its parameter's shape",
                        s.slot, s.param
                    )));
                }
                slots.push((id, s.slot.clone(), value));
            }
            states.push(OptimizerState {
                counters: saved.counters.clone(),
                slots,
            });
        }
        if let Some(m) = &doc.progress.minibatches
            && !m.is_consistent()
        {
            return Err(self.fail("its minibatch order is not a permutation of the rows"));
        }
        // Optimizers check their own state as they take it; if one refuses, the groups
        // restored before it get their previous state back.
        let previous: Vec<_> = trainer.groups.iter().map(|g| g.optimizer.state()).collect();
        for (i, state) in states.into_iter().enumerate() {
            if let Err(e) = trainer.groups[i].optimizer.restore(state) {
                for (group, old) in trainer.groups.iter_mut().zip(previous).take(i) {
                    group.optimizer.restore(old)?;
                }
                return Err(self.fail(format!(
                    "optimizer of group `{}`: {e}",
                    trainer.groups[i].name
                )));
            }
        }
        for (id, value) in values {
            store.set(id, value)?;
        }
        for id in store.ids().collect::<Vec<_>>() {
            store.set_frozen(id, frozen.contains(&id));
        }
        for group in &mut trainer.groups {
            group.skipped_in_row = 0;
        }
        trainer.progress = doc.progress.clone();
        *rng = doc.rng.clone();
        Ok(())
    }
}
