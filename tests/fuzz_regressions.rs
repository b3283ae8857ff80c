//! Replays every input in `testdata/fuzz-regressions/` (crashes found by the fuzz
//! targets in `fuzz/`, and a sample of their corpora) through the decoder: each must
//! return a value or a clean error, never panic.

use bbcodec::{compress, decompress, DecodeOptions, EncodeOptions};

/// The valid header that `fuzz/fuzz_targets/decode_with_header.rs` puts in front.
fn fuzz_header() -> Vec<u8> {
    let mut opts = EncodeOptions {
        block_size: 16,
        chunk_size: 256,
        threads: 1,
        ..Default::default()
    };
    opts.fit.iterations = 16;
    opts.fit.samples = 4;
    let (mut file, _) = compress(b"", &opts).unwrap();
    file.truncate(bbcodec::container::HEADER_BYTES);
    file
}

/// The valid header that `fuzz/fuzz_targets/decode_mnist.rs` puts in front.
fn mnist_fuzz_header() -> Vec<u8> {
    let mut opts = EncodeOptions::for_model(bbcodec::ModelKind::Mnist);
    opts.chunk_size = 784;
    opts.threads = 1;
    opts.fit.iterations = 2;
    let (mut file, _) = compress(&bbcodec::idx::IdxHeader::bytes_for(0), &opts).unwrap();
    file.truncate(bbcodec::container::HEADER_BYTES);
    file
}

#[test]
fn replay_fuzz_regressions() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("decode_with_header-") {
            let mut b = fuzz_header();
            b.extend_from_slice(&bytes);
            bytes = b;
        } else if name.starts_with("decode_mnist-") {
            let mut b = mnist_fuzz_header();
            b.extend_from_slice(&bytes);
            bytes = b;
        }
        let opts = DecodeOptions {
            threads: 1,
            keep_blocks: false,
            ..Default::default()
        };
        let result = std::panic::catch_unwind(|| decompress(&bytes, &opts).map(|(d, _)| d.len()));
        assert!(result.is_ok(), "{} panics", path.display());
        n += 1;
    }
    assert!(n > 0, "no regression inputs found in {}", dir.display());
}
