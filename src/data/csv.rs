//! A strict reader of numeric CSV files with a header row.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use std::path::Path;

/// A numeric table: column names and one matrix row per data row.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<T: Real> {
    /// Column names from the header row.
    pub header: Vec<String>,
    /// The values, one row per data line.
    pub data: DMatrix<T>,
}

impl<T: Real> Table<T> {
    /// A warning when every name in the header row is a number: almost always a file without
    /// a header, whose first data row was read as one (and lost). `None` otherwise. The
    /// readers do not print it; programs that read CSV files should.
    pub fn header_warning(&self) -> Option<String> {
        let numeric = |name: &String| name.parse::<f64>().is_ok();
        self.header.iter().all(numeric).then(|| {
            format!(
                "every name in the header row ({}) is a number: if the file has no header row, \
                 its first data row was taken as one and is missing from the data; add a header \
                 row naming the columns",
                self.header.join(", ")
            )
        })
    }
}

/// Reads a comma-separated file whose first line names the columns and whose other lines hold
/// one number per column. Blank lines are skipped; fields may be padded with spaces and header
/// names may be quoted.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Csv`] with the line and column for a
/// missing header, a row with the wrong number of fields, a field that is not a number, a NaN or
/// infinite value, or a file with no data rows.
pub fn read_csv<T: Real>(path: impl AsRef<Path>) -> Result<Table<T>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(&text, path)
}

/// Parses CSV text as [`read_csv`] does; `path` only names the source in errors.
///
/// # Errors
/// As [`read_csv`].
pub fn parse_csv<T: Real>(text: &str, path: &Path) -> Result<Table<T>> {
    let fail = |line: usize, problem: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let (_, header_line) = lines.next().ok_or_else(|| {
        fail(
            1,
            "the file is empty: expected a header row naming the columns".into(),
        )
    })?;
    let header: Vec<String> = header_line
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect();
    let mut values = Vec::new();
    let mut rows = 0;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() != header.len() {
            return Err(fail(
                line,
                format!(
                    "{} fields, but the header names {} columns",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        for (col, field) in fields.iter().enumerate() {
            let field = field.trim();
            let value: f64 = field.parse().map_err(|_| {
                fail(
                    line,
                    format!(
                        "column {} (`{}`): `{field}` is not a number",
                        col + 1,
                        header[col]
                    ),
                )
            })?;
            if !value.is_finite() {
                return Err(fail(
                    line,
                    format!(
                        "column {} (`{}`): `{field}` is not finite; remove or impute it",
                        col + 1,
                        header[col]
                    ),
                ));
            }
            values.push(T::of_f64(value));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(fail(1, "no data rows below the header".into()));
    }
    Ok(Table {
        data: DMatrix::from_row_slice(rows, header.len(), &values),
        header,
    })
}
