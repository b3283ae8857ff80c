//! Forged files: headers and records written here byte by byte (independently of the
//! encoder, which refuses these values) with correct CRCs, so that each check the
//! decoder makes after the CRC is the one that must fire. One case per limit, each
//! expecting its own error and field; then the same limits refused by the encoder's
//! options.

mod common;

use bbcodec::container::v2::SEED_MASK;
use bbcodec::model::{LogisticConfig, MixtureConfig};
use bbcodec::wire::put_varint;
use bbcodec::{
    decompress, DecodeOptions, EncodeOptions, Error, Estimator, Field, FormatError, ModelConfig,
    PosteriorKind,
};
use common::V1Header;

/// A section: varint `id << 3 | len` (or `| 7` and a varint length), then the payload.
fn section(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if payload.len() <= 6 {
        put_varint(&mut out, id << 3 | payload.len() as u64);
    } else {
        put_varint(&mut out, id << 3 | 7);
        put_varint(&mut out, payload.len() as u64);
    }
    out.extend_from_slice(payload);
    out
}

fn varints(vs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in vs {
        put_varint(&mut out, v);
    }
    out
}

/// A version 2 header of these sections, with its CRC.
fn header(sections: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = sections.concat();
    let mut out = b"BBC\x02".to_vec();
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The model section of the default mixture.
fn mixture() -> Vec<u8> {
    section(2, &varints(&[0]))
}

/// A posterior section: kind, [estimator], iterations, samples, learning rate, seed.
fn posterior(kind: u64, estimator: Option<u64>, iters: u64, samples: u64, lr: f32) -> Vec<u8> {
    let mut p = varints(&[kind]);
    if let Some(e) = estimator {
        put_varint(&mut p, e);
    }
    put_varint(&mut p, iters);
    put_varint(&mut p, samples);
    p.extend_from_slice(&lr.to_bits().to_le_bytes());
    put_varint(&mut p, 0x6262_636f_6465_6331 ^ SEED_MASK);
    section(4, &p)
}

/// A file whose header is `h`, followed by an empty member's end.
fn empty_member(h: Vec<u8>) -> Vec<u8> {
    let mut f = h;
    f.push(0);
    f
}

fn decode_err(file: &[u8]) -> FormatError {
    match decompress(file, &DecodeOptions::default()) {
        Err(Error::Format(e)) => e,
        Err(e) => panic!("expected a format error, got {e}"),
        Ok(_) => panic!("a forged file decoded"),
    }
}

fn limit(field: Field, got: u64, max: u64) -> FormatError {
    FormatError::Limit { field, got, max }
}

fn invalid(field: Field, got: u64) -> FormatError {
    FormatError::Invalid { field, got }
}

#[test]
fn the_forged_baseline_decodes() {
    // The helpers write a valid file: every failure below is the one forged field.
    let (back, _) = decompress(
        &empty_member(header(&[mixture()])),
        &DecodeOptions::default(),
    )
    .expect("a valid empty member");
    assert!(back.is_empty());
    let f = empty_member(header(&[
        mixture(),
        posterior(0, Some(0), 64, 64, 0.7),
        section(6, &varints(&[64])),
        section(8, &varints(&[0])),
        section(10, &varints(&[1 << 20])),
    ]));
    decompress(&f, &DecodeOptions::default()).expect("every section at a valid value");
}

#[test]
fn header_structure_limits() {
    // Header length above 1024 (the bytes need not be there: the limit comes first).
    let mut h = b"BBC\x02".to_vec();
    put_varint(&mut h, 1025);
    assert_eq!(decode_err(&h), limit(Field::HeaderLength, 1025, 1024));
    assert_eq!(
        decode_err(&empty_member(header(&[]))),
        FormatError::MissingSection(Field::ModelKind)
    );
    assert_eq!(
        decode_err(&empty_member(header(&[
            section(6, &varints(&[64])),
            mixture()
        ]))),
        FormatError::SectionOrder { got: 2, after: 6 }
    );
    assert_eq!(
        decode_err(&empty_member(header(&[mixture(), mixture()]))),
        FormatError::SectionOrder { got: 2, after: 2 }
    );
    assert_eq!(
        decode_err(&empty_member(header(&[mixture(), section(12, b"")]))),
        FormatError::UnknownSection(12)
    );
    // An odd id is skipped.
    decompress(
        &empty_member(header(&[mixture(), section(11, b"later")])),
        &DecodeOptions::default(),
    )
    .expect("an odd section is skipped");
    // The long length form for a length that fits the short one.
    let mut long = varints(&[2 << 3 | 7, 1]);
    long.push(0);
    assert_eq!(
        decode_err(&empty_member(header(&[long]))),
        invalid(Field::Section, 1)
    );
    // A non-minimal varint.
    assert_eq!(
        decode_err(&empty_member(header(&[vec![2 << 3 | 2, 0x80, 0x00]]))),
        invalid(Field::ModelKind, 0)
    );
    // A wrong version.
    let mut v = empty_member(header(&[mixture()]));
    v[3] = 3;
    assert_eq!(decode_err(&v), FormatError::Version { got: 3 });
}

#[test]
fn model_section_limits() {
    let m = |vs: &[u64]| empty_member(header(&[section(2, &varints(vs))]));
    assert_eq!(decode_err(&m(&[4])), invalid(Field::ModelKind, 4));
    let mc = Field::ModelOption("max-components");
    assert_eq!(decode_err(&m(&[0, 0, 0])), invalid(mc, 0));
    assert_eq!(decode_err(&m(&[0, 65, 0])), limit(mc, 65, 64));
    assert_eq!(
        decode_err(&m(&[0, 32, 65])),
        limit(Field::ModelOption("components"), 65, 64)
    );
    assert_eq!(
        decode_err(&m(&[0, 32, 0, 1])),
        invalid(Field::ModelConfig, 1)
    );
    let ld = Field::ModelOption("latent-dim");
    let bb = Field::ModelOption("bin-bits");
    assert_eq!(decode_err(&m(&[1, 0, 10])), invalid(ld, 0));
    assert_eq!(decode_err(&m(&[1, 33, 10])), limit(ld, 33, 32));
    assert_eq!(decode_err(&m(&[1, 4, 1])), invalid(bb, 1));
    assert_eq!(decode_err(&m(&[1, 4, 17])), limit(bb, 17, 16));
    // The context-mixing model: latent dimension 0..=2, level 1..=9, table bits 0 (the
    // level's) or 10..=24.
    assert_eq!(decode_err(&m(&[3, 3, 10, 6, 0])), limit(ld, 3, 2));
    assert_eq!(decode_err(&m(&[3, 2, 1, 6, 0])), invalid(bb, 1));
    let lv = Field::ModelOption("level");
    assert_eq!(decode_err(&m(&[3, 2, 10, 0, 0])), invalid(lv, 0));
    assert_eq!(decode_err(&m(&[3, 2, 10, 10, 0])), limit(lv, 10, 9));
    let tb = Field::ModelOption("table-bits");
    assert_eq!(decode_err(&m(&[3, 2, 10, 6, 9])), invalid(tb, 9));
    assert_eq!(decode_err(&m(&[3, 2, 10, 6, 25])), limit(tb, 25, 24));
    // The predictor's revision: absent (revision 0), or 1..=CM_REVISION; then nothing.
    let rv = Field::ModelOption("revision");
    assert_eq!(decode_err(&m(&[3, 2, 10, 6, 22, 0])), invalid(rv, 0));
    let later = bbcodec::model::cm::CM_REVISION as u64 + 1;
    assert_eq!(
        decode_err(&m(&[3, 2, 10, 6, 22, later])),
        limit(rv, later, later - 1)
    );
    assert_eq!(
        decode_err(&m(&[3, 2, 10, 6, 22, 1, 0])),
        invalid(Field::ModelConfig, 1)
    );
}

#[test]
fn posterior_section_limits() {
    let p = |kind, est, iters, samples, lr| {
        empty_member(header(&[
            mixture(),
            posterior(kind, est, iters, samples, lr),
        ]))
    };
    assert_eq!(
        decode_err(&p(5, None, 64, 64, 0.7)),
        invalid(Field::Posterior, 5)
    );
    // Importance weighting, independent (3) and coupled (4): its particles, 1..=256,
    // where a BBVI section has its estimator; and only for continuous latents.
    for (kind, name) in [(3, "iw"), (4, "cis")] {
        assert_eq!(
            decode_err(&p(kind, Some(0), 64, 64, 0.7)),
            invalid(Field::Particles, 0)
        );
        assert_eq!(
            decode_err(&p(kind, Some(257), 64, 64, 0.7)),
            limit(Field::Particles, 257, 256)
        );
        assert!(matches!(
            decode_err(&p(kind, Some(4), 64, 64, 0.7)),
            FormatError::Posterior {
                model: "mixture",
                posterior,
                ..
            } if posterior == name
        ));
    }
    assert_eq!(
        decode_err(&p(0, Some(5), 64, 64, 0.7)),
        invalid(Field::Estimator, 5)
    );
    assert_eq!(
        decode_err(&p(0, Some(0), 4097, 2, 0.7)),
        limit(Field::Iterations, 4097, 4096)
    );
    assert_eq!(
        decode_err(&p(0, Some(0), 64, 257, 0.7)),
        limit(Field::Samples, 257, 256)
    );
    for lr in [0.0f32, -1.0, 100.5, f32::NAN, f32::INFINITY] {
        assert_eq!(
            decode_err(&p(1, None, 64, 64, lr)),
            invalid(Field::LearningRate, lr.to_bits() as u64),
            "{lr}"
        );
    }
    assert_eq!(
        decode_err(&p(0, Some(0), 64, 1, 0.7)),
        FormatError::TooSmall {
            field: Field::Samples,
            got: 1,
            min: 2
        }
    );
    // 4096 x 8 / 64 = 512 draws per symbol, above 256.
    assert_eq!(
        decode_err(&p(0, Some(0), 4096, 8, 0.7)),
        limit(Field::FitWork, 512, 256)
    );
    assert!(matches!(
        decode_err(&p(0, Some(3), 64, 64, 0.7)),
        FormatError::Posterior {
            model: "mixture",
            posterior: "bbvi/reparam",
            ..
        }
    ));
    // The logistic model: exact is not one of its posteriors.
    let f = empty_member(header(&[
        section(2, &varints(&[1])),
        posterior(1, None, 64, 4, 0.1),
    ]));
    assert!(matches!(
        decode_err(&f),
        FormatError::Posterior {
            model: "logistic",
            posterior: "exact",
            ..
        }
    ));
}

#[test]
fn block_and_level_limits() {
    let b = |v: u64| empty_member(header(&[mixture(), section(6, &varints(&[v]))]));
    assert_eq!(decode_err(&b(0)), invalid(Field::BlockSize, 0));
    assert_eq!(
        decode_err(&b((1 << 20) + 1)),
        limit(Field::BlockSize, (1 << 20) + 1, 1 << 20)
    );
    let f = empty_member(header(&[mixture(), section(8, &varints(&[1]))]));
    assert_eq!(decode_err(&f), limit(Field::Level, 1, 0));
    let c = |v: u64| empty_member(header(&[mixture(), section(10, &varints(&[v]))]));
    assert_eq!(decode_err(&c(0)), invalid(Field::ChunkSize, 0));
    assert_eq!(
        decode_err(&c((1 << 26) + 1)),
        limit(Field::ChunkSize, (1 << 26) + 1, 1 << 26)
    );
    // A chunk smaller than a block (64 symbols).
    assert_eq!(
        decode_err(&c(32)),
        FormatError::TooSmall {
            field: Field::ChunkSize,
            got: 32,
            min: 64
        }
    );
    // The mnist model codes whole images: a block of 100 pixels is refused (its model
    // section is the weights' hash and the bin bits).
    let mut mnist = varints(&[2]);
    mnist.extend_from_slice(&0xea1a_9857_7aac_ab75u64.to_le_bytes());
    put_varint(&mut mnist, 10);
    let f = empty_member(header(&[section(2, &mnist), section(6, &varints(&[100]))]));
    assert_eq!(decode_err(&f), invalid(Field::BlockSize, 100));
}

/// A record head, CRC and the rest, after a default mixture header.
fn member(records: &[u8]) -> Vec<u8> {
    let mut f = header(&[mixture()]);
    f.extend_from_slice(records);
    f
}

#[test]
fn record_limits() {
    // Longer than the chunk size (the mixture's format default, 256 KiB: a record can
    // never make the decoder hold more than the header declares).
    let mut r = varints(&[((1u64 << 18) + 1) << 2 | 3]);
    r.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode_err(&member(&r)),
        limit(Field::ChunkLength, (1 << 18) + 1, 1 << 18)
    );
    // A record head of length 0 (other than the empty member's single 0).
    assert_eq!(decode_err(&member(&[2])), invalid(Field::ChunkRecord, 2));
    // A coded chunk of 100 bytes: parameters above 2^16.
    let coded = |rest: &[u64]| {
        let mut r = varints(&[100 << 2 | 2]);
        r.extend_from_slice(&[0; 4]);
        r.extend_from_slice(&varints(rest));
        member(&r)
    };
    assert_eq!(
        decode_err(&coded(&[(1 << 16) + 1])),
        limit(Field::Parameters, (1 << 16) + 1, 1 << 16)
    );
    // No parameters; then a segment of 0 words with "another segment follows": its
    // block count must leave at least one of the 2 blocks to the next.
    let sb = Field::SegmentBlocks;
    assert_eq!(decode_err(&coded(&[0, 0b010, 2])), limit(sb, 2, 1));
    assert_eq!(decode_err(&coded(&[0, 0b010, 0])), invalid(sb, 0));
    // A segment's chunk-start blocks are among its own.
    assert_eq!(
        decode_err(&coded(&[0, 0b011, 2, 1])),
        limit(Field::BootstrapBlocks, 2, 1)
    );
    // Two well-formed segments: the mixture codes one stack per chunk.
    assert_eq!(
        decode_err(&coded(&[0, 0b010, 1, 0])),
        limit(Field::Segment, 2, 1)
    );
    // 100 bytes in 64-byte blocks are 2 blocks: 3 chunk-start blocks is too many.
    assert_eq!(
        decode_err(&coded(&[0, 0b001, 3])),
        limit(Field::BootstrapBlocks, 3, 2)
    );
    // A chunk-start count of 1 written out (it must be the flag's default).
    assert_eq!(
        decode_err(&coded(&[0, 0b001, 1])),
        invalid(Field::BootstrapBlocks, 1)
    );
    // Words: at most (100 + 2^16 + 8) / 4 = 16411.
    assert_eq!(
        decode_err(&coded(&[0, 16412 << 2])),
        limit(Field::Words, 16412, 16411)
    );
}

#[test]
fn checksum_and_end_checks() {
    let raw = |data: &[u8], crc: u32, last: bool| {
        let mut r = varints(&[(data.len() as u64) << 2 | 1 | if last { 2 } else { 0 }]);
        r.extend_from_slice(&crc.to_le_bytes());
        r.extend_from_slice(data);
        r
    };
    let good = crc32fast::hash(b"abc");
    // One raw chunk: its CRC is the content's.
    let (back, _) = decompress(&member(&raw(b"abc", good, true)), &DecodeOptions::default())
        .expect("a valid one-chunk member");
    assert_eq!(back, b"abc");
    assert!(matches!(
        decode_err(&member(&raw(b"abc", good ^ 1, true))),
        FormatError::Checksum {
            field: Field::Chunk,
            ..
        }
    ));
    // Two chunks: the end carries the total length and the content CRC.
    let two = |total: u64, crc: u32| {
        let mut r = raw(b"abc", good, false);
        r.extend_from_slice(&raw(b"de", crc32fast::hash(b"de"), true));
        r.extend_from_slice(&varints(&[total]));
        r.extend_from_slice(&crc.to_le_bytes());
        member(&r)
    };
    let content = crc32fast::hash(b"abcde");
    let (back, _) = decompress(&two(5, content), &DecodeOptions::default()).unwrap();
    assert_eq!(back, b"abcde");
    assert_eq!(decode_err(&two(6, content)), invalid(Field::EndRecord, 6));
    assert!(matches!(
        decode_err(&two(5, content ^ 1)),
        FormatError::Checksum {
            field: Field::Content,
            ..
        }
    ));
    let mut f = two(5, content);
    f.push(0);
    assert_eq!(decode_err(&f), FormatError::TrailingData);
    assert!(matches!(
        decode_err(&member(&raw(b"abc", good, false))),
        FormatError::Truncated(_)
    ));
}

/// The limits a decoder enforces are the ones the encoder's options are refused with.
#[test]
fn the_encoder_refuses_the_same_limits() {
    let refused = |o: EncodeOptions| o.validate().expect_err("options accepted");
    let base = || EncodeOptions::for_model(bbcodec::ModelKind::Mixture);
    let with = |f: &dyn Fn(&mut EncodeOptions)| {
        let mut o = base();
        f(&mut o);
        refused(o)
    };
    assert_eq!(with(&|o| o.block_size = 0), invalid(Field::BlockSize, 0));
    assert_eq!(
        with(&|o| o.block_size = (1 << 20) + 1),
        limit(Field::BlockSize, (1 << 20) + 1, 1 << 20)
    );
    assert_eq!(
        with(&|o| o.chunk_size = (1 << 26) + 1),
        limit(Field::ChunkSize, (1 << 26) + 1, 1 << 26)
    );
    assert_eq!(
        with(&|o| o.fit.iterations = 4097),
        limit(Field::Iterations, 4097, 4096)
    );
    assert_eq!(
        with(&|o| o.fit.samples = 257),
        limit(Field::Samples, 257, 256)
    );
    assert_eq!(
        with(&|o| o.fit.learning_rate = 0.0),
        invalid(Field::LearningRate, 0)
    );
    let bbvi = PosteriorKind::Bbvi(Estimator::ScoreFunction);
    assert_eq!(
        with(&|o| {
            o.fit.posterior = bbvi;
            o.fit.samples = 1;
        }),
        FormatError::TooSmall {
            field: Field::Samples,
            got: 1,
            min: 2
        }
    );
    assert_eq!(
        with(&|o| {
            o.fit.posterior = bbvi;
            o.fit.iterations = 4096;
            o.fit.samples = 8;
        }),
        limit(Field::FitWork, 512, 256)
    );
    assert_eq!(
        with(&|o| o.model = ModelConfig::Mixture(MixtureConfig {
            max_components: 65,
            fixed_components: None
        })),
        limit(Field::ModelOption("max-components"), 65, 64)
    );
    assert_eq!(
        with(&|o| o.model = ModelConfig::Logistic(LogisticConfig {
            latent_dim: 33,
            bin_bits: 10
        })),
        limit(Field::ModelOption("latent-dim"), 33, 32)
    );
    assert_eq!(
        with(&|o| o.model = ModelConfig::Logistic(LogisticConfig {
            latent_dim: 4,
            bin_bits: 17
        })),
        limit(Field::ModelOption("bin-bits"), 17, 16)
    );
    assert!(matches!(
        with(&|o| o.fit.posterior = PosteriorKind::Bbvi(Estimator::Reparameterization)),
        FormatError::Posterior {
            model: "mixture",
            ..
        }
    ));
}

/// A version 1 mixture header with these fields.
fn v1_header(block: u32, chunk: u32, iters: u32, fields: [u8; 4]) -> Vec<u8> {
    V1Header {
        block,
        chunk,
        iters,
        fields,
        ..V1Header::default()
    }
    .bytes()
}

#[test]
fn version_1_headers_are_checked_after_their_crc() {
    let end = |mut h: Vec<u8>| {
        h.push(0xFF);
        h.extend_from_slice(&[0; 12]);
        h
    };
    let (back, _) = decompress(
        &end(v1_header(64, 1 << 18, 64, [32, 0, 0, 0])),
        &DecodeOptions::default(),
    )
    .expect("a valid version 1 empty file");
    assert!(back.is_empty());
    assert_eq!(
        decode_err(&end(v1_header(0, 1 << 18, 64, [32, 0, 0, 0]))),
        invalid(Field::BlockSize, 0)
    );
    assert_eq!(
        decode_err(&end(v1_header(64, 32, 64, [32, 0, 0, 0]))),
        FormatError::TooSmall {
            field: Field::ChunkSize,
            got: 32,
            min: 64
        }
    );
    assert_eq!(
        decode_err(&end(v1_header(64, 1 << 18, 5000, [32, 0, 0, 0]))),
        limit(Field::Iterations, 5000, 4096)
    );
    assert_eq!(
        decode_err(&end(v1_header(64, 1 << 18, 64, [65, 0, 0, 0]))),
        limit(Field::ModelOption("max-components"), 65, 64)
    );
    assert_eq!(
        decode_err(&end(v1_header(64, 1 << 18, 64, [32, 0, 4, 0]))),
        invalid(Field::ModelConfig, 4 << 8)
    );
}
