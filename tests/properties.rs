//! Property tests: any bytes, any valid block/chunk/posterior choice, round trip exactly
//! with the stack accounted for; and decoding arbitrary bytes never panics.

use bbcodec::model::{LogisticConfig, MixtureConfig};
use bbcodec::{
    compress, decompress, DecodeOptions, EncodeOptions, Estimator, ModelConfig, ModelKind,
    PosteriorKind,
};
use proptest::prelude::*;

fn posterior(i: u8) -> PosteriorKind {
    match i % 5 {
        0 => PosteriorKind::Bbvi(Estimator::ScoreFunction),
        1 => PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
        2 => PosteriorKind::Bbvi(Estimator::GumbelSoftmax),
        3 => PosteriorKind::Exact,
        _ => PosteriorKind::Map,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mixture_roundtrips(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        skew in 0u8..4,
        block in 16u32..200,
        chunk_blocks in 1u32..40,
        p in any::<u8>(),
        k in prop::option::of(1u8..6),
    ) {
        // Skew the bytes so that mixtures have something to find.
        let data: Vec<u8> = data.iter().enumerate().map(|(i, &b)| if skew > 0 && (i / 50) % 2 == 0 { b >> (2 * skew) } else { b }).collect();
        let mut o = EncodeOptions {
            block_size: block,
            chunk_size: block * chunk_blocks,
            model: ModelConfig::Mixture(MixtureConfig { max_components: 32, fixed_components: k }),
            threads: 1,
            ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture)
        };
        o.fit.posterior = posterior(p);
        o.fit.iterations = 16;
        o.fit.samples = 8;
        let (file, r) = compress(&data, &o).unwrap();
        let (back, d) = decompress(&file, &DecodeOptions::default()).unwrap();
        prop_assert_eq!(&back, &data);
        prop_assert_eq!(r.net_bits, d.net_bits);
        prop_assert!((r.net_bits - r.coded_bits).abs() <= 2.0 * r.chunks as f64 + 1e-4 * data.len() as f64);
    }

    #[test]
    fn logistic_roundtrips(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        block in 32u32..300,
        d in 1u8..4,
        bits in 4u8..13,
    ) {
        let mut o = EncodeOptions::for_model(ModelKind::Logistic);
        o.block_size = block;
        o.chunk_size = block * 4;
        o.model = ModelConfig::Logistic(LogisticConfig { latent_dim: d, bin_bits: bits });
        o.fit.iterations = 8;
        o.threads = 1;
        let (file, _) = compress(&data, &o).unwrap();
        let (back, _) = decompress(&file, &DecodeOptions::default()).unwrap();
        prop_assert_eq!(back, data);
    }

    #[test]
    fn decoding_garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..600), prefix in any::<bool>()) {
        let mut file = Vec::new();
        if prefix {
            let h = EncodeOptions { block_size: 16, chunk_size: 64, ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture) }.header_bytes().unwrap();
            file.extend_from_slice(&h);
        }
        file.extend_from_slice(&data);
        let _ = decompress(&file, &DecodeOptions { threads: 1, ..Default::default() });
    }
}
