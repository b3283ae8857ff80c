//! Replays every input in `testdata/fuzz-regressions/` (crashes found by the fuzz
//! targets in `fuzz/`, and a sample of their corpora) through the decoder: each must
//! return a value or a clean error, never panic.

use bbcodec::{decompress, DecodeOptions, EncodeOptions};

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

/// A version 1 header: the bodies found before version 2 replay behind the header
/// their target wrote then (layout in `bbcodec::container::v1`).
#[allow(clippy::too_many_arguments)]
fn v1_header(
    model: u8,
    posterior: [u8; 2],
    block: u32,
    chunk: u32,
    iters: u32,
    samples: u32,
    lr: f32,
    fields: [u8; 4],
) -> Vec<u8> {
    let mut b = b"BBCd\x01".to_vec();
    b.extend_from_slice(&[model, posterior[0], posterior[1]]);
    for v in [block, chunk, iters, samples, lr.to_bits()] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&fields);
    b.extend_from_slice(&0x6262_636f_6465_6331u64.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
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
                v1_header(0, [1, 0], 16, 256, 16, 4, 0.7, [32, 0, 0, 0]),
                fuzz_header(),
            ]
        } else if name.starts_with("decode_mnist-") {
            vec![
                v1_header(2, [0, 3], 784, 784, 2, 1, 0.05, [0, 0, 16, 10]),
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
