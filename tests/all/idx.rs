//! The IDX (MNIST) reader: round trips, gzip, the bundled digits, and typed errors for every
//! malformed file.

use elbo::Error;
use elbo::data::{
    Dataset, IdxImages, encode_idx_images, encode_idx_labels, parse_idx_images, parse_idx_labels,
    read_idx_images, read_idx_labels,
};
use std::io::Write;
use std::path::{Path, PathBuf};

fn images() -> IdxImages {
    IdxImages {
        count: 3,
        rows: 2,
        cols: 4,
        pixels: (0..24).map(|v| (v * 10) as u8).collect(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elbo-idx-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn problem(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Idx { problem, .. }) => problem,
        other => panic!("expected an IDX error, got {other:?}"),
    }
}

#[test]
fn images_and_labels_round_trip_through_files_plain_and_gzipped() {
    let dir = temp_dir("roundtrip");
    let (img, labels) = (images(), vec![3u8, 1, 4]);
    std::fs::write(dir.join("train-images-idx3-ubyte"), encode_idx_images(&img)).unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx_labels(&labels),
    )
    .unwrap();
    assert_eq!(
        read_idx_images(dir.join("train-images-idx3-ubyte")).unwrap(),
        img
    );
    assert_eq!(
        read_idx_labels(dir.join("train-labels-idx1-ubyte")).unwrap(),
        labels
    );

    // Gzipped copies, found by read_idx_dir under their .gz names.
    for (name, bytes) in [
        ("t10k-images-idx3-ubyte.gz", encode_idx_images(&img)),
        ("t10k-labels-idx1-ubyte.gz", encode_idx_labels(&labels)),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        std::fs::write(dir.join(name), gz.finish().unwrap()).unwrap();
    }
    let test = Dataset::<f32>::read_idx_dir(&dir, "t10k").unwrap();
    assert_eq!(test.x.shape(), (3, 8));
    assert_eq!(test.labels.as_deref(), Some(&labels[..]));
    assert_eq!(test.image_shape, Some((2, 4)));
    // Pixels scale to [0, 1], row-major within each image.
    assert!((test.x[(0, 1)] - 10.0 / 255.0).abs() < 1e-7);
    assert!((test.x[(2, 7)] - 230.0 / 255.0).abs() < 1e-7);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bundled_digits_load_with_their_documented_shapes() {
    let (train, test) = Dataset::<f64>::digits8x8();
    assert_eq!((train.len(), train.dim(), test.len()), (1500, 64, 297));
    assert_eq!(train.labels.as_ref().unwrap().len(), 1500);
    assert!(train.labels.as_ref().unwrap().iter().all(|&l| l < 10));
    assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(train.image_shape, Some((8, 8)));
}

#[test]
fn malformed_files_are_typed_errors_that_say_what_is_wrong() {
    let p = Path::new("f");
    let good = encode_idx_images(&images());
    assert!(problem(parse_idx_images(&good[..10], p)).contains("too short"));
    assert!(problem(parse_idx_images(&good[..good.len() - 1], p)).contains("truncated"));
    let mut extra = good.clone();
    extra.push(0);
    assert!(
        problem(parse_idx_images(&extra, p)).contains("promise 24 data bytes, the file holds 25")
    );
    let mut magic = good.clone();
    magic[3] = 1;
    assert!(problem(parse_idx_images(&magic, p)).contains("magic number"));
    let mut kind = good.clone();
    kind[2] = 0x0D; // float
    assert!(problem(parse_idx_images(&kind, p)).contains("type code"));
    // Labels parsed as images and the reverse.
    assert!(problem(parse_idx_images(&encode_idx_labels(&[1; 20]), p)).contains("magic number"));
    assert!(problem(parse_idx_labels(&good, p)).contains("magic number"));
    assert!(problem(parse_idx_images(&[], p)).contains("too short"));
    // A header that claims 2^31 images of 2^31 x 2^31 pixels on a 100-byte file: the sizes are
    // checked against the length before anything is allocated.
    let mut huge = vec![0, 0, 8, 3];
    for _ in 0..3 {
        huge.extend_from_slice(&(1u32 << 31).to_be_bytes());
    }
    huge.resize(100, 0);
    let msg = problem(parse_idx_images(&huge, p));
    assert!(msg.contains("overflow") || msg.contains("promise"), "{msg}");
    // A missing file names its path.
    let missing = read_idx_images("/no/such/images").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }) && missing.to_string().contains("/no/such/images"));
}

#[test]
fn a_label_count_that_differs_from_the_image_count_is_an_error() {
    let err = Dataset::<f64>::from_images(&images(), Some(vec![1, 2])).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
}
