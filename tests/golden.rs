//! Golden files freeze format version 1: each `.bbc` in `testdata/golden` must decode to
//! its input, and encoding the input with the recorded options must reproduce it byte
//! for byte. Regenerate (with a new format version, or when the encoder's search changes
//! what it writes; then keep the previous file in `earlier/`, which must still decode) with
//! `cargo test --test golden -- --ignored regenerate`.

use std::path::PathBuf;

use bbcodec::{
    compress, decompress, DecodeOptions, EncodeOptions, Estimator, ModelKind, PosteriorKind,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn logistic(p: PosteriorKind) -> EncodeOptions {
    let mut o = EncodeOptions::for_model(ModelKind::Logistic);
    o.block_size = 256;
    o.latent_dim = 2;
    o.bin_bits = 8;
    o.fit.posterior = p;
    // The chunk size of the time the goldens were written (it is in the header).
    o.chunk_size = 1 << 20;
    o
}

/// The mnist model with the built-in weights (whose hash the file records), two images
/// per chunk, the fit pinned.
fn mnist() -> EncodeOptions {
    let mut o = EncodeOptions::for_model(ModelKind::Mnist);
    o.chunk_size = 2 * 784;
    o.fit.iterations = 32;
    o.fit.samples = 1;
    o.fit.learning_rate = 0.05;
    o.bin_bits = 10;
    o
}

/// (golden file, input file, options)
fn cases() -> Vec<(&'static str, &'static str, EncodeOptions)> {
    let with = |p: PosteriorKind, block: u32, chunk: u32| {
        let mut o = EncodeOptions {
            block_size: block,
            chunk_size: chunk,
            ..Default::default()
        };
        o.fit.posterior = p;
        // Pinned (the defaults of the time the goldens were written), so that a change
        // of defaults never changes what these files test.
        o.fit.iterations = 128;
        o.fit.samples = 16;
        o.fit.learning_rate = 0.3;
        o
    };
    vec![
        (
            "text4k.bbvi.bbc",
            "text4k.txt",
            with(PosteriorKind::Bbvi(Estimator::ScoreFunction), 64, 1 << 20),
        ),
        (
            "text4k.eq8.bbc",
            "text4k.txt",
            with(PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8), 64, 2048),
        ),
        (
            "text4k.naive.bbc",
            "text4k.txt",
            with(PosteriorKind::Bbvi(Estimator::Naive), 128, 1 << 20),
        ),
        (
            "kppkn3k.exact.bbc",
            "kppkn3k.bin",
            with(PosteriorKind::Exact, 32, 1 << 20),
        ),
        (
            "kppkn3k.map.bbc",
            "kppkn3k.bin",
            with(PosteriorKind::Map, 32, 1000),
        ),
        (
            "jpeg1500.raw.bbc",
            "jpeg1500.bin",
            with(PosteriorKind::Bbvi(Estimator::ScoreFunction), 64, 1 << 20),
        ),
        (
            "text4k.logistic.bbc",
            "text4k.txt",
            logistic(PosteriorKind::Bbvi(Estimator::Reparameterization)),
        ),
        (
            "kppkn3k.logistic-map.bbc",
            "kppkn3k.bin",
            logistic(PosteriorKind::Map),
        ),
        ("mnist4.bbc", "mnist4.idx", mnist()),
    ]
}

#[test]
fn golden_files_decode_and_reencode_exactly() {
    for (golden, input, opts) in cases() {
        let file = std::fs::read(dir().join(golden)).unwrap();
        let data = std::fs::read(dir().join(input)).unwrap();
        let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
        assert!(back == data, "{golden}: decodes to different bytes");
        let (again, _) = compress(&data, &opts).unwrap();
        assert!(again == file, "{golden}: encoder output changed");
    }
}

/// Files written by earlier encoders (same format version, different parameter search)
/// must keep decoding: `testdata/golden/earlier/GEN/NAME.bbc` holds an encoding of
/// `NAME`'s input from `cases()` by the encoder of generation `GEN` (1 = oldest).
#[test]
fn files_of_earlier_encoders_still_decode() {
    let mut seen = Vec::new();
    for generation in ["1", "2"] {
        for (golden, input, _) in cases() {
            let path = dir().join("earlier").join(generation).join(golden);
            if !path.exists() {
                continue;
            }
            let file = std::fs::read(path).unwrap();
            let data = std::fs::read(dir().join(input)).unwrap();
            let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
            assert!(
                back == data,
                "earlier/{generation}/{golden}: decodes to different bytes"
            );
            assert!(
                file != std::fs::read(dir().join(golden)).unwrap(),
                "earlier/{generation}/{golden} is the current encoding; it tests nothing new"
            );
            seen.push(format!("{generation}/{golden}"));
        }
    }
    assert_eq!(
        seen,
        [
            "1/kppkn3k.exact.bbc",
            "1/kppkn3k.map.bbc",
            "2/kppkn3k.exact.bbc"
        ],
        "earlier/ holds the files of the two earlier encoders"
    );
}

#[test]
fn golden_raw_sample_is_stored_raw() {
    let file = std::fs::read(dir().join("jpeg1500.raw.bbc")).unwrap();
    let (_, r) = decompress(&file, &DecodeOptions::default()).unwrap();
    assert_eq!(r.raw_chunks, 1);
}

#[test]
#[ignore]
fn regenerate() {
    for (golden, input, opts) in cases() {
        let data = std::fs::read(dir().join(input)).unwrap();
        let (file, _) = compress(&data, &opts).unwrap();
        std::fs::write(dir().join(golden), file).unwrap();
    }
}
