//! Golden files. `testdata/golden/v1/` freezes format version 1: those files are
//! decode-only and must decode exactly, forever (`v1/older-encoders/a` and `b` hold
//! version 1 files of two earlier parameter searches). `testdata/golden/v2/` freezes
//! format version 2: each file must decode to its input, and encoding the input with
//! the options below must reproduce it byte for byte. Regenerate v2 (when the encoder's
//! search changes what it writes; keep the previous files as decode-only goldens then)
//! with `cargo test --test golden -- --ignored regenerate`. `v2/older-encoders/cm-r0`
//! to `cm-r4` keep the cm files of the predictor's revisions 0 to 4, decode-only.

use std::path::PathBuf;

use bbcodec::container::{MemberReader, Record};
use bbcodec::model::{LogisticConfig, MnistConfig};
use bbcodec::{
    compress, decompress, DecodeOptions, EncodeOptions, Estimator, ModelConfig, ModelKind,
    PosteriorKind,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn logistic(p: PosteriorKind) -> EncodeOptions {
    let mut o = EncodeOptions::with_model(ModelConfig::Logistic(LogisticConfig {
        latent_dim: 2,
        bin_bits: 8,
    }));
    o.block_size = 256;
    o.fit.posterior = p;
    // The chunk size of the time the version 1 goldens were written.
    o.chunk_size = 1 << 20;
    o
}

/// The mnist model with the built-in weights (whose hash the file records), two images
/// per chunk, the fit pinned.
fn mnist() -> EncodeOptions {
    let mut o = EncodeOptions::with_model(ModelConfig::Mnist(MnistConfig {
        weights: None,
        bin_bits: 10,
    }));
    o.chunk_size = 2 * 784;
    o.fit.iterations = 32;
    o.fit.samples = 1;
    o.fit.learning_rate = 0.05;
    o
}

/// (golden file, input file, options): the same cases in `v1/` and `v2/`.
fn cases() -> Vec<(&'static str, &'static str, EncodeOptions)> {
    let with = |p: PosteriorKind, block: u32, chunk: u32| {
        let mut o = EncodeOptions {
            block_size: block,
            chunk_size: chunk,
            ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture)
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
        // Written from version 2 on:
        (
            "text4k.gumbel.bbc",
            "text4k.txt",
            with(PosteriorKind::Bbvi(Estimator::GumbelSoftmax), 64, 1 << 20),
        ),
        ("mnist4.map.bbc", "mnist4.idx", {
            let mut o = mnist();
            o.fit.posterior = PosteriorKind::Map;
            o
        }),
        // Importance-weighted bits-back (posterior kind 3): the logistic model with 4
        // particles, and the image model with 3 (its three bits-back images ramp to
        // 1, 2 and 3).
        (
            "text4k.logistic-iw4.bbc",
            "text4k.txt",
            logistic(PosteriorKind::ImportanceWeighted(4)),
        ),
        ("mnist4.iw3.bbc", "mnist4.idx", {
            let mut o = mnist();
            o.fit.posterior = PosteriorKind::ImportanceWeighted(3);
            o
        }),
        // Default options on one chunk of 1094 blocks: the mixture's parameter search
        // runs on a subsample of 1024 blocks.
        (
            "alice70k.default.bbc",
            "alice70k.txt",
            bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
        ),
        // The context-mixing model (kind 3): 1 KiB blocks with their latents coded
        // bits-back, MAP two-part, and none; then the default options.
        (
            "text4k.cm.bbc",
            "text4k.txt",
            cm(PosteriorKind::Bbvi(Estimator::Reparameterization), 2),
        ),
        (
            "kppkn3k.cm-map.bbc",
            "kppkn3k.bin",
            cm(PosteriorKind::Map, 2),
        ),
        (
            "kppkn3k.cm-none.bbc",
            "kppkn3k.bin",
            cm(PosteriorKind::Bbvi(Estimator::Reparameterization), 0),
        ),
        (
            "alice70k.cm.bbc",
            "alice70k.txt",
            bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Cm),
        ),
        ("text4k.cm-level1.bbc", "text4k.txt", {
            let mut o = cm(PosteriorKind::Bbvi(Estimator::Reparameterization), 2);
            if let ModelConfig::Cm(c) = &mut o.model {
                c.level = 1;
            }
            o
        }),
        // Importance-weighted bits-back of the block latent, 4 particles on 256-byte
        // blocks (4 of its 11 bits-back blocks use the latent, with 1 to 4 particles).
        ("kppkn3k.cm-iw4.bbc", "kppkn3k.bin", {
            let mut o = cm(PosteriorKind::ImportanceWeighted(4), 2);
            o.block_size = 256;
            o
        }),
        // Coupled particles (posterior kind 4), on the block latent and on the
        // logistic model.
        ("kppkn3k.cm-cis4.bbc", "kppkn3k.bin", {
            let mut o = cm(PosteriorKind::CoupledImportanceWeighted(4), 2);
            o.block_size = 256;
            o
        }),
        (
            "text4k.logistic-cis4.bbc",
            "text4k.txt",
            logistic(PosteriorKind::CoupledImportanceWeighted(4)),
        ),
        // The start of a baseline JPEG image: its scan's bits coded with the JPEG
        // model's contexts.
        (
            "jpeg1500.cm.bbc",
            "jpeg1500.bin",
            cm(PosteriorKind::Bbvi(Estimator::Reparameterization), 2),
        ),
        // Level 1 on a larger start of the image: its tables have 2^18 slots each, of
        // which the JPEG contexts keep to 2^16 (from revision 4).
        ("jpeg12k.cm-level1.bbc", "jpeg12k.bin", {
            let mut o = cm(PosteriorKind::Bbvi(Estimator::Reparameterization), 2);
            if let ModelConfig::Cm(c) = &mut o.model {
                c.level = 1;
            }
            o
        }),
    ]
}

/// The context-mixing model on 1 KiB blocks, the fit pinned.
fn cm(p: PosteriorKind, latent_dim: u8) -> EncodeOptions {
    let mut o = EncodeOptions::with_model(ModelConfig::Cm(bbcodec::model::CmConfig {
        latent_dim,
        ..Default::default()
    }));
    o.block_size = 1024;
    o.fit.posterior = p;
    o.fit.iterations = 8;
    o.fit.samples = 1;
    o.fit.learning_rate = 0.05;
    o
}

/// The cases that exist in version 1.
const V1_CASES: usize = 9;

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn v1_goldens_decode_exactly() {
    let mut seen = Vec::new();
    for sub in ["v1", "v1/older-encoders/a", "v1/older-encoders/b"] {
        for (golden, input, _) in cases() {
            let path = dir().join(sub).join(golden);
            if !path.exists() {
                continue;
            }
            let file = read(path);
            assert_eq!(&file[..5], b"BBCd\x01", "{sub}/{golden} is not version 1");
            let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
            assert!(
                back == read(dir().join(input)),
                "{sub}/{golden}: decodes to different bytes"
            );
            seen.push(format!("{sub}/{golden}"));
        }
    }
    assert_eq!(seen.len(), V1_CASES + 3, "v1 goldens found: {seen:?}");
}

/// Version 2 files of the cm model's earlier predictor revisions, decode-only: they
/// must decode exactly, forever, with the predictor they were written with. `cm-r0`
/// holds revision 0 (before the JPEG model, written before the revision was stored),
/// `cm-r1` revision 1 (level 1 with orders 1-4, 6 and the word), `cm-r2` revision 2
/// (level 1 with orders 1, 3 and 6), `cm-r3` revision 3 (level 1's JPEG contexts
/// anywhere in its tables), `cm-r4` revision 4 (levels 6 to 9 without the runs and the
/// word contexts 14 and 15).
#[test]
fn older_cm_revisions_decode_exactly() {
    for (revision, expected) in [
        ("cm-r0", 5),
        ("cm-r1", 6),
        ("cm-r2", 8),
        ("cm-r3", 9),
        ("cm-r4", 9),
    ] {
        let mut seen = 0;
        for (golden, input, _) in cases() {
            let path = dir().join("v2/older-encoders").join(revision).join(golden);
            if !path.exists() {
                continue;
            }
            let file = read(path);
            let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
            assert!(
                back == read(dir().join(input)),
                "{revision}/{golden}: decodes to different bytes"
            );
            // Today's encoder writes a later revision: other bytes.
            assert!(
                file != read(dir().join("v2").join(golden)),
                "{revision}/{golden}"
            );
            seen += 1;
        }
        assert_eq!(seen, expected, "{revision}");
    }
}

#[test]
fn v2_goldens_decode_and_reencode_exactly() {
    for (golden, input, opts) in cases() {
        let file = read(dir().join("v2").join(golden));
        let data = read(dir().join(input));
        let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
        assert!(back == data, "v2/{golden}: decodes to different bytes");
        let (again, _) = compress(&data, &opts).unwrap();
        assert!(again == file, "v2/{golden}: encoder output changed");
    }
}

/// The records of a member, and its size outside model parameters and ANS words.
fn records(file: &[u8]) -> (Vec<Record>, usize) {
    let mut input = file;
    let mut reader = MemberReader::new(&mut input, &[]).unwrap();
    let mut out = Vec::new();
    let mut payload = 0;
    while let Some(r) = reader.next_record().unwrap() {
        payload += match &r {
            Record::Coded {
                params, segments, ..
            } => params.len() + segments.iter().map(|s| 4 * s.words.len()).sum::<usize>(),
            Record::Raw { data, .. } => data.len(),
        };
        out.push(r);
    }
    (out, file.len() - payload)
}

/// Version 2 changes the container only: every chunk's parameters, chunk-start count
/// and ANS words are those of version 1 (the mnist model's weights hash moved from each
/// chunk into the header, which the version 1 reader accounts for).
#[test]
fn v2_payload_is_the_v1_payload() {
    for (golden, _, _) in cases().into_iter().take(V1_CASES) {
        let (r1, c1) = records(&read(dir().join("v1").join(golden)));
        let (r2, c2) = records(&read(dir().join("v2").join(golden)));
        assert!(r1 == r2, "{golden}: the records differ between v1 and v2");
        assert!(c2 < c1, "{golden}: container {c2} bytes in v2, {c1} in v1");
        eprintln!("{golden}: container {c1} -> {c2} bytes");
    }
}

#[test]
fn golden_raw_sample_is_stored_raw() {
    let file = read(dir().join("v2/jpeg1500.raw.bbc"));
    let (_, r) = decompress(&file, &DecodeOptions::default()).unwrap();
    assert_eq!(r.raw_chunks, 1);
}

#[test]
fn model_kinds_keep_their_codes() {
    // Stored in every file: never renumbered.
    let codes: Vec<(&str, u64)> = ModelKind::ALL
        .iter()
        .map(|k| (k.name(), k.code()))
        .collect();
    assert_eq!(
        codes,
        [("mixture", 0), ("logistic", 1), ("mnist", 2), ("cm", 3)]
    );
}

#[test]
#[ignore]
fn regenerate() {
    for (golden, input, opts) in cases() {
        let data = std::fs::read(dir().join(input)).unwrap();
        let (file, _) = compress(&data, &opts).unwrap();
        std::fs::write(dir().join("v2").join(golden), file).unwrap();
    }
}
