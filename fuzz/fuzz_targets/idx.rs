//! Any bytes, read as an IDX image file and as a label file: a typed error or data whose size
//! matches its header, never a panic or an allocation larger than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz-input");
    if let Ok(images) = elbo::data::parse_idx_images(data, path) {
        assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
    }
    if let Ok(labels) = elbo::data::parse_idx_labels(data, path) {
        assert_eq!(labels.len() + 8, data.len());
    }
});
