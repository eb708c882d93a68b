//! Writing files safely: atomic replacement, and checks that an output location is writable
//! before a long run starts rather than after it.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker between a target's file name and a temporary file's suffix.
const TEMPORARY: &str = ".tmp-";

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The temporary file beside `path` that this process writes first.
fn temporary_for(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!("{TEMPORARY}{}", std::process::id()));
    path.with_file_name(name)
}

/// Checks that `path` can be written as a file: it is not a directory, and a file can be
/// created beside it (the probe is removed again; an existing `path` is left untouched).
///
/// # Errors
/// [`Error::Write`] naming `path` and the reason.
pub fn check_writable_file(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
        });
    }
    if path.file_name().is_none() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "it names no file"),
        });
    }
    let probe = temporary_for(path);
    std::fs::File::create(&probe).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Creates `dir` (and its parents) if needed and checks that files can be written in it.
///
/// # Errors
/// [`Error::Write`] naming `dir` and the reason.
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    check_writable_file(&dir.join(".elbo-write-check"))
}

/// Writes `bytes` to `path` atomically: to a temporary file beside it, synced, then renamed over
/// it, so that a crash mid-write leaves the previous file intact. Temporary files that an
/// earlier, killed write of the same `path` left behind are removed first.
///
/// # Errors
/// [`Error::Write`] naming the file that could not be written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    remove_stale_temporaries(path);
    let tmp = temporary_for(path);
    let mut file = std::fs::File::create(&tmp).map_err(write_error(path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Write {
            path: path.to_path_buf(),
            source,
        });
    }
    // Make the rename itself durable where the platform allows opening a directory.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes `NAME.tmp-*` files beside `path` (NAME its file name): what a write killed between
/// creating its temporary file and renaming it leaves behind.
fn remove_stale_temporaries(path: &Path) {
    let (Some(name), dir) = (path.file_name(), path.parent()) else {
        return;
    };
    let dir = match dir {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut prefix = name.to_os_string();
    prefix.push(TEMPORARY);
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if file_name.to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
