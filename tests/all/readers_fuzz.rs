//! The readers never panic: random bytes and mutations of valid files only ever give typed
//! errors or valid data.

use super::common;

use elbo::data::{
    IdxImages, encode_idx_images, encode_idx_labels, parse_csv, parse_idx_images, parse_idx_labels,
};
use proptest::prelude::*;
use std::path::Path;

fn valid_images() -> Vec<u8> {
    encode_idx_images(&IdxImages {
        count: 4,
        rows: 3,
        cols: 2,
        pixels: (0..24).collect(),
    })
}

/// Applies byte edits (position, value) and a truncation to a valid file.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, value) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = value;
        }
    }
    let keep = bytes.len().saturating_sub(cut % 4);
    bytes.truncate(keep);
    bytes
}

proptest! {
    #![proptest_config(common::proptest_config(512))]

    #[test]
    fn idx_parsers_take_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = Path::new("random");
        if let Ok(images) = parse_idx_images(&bytes, p) {
            prop_assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
        }
        if let Ok(labels) = parse_idx_labels(&bytes, p) {
            prop_assert_eq!(labels.len() + 8, bytes.len());
        }
    }

    #[test]
    fn idx_parsers_take_mutated_files(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let p = Path::new("mutated");
        let images = mutate(valid_images(), &edits, cut);
        if let Ok(parsed) = parse_idx_images(&images, p) {
            prop_assert_eq!(parsed.pixels.len(), parsed.count * parsed.rows * parsed.cols);
        }
        let labels = mutate(encode_idx_labels(&[1, 2, 3, 4, 5]), &edits, cut);
        let _ = parse_idx_labels(&labels, p);
    }

    #[test]
    fn csv_parser_takes_any_text(text in "[-0-9a-z.,eE \\n\"]{0,80}") {
        if let Ok(table) = parse_csv::<f64>(&text, Path::new("random.csv")) {
            prop_assert_eq!(table.data.ncols(), table.header.len());
            prop_assert!(table.data.iter().all(|v| v.is_finite()));
        }
    }
}
