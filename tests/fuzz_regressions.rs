//! Replays every input in `testdata/fuzz-regressions/` (crashes found by the fuzz
//! targets in `fuzz/`, and a sample of their corpora) through the decoder: each must
//! return a value or a clean error, never panic.

use bbcodec::{decompress, DecodeOptions};

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
        let bytes = std::fs::read(&path).unwrap();
        let opts = DecodeOptions {
            threads: 1,
            keep_blocks: false,
        };
        let result = std::panic::catch_unwind(|| decompress(&bytes, &opts).map(|(d, _)| d.len()));
        assert!(result.is_ok(), "{} panics", path.display());
        n += 1;
    }
    assert!(n > 0, "no regression inputs found in {}", dir.display());
}
