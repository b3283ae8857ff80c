//! Round trips through the library: small named cases, corpus files, and sweeps over
//! block size, chunk size, component count and posterior.

mod common;

use bbcodec::{Estimator, PosteriorKind};
use common::*;

#[test]
fn empty_input() {
    let r = roundtrip(
        b"",
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
    assert_eq!(r.input_bytes, 0);
    assert_eq!(r.chunks, 0);
}

#[test]
fn one_byte() {
    let r = roundtrip(
        b"x",
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
    assert_eq!(r.chunks, 1);
}

#[test]
fn all_zeros() {
    let r = roundtrip(
        &vec![0u8; 100_000],
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
    // One symbol: every byte costs (nearly) nothing.
    assert!(r.compressed_bytes < 200, "{}", r.compressed_bytes);
}

#[test]
fn random_bytes_stay_within_0_2_percent() {
    let data = random_bytes(200_000, 1);
    let r = roundtrip(
        &data,
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
    assert!(
        (r.compressed_bytes as f64) <= data.len() as f64 * 1.002,
        "{} bytes for {} random bytes",
        r.compressed_bytes,
        data.len()
    );
}

#[test]
fn text_and_binary() {
    let text = "It was the best of times, it was the worst of times, it was the age of wisdom.\n"
        .repeat(300);
    roundtrip(
        text.as_bytes(),
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
    let binary: Vec<u8> = (0..60_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3F)
        .collect();
    roundtrip(
        &binary,
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    );
}

#[test]
fn every_corpus_file() {
    for (name, data) in corpus_files() {
        let r = roundtrip(
            &data,
            &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
        );
        eprintln!(
            "{name}: {} -> {} bytes ({:.4} bits/byte), order-0 {:.0} bytes",
            r.input_bytes,
            r.compressed_bytes,
            r.bits_per_byte,
            r.order0_bits / 8.0
        );
    }
}

#[test]
fn sweep_block_sizes_chunks_and_components() {
    let data = mixture_data(300, 64, 4, 7);
    for block in [1u32, 7, 64, 256, 4096] {
        for chunk in [block.max(1000), 1 << 20] {
            for k in [None, Some(1), Some(3), Some(8)] {
                let mut o = options(block, chunk, k);
                if block < 16 {
                    // Keep BBVI work per symbol within the format's limit.
                    o.fit.iterations = 8;
                    o.fit.samples = 2;
                }
                eprintln!("block {block} chunk {chunk} k {k:?}");
                roundtrip(&data, &o);
            }
        }
    }
}

#[test]
fn every_posterior_and_estimator() {
    let data = mixture_data(200, 64, 5, 3);
    for posterior in [
        PosteriorKind::Exact,
        PosteriorKind::Map,
        PosteriorKind::Bbvi(Estimator::ScoreFunction),
        PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
        PosteriorKind::Bbvi(Estimator::Naive),
    ] {
        let mut o = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture);
        o.fit.posterior = posterior;
        roundtrip(&data, &o);
    }
}

#[test]
fn short_last_block_and_chunk() {
    for n in [63usize, 64, 65, 4095, 4097] {
        let data = mixture_data(n.div_ceil(64), 64, 3, n as u64);
        roundtrip(&data[..n], &options(64, 4096, None));
    }
}

#[test]
fn seeded_sweep_of_small_inputs() {
    for seed in 0..24u64 {
        let n = (seed as usize * 977) % 5000;
        let mut data = mixture_data(n / 32 + 1, 32, 1 + (seed as usize % 4), seed);
        data.truncate(n);
        roundtrip(&data, &options(32, 2048, None));
    }
}

/// A user model that gives an occurring symbol probability 0 (here under every latent):
/// the encoder refuses it with an error naming the block, position, symbol and latent,
/// and never panics.
#[test]
fn symbol_impossible_under_a_latent_is_an_error() {
    use bbcodec::categorical::QuantizedCategorical;
    use bbcodec::model::DiscreteLatentModel;
    use bbcodec::{CodecError, DiscreteBitsBackCoder, FitConfig};

    struct Gap {
        prior: QuantizedCategorical,
        regimes: [QuantizedCategorical; 2],
        per_position: bool,
    }
    impl DiscreteLatentModel for Gap {
        fn num_latents(&self) -> usize {
            2
        }
        fn alphabet_size(&self) -> usize {
            4
        }
        fn prior(&self) -> &QuantizedCategorical {
            &self.prior
        }
        fn likelihood(&self, z: usize, _position: usize) -> &QuantizedCategorical {
            &self.regimes[z]
        }
        fn same_likelihood_at_every_position(&self) -> bool {
            !self.per_position
        }
    }
    for per_position in [false, true] {
        let model = Gap {
            prior: QuantizedCategorical::from_int_weights(&[1, 1_000_000]).unwrap(),
            // No latent can produce symbol 3.
            regimes: [
                QuantizedCategorical::from_int_weights(&[1, 2, 1, 0]).unwrap(),
                QuantizedCategorical::from_int_weights(&[1, 1, 2, 0]).unwrap(),
            ],
            per_position,
        };
        let x: Vec<u16> = vec![0, 1, 2, 0, 1, 2, 3, 0];
        let coder = DiscreteBitsBackCoder::new(&model, 4, FitConfig::default());
        match coder.encode(&x, 0) {
            Err(CodecError::ImpossibleSymbol {
                block,
                position,
                symbol,
                latent,
            }) => {
                assert_eq!((block, position, symbol), (1, 2, 3));
                assert!(latent < 2);
            }
            other => panic!("expected ImpossibleSymbol, got {:?}", other.map(|_| ())),
        }
    }
}
