//! Saving and resuming a [`Vae`]: parameters, settings, optimizer state, generator state and
//! progress in one versioned JSON document, written atomically.
//!
//! Format (`elbo-vae-checkpoint`, version 1): an object with `format`, `version`, `precision`
//! (`f32` or `f64`), `config` (the [`VaeConfig`]), `epochs_done`, `steps_done`, `params` (name,
//! rows, columns and the column-major values of every parameter), `adam` (step count and the two
//! moment estimates per parameter) and `rng` (the PCG generator's state). Numbers are written as
//! the shortest decimal that reads back to the same float, so a resumed run continues bit for
//! bit.

use super::{Vae, VaeConfig};
use crate::error::{Error, Result};
use crate::optim::Moments;
use crate::params::ParamStore;
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::DMatrix;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: &str = "elbo-vae-checkpoint";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Matrix {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct Named {
    name: String,
    #[serde(flatten)]
    matrix: Matrix,
}

#[derive(Serialize, Deserialize)]
struct AdamState {
    steps: i32,
    moments: Vec<Option<(Matrix, Matrix)>>,
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    format: String,
    version: u32,
    precision: String,
    config: VaeConfig,
    epochs_done: usize,
    steps_done: usize,
    params: Vec<Named>,
    adam: AdamState,
    rng: Pcg64,
}

fn to_matrix<T: Real>(m: &DMatrix<T>) -> Matrix {
    Matrix {
        rows: m.nrows(),
        cols: m.ncols(),
        values: m.iter().map(|v| v.to_f64()).collect(),
    }
}

fn precision<T: Real>() -> &'static str {
    if std::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

impl<T: Real> Vae<T> {
    /// Writes the model and its training state to `path`, atomically: the document goes to a
    /// temporary file beside it, is flushed to disk, and replaces `path` by a rename, so a crash
    /// mid-save leaves the previous checkpoint intact.
    ///
    /// # Errors
    /// [`Error::NonFiniteData`] if a parameter is NaN or infinite (a diverged model is never
    /// saved); [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        for id in self.params.ids() {
            check_finite("parameter to save", self.params.get(id))?;
        }
        let (steps, moments) = self.optimizer.state();
        let checkpoint = Checkpoint {
            format: FORMAT.to_string(),
            version: VERSION,
            precision: precision::<T>().to_string(),
            config: self.config.clone(),
            epochs_done: self.epochs_done,
            steps_done: self.steps_done,
            params: self
                .params
                .ids()
                .map(|id| Named {
                    name: self.params.name(id).to_string(),
                    matrix: to_matrix(self.params.get(id)),
                })
                .collect(),
            adam: AdamState {
                steps,
                moments: moments
                    .iter()
                    .map(|m| m.as_ref().map(|(a, b)| (to_matrix(a), to_matrix(b))))
                    .collect(),
            },
            rng: self.rng.clone(),
        };
        let text = serde_json::to_string(&checkpoint).expect("a checkpoint serialises");
        write_atomically(path, text.as_bytes())
    }

    /// Reads a checkpoint written by [`Vae::save`] in the same precision and rebuilds the model
    /// and its training state; training continues exactly where it stopped.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Checkpoint`] if it is not a checkpoint,
    /// has another format version or precision, or its parameters do not fit the architecture
    /// its settings describe.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fail = |problem: String| Error::Checkpoint {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| fail(format!("not a readable checkpoint ({e})")))?;
        if checkpoint.format != FORMAT || checkpoint.version != VERSION {
            return Err(fail(format!(
                "format {} version {}; this build reads {FORMAT} version {VERSION}",
                checkpoint.format, checkpoint.version
            )));
        }
        if checkpoint.precision != precision::<T>() {
            return Err(fail(format!(
                "saved in {}, loaded as {}: resume in the precision it was trained in",
                checkpoint.precision,
                precision::<T>()
            )));
        }
        let mut vae = Vae::<T>::new(checkpoint.config)
            .map_err(|e| fail(format!("its settings are invalid: {e}")))?;
        if checkpoint.params.len() != vae.params.len() {
            return Err(fail(format!(
                "{} parameters saved, the architecture has {}",
                checkpoint.params.len(),
                vae.params.len()
            )));
        }
        let from_matrix = |m: &Matrix, what: &str| -> Result<DMatrix<T>> {
            if m.values.len() != m.rows * m.cols {
                return Err(fail(format!(
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
        for named in &checkpoint.params {
            let id = vae.params.id(&named.name).ok_or_else(|| {
                fail(format!(
                    "parameter `{}` is not in the architecture",
                    named.name
                ))
            })?;
            let value = from_matrix(&named.matrix, &named.name)?;
            vae.params
                .set(id, value)
                .map_err(|e| fail(format!("parameter `{}`: {e}", named.name)))?;
        }
        let moments = checkpoint
            .adam
            .moments
            .iter()
            .map(|m| {
                m.as_ref()
                    .map(|(a, b)| {
                        Ok((
                            from_matrix(a, "Adam moment")?,
                            from_matrix(b, "Adam moment")?,
                        ))
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        check_moment_shapes(&vae.params, &moments).map_err(fail)?;
        vae.optimizer.restore(checkpoint.adam.steps, moments);
        vae.rng = checkpoint.rng;
        vae.epochs_done = checkpoint.epochs_done;
        vae.steps_done = checkpoint.steps_done;
        Ok(vae)
    }
}

/// Every saved moment estimate must have its parameter's shape.
fn check_moment_shapes<T: Real>(
    params: &ParamStore<T>,
    moments: &[Moments<T>],
) -> std::result::Result<(), String> {
    if moments.len() > params.len() {
        return Err(format!(
            "{} Adam moments for {} parameters",
            moments.len(),
            params.len()
        ));
    }
    for (id, m) in params.ids().zip(moments) {
        if let Some((first, second)) = m {
            let shape = params.get(id).shape();
            if first.shape() != shape || second.shape() != shape {
                return Err(format!(
                    "Adam moments of `{}` do not have its shape",
                    params.name(id)
                ));
            }
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    // Make the rename itself durable where the platform allows opening a directory.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
