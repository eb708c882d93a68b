//! Any text, read as a CSV file: a typed error naming the line, or a table of finite numbers
//! with one column per header name — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(table) = elbo::data::parse_csv::<f64>(text, std::path::Path::new("fuzz-input.csv")) {
            assert_eq!(table.data.ncols(), table.header.len());
            assert!(table.data.iter().all(|v| v.is_finite()));
        }
    }
});
