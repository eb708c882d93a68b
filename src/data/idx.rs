//! The IDX format of MNIST: images (`idx3-ubyte`) and labels (`idx1-ubyte`), plain or gzipped.
//!
//! Layout: a big-endian u32 magic number — two zero bytes, a type code (0x08 for unsigned
//! bytes) and the number of dimensions — then one big-endian u32 per dimension, then the data.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// Unsigned-byte images: `count` images of `rows x cols` pixels, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// The largest decompressed file we accept (real MNIST training images are 47 MB).
const MAX_DECOMPRESSED: u64 = 1 << 31;

/// Reads a file, decompressing it if it starts with the gzip magic bytes.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .take(MAX_DECOMPRESSED)
            .read_to_end(&mut out)
            .map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Checks the header of an IDX file of unsigned bytes with `dims` dimensions and returns the
/// dimensions, after checking that the data that follows has exactly their product's length.
fn parse_header(bytes: &[u8], dims: usize, path: &Path) -> Result<Vec<usize>> {
    let fail = |problem: String| Error::Idx {
        path: path.to_path_buf(),
        problem,
    };
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(fail(format!(
            "{} bytes is too short for an IDX header of {header} bytes",
            bytes.len()
        )));
    }
    let (zero, kind, ndims) = (&bytes[0..2], bytes[2], bytes[3] as usize);
    if zero != [0, 0] || ndims != dims {
        let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        return Err(fail(format!(
            "magic number {magic:#010x} is not that of a {dims}-dimensional IDX file (expected {:#010x})",
            0x0800 + dims
        )));
    }
    if kind != 0x08 {
        return Err(fail(format!(
            "type code {kind:#04x} is not 0x08 (unsigned bytes), the only type read here"
        )));
    }
    let sizes: Vec<usize> = (0..dims)
        .map(|k| {
            u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = sizes
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| fail(format!("dimensions {sizes:?} overflow")))?;
    let actual = bytes.len() - header;
    if actual != expected {
        return Err(fail(format!(
            "dimensions {sizes:?} promise {expected} data bytes, the file holds {actual}{}",
            if actual < expected {
                " (truncated?)"
            } else {
                ""
            }
        )));
    }
    Ok(sizes)
}

/// Parses the bytes of an `idx3-ubyte` image file; `path` names it in errors.
///
/// # Errors
/// [`Error::Idx`] for a wrong magic number or type code, or a length that does not match the
/// header. Nothing is allocated from the header's sizes before they are checked against the
/// file's length.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let sizes = parse_header(bytes, 3, path)?;
    Ok(IdxImages {
        count: sizes[0],
        rows: sizes[1],
        cols: sizes[2],
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses the bytes of an `idx1-ubyte` label file.
///
/// # Errors
/// As [`parse_idx_images`].
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    parse_header(bytes, 1, path)?;
    Ok(bytes[8..].to_vec())
}

/// Reads an `idx3-ubyte` image file, gzipped or not.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; as [`parse_idx_images`] otherwise.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let path = path.as_ref();
    parse_idx_images(&read_bytes(path)?, path)
}

/// Reads an `idx1-ubyte` label file, gzipped or not.
///
/// # Errors
/// As [`read_idx_images`].
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    parse_idx_labels(&read_bytes(path)?, path)
}

/// The bytes of an `idx3-ubyte` file holding `images`.
pub fn encode_idx_images(images: &IdxImages) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 3];
    for size in [images.count, images.rows, images.cols] {
        out.extend_from_slice(&(size as u32).to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// The bytes of an `idx1-ubyte` file holding `labels`.
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
