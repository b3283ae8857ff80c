//! Replays every input in `testdata/fuzz-regressions/` (crashes found by the fuzz
//! targets in `fuzz/`, and a sample of their corpora) through the decoder: each must
//! return a value or a clean error, never panic.

mod common;

use bbcodec::{decompress, DecodeOptions, EncodeOptions};
use common::V1Header;

/// The valid header that `fuzz/fuzz_targets/decode_with_header.rs` puts in front.
fn fuzz_header() -> Vec<u8> {
    let mut opts = EncodeOptions {
        block_size: 16,
        chunk_size: 256,
        threads: 1,
        ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture)
    };
    opts.fit.iterations = 16;
    opts.fit.samples = 4;
    opts.header_bytes().unwrap()
}

/// The valid header that `fuzz/fuzz_targets/decode_mnist.rs` puts in front.
fn mnist_fuzz_header() -> Vec<u8> {
    let mut opts = EncodeOptions::for_model(bbcodec::ModelKind::Mnist);
    opts.chunk_size = 784;
    opts.threads = 1;
    opts.fit.iterations = 2;
    opts.header_bytes().unwrap()
}

/// The valid header that `fuzz/fuzz_targets/decode_cm.rs` (level 1) or
/// `decode_cm6.rs` (level 6) puts in front.
fn cm_fuzz_header(level: u8) -> Vec<u8> {
    let model = bbcodec::ModelConfig::Cm(bbcodec::model::CmConfig {
        level,
        table_bits: 12,
        ..Default::default()
    });
    let mut opts = EncodeOptions::with_model(model);
    opts.block_size = 64;
    opts.chunk_size = 4096;
    opts.threads = 1;
    opts.fit.iterations = 2;
    opts.header_bytes().unwrap()
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
        let body = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Bodies of the header targets replay behind their version 1 header (as found)
        // and behind today's version 2 header.
        let headers = if name.starts_with("decode_with_header-") {
            vec![
                // As found: version 1 headers of the targets' options of the time.
                V1Header {
                    block: 16,
                    chunk: 256,
                    iters: 16,
                    samples: 4,
                    ..V1Header::default()
                }
                .bytes(),
                fuzz_header(),
            ]
        } else if name.starts_with("decode_cm-") || name.starts_with("decode_cm6-") {
            // Either target's bodies behind both headers.
            vec![cm_fuzz_header(1), cm_fuzz_header(6)]
        } else if name.starts_with("decode_mnist-") {
            vec![
                V1Header {
                    model: 2,
                    posterior: 0,
                    estimator: 3,
                    block: 784,
                    chunk: 784,
                    iters: 2,
                    samples: 1,
                    lr: 0.05,
                    fields: [0, 0, 16, 10],
                }
                .bytes(),
                mnist_fuzz_header(),
            ]
        } else {
            vec![Vec::new()]
        };
        for h in headers {
            let mut bytes = h;
            bytes.extend_from_slice(&body);
            let opts = DecodeOptions {
                threads: 1,
                keep_blocks: false,
                ..Default::default()
            };
            let result =
                std::panic::catch_unwind(|| decompress(&bytes, &opts).map(|(d, _)| d.len()));
            assert!(result.is_ok(), "{} panics", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found in {}", dir.display());
}
