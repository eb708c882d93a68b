//! A program's parameters as the fit sees them: names, sizes, supports, and where each one's
//! unconstrained coordinates sit in the flat vector a guide fits.

use crate::dist::Support;
use crate::model::Scope;

/// One declared parameter of a program.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// Its name, as declared.
    pub name: String,
    /// Entries per draw in the constrained space (a simplex of K has K).
    pub len: usize,
    /// Where it lives.
    pub support: Support,
    /// The first of its unconstrained coordinates in the flat vector.
    pub offset: usize,
    /// How many unconstrained coordinates it has (K − 1 for a simplex of K, else `len`).
    pub free_len: usize,
    /// Global (one value for the data set, in the vector a global guide fits) or local (one
    /// value per data row, `len` coordinates each, in the vector the local guide fits).
    pub scope: Scope,
}

impl Site {
    /// The constrained entries' names, 1-based as in Stan: `mu` for a scalar, `theta[1]`,
    /// `theta[2]`, … for a vector (for a local site, the names of one row's coordinates).
    pub fn entry_names(&self) -> Vec<String> {
        entry_names(&self.name, self.len)
    }
}

/// `name` for one entry, `name[1]` … `name[len]` for several.
pub(crate) fn entry_names(name: &str, len: usize) -> Vec<String> {
    if len == 1 {
        vec![name.to_string()]
    } else {
        (1..=len).map(|k| format!("{name}[{k}]")).collect()
    }
}

/// Unconstrained coordinates of a parameter of `len` constrained entries with `support`.
pub(crate) fn free_len(len: usize, support: Support) -> usize {
    match support {
        Support::Simplex => len.saturating_sub(1),
        _ => len,
    }
}
