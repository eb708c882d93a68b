//! A data set: one row per data point, with optional class labels.

use super::idx::{IdxImages, parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels};
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use std::path::Path;

/// Rows of data (pixels scaled to [0, 1] for images) and, optionally, a label per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T: Real> {
    /// One row per data point.
    pub x: DMatrix<T>,
    /// One label per row, if known.
    pub labels: Option<Vec<u8>>,
    /// Image height and width, when the rows are images.
    pub image_shape: Option<(usize, usize)>,
}

impl<T: Real> Dataset<T> {
    /// Images as rows of pixels scaled from 0..255 to [0, 1], with optional labels.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if there are labels and their number differs from the images'.
    pub fn from_images(images: &IdxImages, labels: Option<Vec<u8>>) -> Result<Self> {
        if let Some(l) = &labels
            && l.len() != images.count
        {
            return Err(Error::shape(
                "labels (one per image)",
                (images.count, 1),
                (l.len(), 1),
            ));
        }
        let width = images.rows * images.cols;
        let scale = T::one() / T::of_f64(255.0);
        let x = DMatrix::from_row_iterator(
            images.count,
            width,
            images.pixels.iter().map(|&p| T::of_f64(p as f64) * scale),
        );
        Ok(Dataset {
            x,
            labels,
            image_shape: Some((images.rows, images.cols)),
        })
    }

    /// Reads an IDX image file and, if given, its label file (MNIST layout, gzipped or not).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Idx`] for unreadable or malformed files; as
    /// [`Dataset::from_images`] for a count mismatch.
    pub fn read_idx(images: impl AsRef<Path>, labels: Option<&Path>) -> Result<Self> {
        let images = read_idx_images(images)?;
        let labels = labels.map(read_idx_labels).transpose()?;
        Self::from_images(&images, labels)
    }

    /// Reads `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte` from `dir` (each
    /// may also be named with a `.gz` suffix), as MNIST's `train` and `t10k` files are.
    ///
    /// # Errors
    /// As [`Dataset::read_idx`]; [`Error::Io`] names the missing file.
    pub fn read_idx_dir(dir: impl AsRef<Path>, prefix: &str) -> Result<Self> {
        let dir = dir.as_ref();
        let find = |name: String| {
            let plain = dir.join(&name);
            let gz = dir.join(format!("{name}.gz"));
            if !plain.exists() && gz.exists() {
                gz
            } else {
                plain
            }
        };
        let images = find(format!("{prefix}-images-idx3-ubyte"));
        let labels = find(format!("{prefix}-labels-idx1-ubyte"));
        Self::read_idx(images, Some(&labels))
    }

    /// The 8x8 handwritten digits shipped inside the crate (UCI optical digits, E. Alpaydin and
    /// C. Kaynak 1998, CC BY 4.0): 1500 training and 297 test images with labels. Needs no file.
    pub fn digits8x8() -> (Self, Self) {
        let load = |images: &[u8], labels: &[u8]| {
            let path = Path::new("<bundled digits8x8>");
            let images = parse_idx_images(images, path).expect("bundled images are valid IDX");
            let labels = parse_idx_labels(labels, path).expect("bundled labels are valid IDX");
            Self::from_images(&images, Some(labels)).expect("bundled labels match the images")
        };
        (
            load(
                include_bytes!("../../data/digits8x8/train-images-idx3-ubyte"),
                include_bytes!("../../data/digits8x8/train-labels-idx1-ubyte"),
            ),
            load(
                include_bytes!("../../data/digits8x8/t10k-images-idx3-ubyte"),
                include_bytes!("../../data/digits8x8/t10k-labels-idx1-ubyte"),
            ),
        )
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Columns per row.
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }
}
