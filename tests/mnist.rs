//! The mnist image model: round trips, rate identities, inputs it must refuse, the
//! weights check, determinism of coding and training, and (with the corpus) the rate on
//! held-out test images.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use bbcodec::model::mnist::idx::{read_images, IdxHeader};
use bbcodec::model::mnist::train::{init_model, train, TrainConfig};
use bbcodec::model::mnist::{builtin_mnist_model, MnistDims, MnistModel, Workspace, PIXELS};
use bbcodec::model::ContinuousLatentModel;
use bbcodec::model::MnistConfig;
use bbcodec::{compress, decompress, DecodeOptions, EncodeOptions, ModelConfig, ModelKind};

fn sample() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/mnist4.idx"))
        .unwrap()
}

fn options(images_per_chunk: u32) -> EncodeOptions {
    let mut o = EncodeOptions::for_model(ModelKind::Mnist);
    o.chunk_size = images_per_chunk * PIXELS as u32;
    o
}

/// The chunk start is one image coded with its MAP latent: it pays the point-mass
/// latent's `d * b` bits against `-log P(x)`; twice that is a sanity bound.
fn initial_bound(o: &EncodeOptions) -> f64 {
    let ModelConfig::Mnist(c) = &o.model else {
        panic!("not the mnist model")
    };
    let m = c.model().unwrap();
    2.0 * (m.dims().latent as f64) * c.bin_bits as f64
}

#[test]
fn shipped_images_roundtrip_with_rate_identities() {
    let data = sample();
    let o = options(4);
    let r = common::roundtrip_with(&data, &o, &DecodeOptions::default(), initial_bound(&o));
    assert_eq!(r.model, "mnist");
    assert_eq!(r.blocks, 3, "one chunk-start image, three bits-back images");
    assert_eq!(r.raw_chunks, 1, "the IDX header is stored as a raw chunk");
    assert!(r.kl_bits >= 0.0);
}

/// Importance-weighted bits-back on the shipped images: the same identities (the
/// particle choice is part of the coded length), on one and on two threads.
#[test]
fn shipped_images_roundtrip_with_importance_weighting() {
    let data = sample();
    let mut o = options(4);
    o.fit.posterior = bbcodec::PosteriorKind::ImportanceWeighted(4);
    let r = common::roundtrip_with(&data, &o, &DecodeOptions::default(), initial_bound(&o));
    assert_eq!(r.blocks, 3);
    o.threads = 1;
    let (a, _) = compress(&data, &o).unwrap();
    o.threads = 2;
    assert!(compress(&data, &o).unwrap().0 == a);
    // Coupled particles: no ramp, the three bits-back images code with 4 each.
    o.fit.posterior = bbcodec::PosteriorKind::CoupledImportanceWeighted(4);
    let r = common::roundtrip_with(&data, &o, &DecodeOptions::default(), initial_bound(&o));
    assert_eq!(r.particles, 4);
}

#[test]
fn output_does_not_depend_on_threads() {
    let data = sample();
    let mut o = options(2);
    o.threads = 1;
    let (a, _) = compress(&data, &o).unwrap();
    o.threads = 2;
    let (b, _) = compress(&data, &o).unwrap();
    assert!(a == b);
    let (back, _) = decompress(
        &a,
        &DecodeOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(back == data);
}

#[test]
fn coded_likelihood_matches_the_continuous_one() {
    // The fixed-point CDF loses at most one unit of 2^-24 per bin edge and spreads
    // 256 units of leak: far below 0.001 bits per pixel for any pixel the model gives
    // p >= 1e-3. An off-by-one edge or a wrong neighbour at decode costs whole bits.
    let m = builtin_mnist_model().unwrap();
    let images = read_images(&sample()).unwrap();
    let mut ws = Workspace::default();
    for x in &images {
        let q = m.initial_posterior(x).unwrap();
        let cont = m.log_lik(x, &q.mu, None, None, &mut ws) / std::f64::consts::LN_2;
        let mut lik = m.block_likelihood(&q.mu, PIXELS);
        let mut coded = 0.0;
        for j in 0..PIXELS {
            coded += lik.position(j, &x[..j]).unwrap().log2_prob(x[j] as usize);
        }
        assert!(
            (coded - cont).abs() < 1.0,
            "coded {coded} vs continuous {cont}"
        );
    }
}

#[test]
fn inputs_that_are_not_28x28_idx_images_are_clean_errors() {
    let data = sample();
    let o = options(4);
    let text = b"this is not an IDX file, it is text that goes on for a while".to_vec();
    let mut short = data.clone();
    short.truncate(data.len() - 100);
    let mut extra = data.clone();
    extra.extend_from_slice(&[0u8; 784]);
    let mut small = data.clone();
    small[11] = 27; // rows = 27
    let mut empty_count = data[..16].to_vec();
    empty_count[7] = 0;
    for (what, bad, expect) in [
        ("text", text, "IDX"),
        ("truncated", short, "declares 4 images"),
        ("an extra image", extra, "declares 4 images"),
        ("27 rows", small, "28x28"),
        ("header only, count 0", empty_count.clone(), ""),
    ] {
        match compress(&bad, &o) {
            Err(e) => assert!(e.to_string().contains(expect), "{what}: {e}"),
            Ok((file, _)) => {
                // Only an empty image file is valid: it round-trips.
                assert!(bad == empty_count, "{what}: accepted");
                assert!(decompress(&file, &DecodeOptions::default()).unwrap().0 == bad);
            }
        }
    }
}

#[test]
fn wrong_weights_are_a_clear_error() {
    let data = sample();
    let (file, _) = compress(&data, &options(4)).unwrap();
    let dims = MnistDims {
        latent: 16,
        enc_hidden: 8,
        dec_hidden: 8,
        ..Default::default()
    };
    let other = MnistModel::from_bytes(&init_model(dims, 1).unwrap().to_bytes()).unwrap();
    let d = DecodeOptions {
        models: vec![ModelConfig::Mnist(MnistConfig {
            weights: Some(Arc::new(other)),
            ..Default::default()
        })],
        ..Default::default()
    };
    let e = decompress(&file, &d).unwrap_err().to_string();
    assert!(e.contains("coded with mnist model"), "{e}");
}

#[test]
fn training_is_deterministic_across_thread_counts() {
    let images = read_images(&sample()).unwrap();
    let config = TrainConfig {
        dims: MnistDims {
            latent: 2,
            enc_hidden: 16,
            dec_hidden: 16,
            ctx_hidden: 8,
            ..Default::default()
        },
        epochs: 2,
        batch: 2,
        shards: 2,
        ..Default::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut stats = Vec::new();
        let m = pool.install(|| train(&images, &config, |s, _| stats.push(s.clone())).unwrap());
        (m.to_bytes(), stats)
    };
    let (a, sa) = run(1);
    let (b, sb) = run(2);
    assert!(a == b, "weights differ between 1 and 2 threads");
    assert_eq!(sa, sb);
    assert!(sa.iter().all(|s| s.neg_elbo_bpp.is_finite()));
}

#[test]
fn held_out_rate_beats_xz_and_matches_neg_elbo() {
    // xz -9 codes images 8000..9999 at 1.46 bits per pixel (measured
    // by `cargo bench --bench mnist`). On 64 of them the all-in rate must be below it,
    // and the net rate within 6 sigma of -ELBO, sigma^2 the popped latents' variance
    // plus the Monte Carlo variance of the -ELBO estimate (`common::rate_sigma`). Each
    // image's term is a smooth function of its 16 binned Gaussian coordinates (no far,
    // costly latents as with a categorical), and the 64 images are independent, so
    // their sum is close to normal: P(|gap| > 6 sigma) is about 2e-9.
    let Some(gz) = common::corpus_file("t10k-images-idx3-ubyte.gz") else {
        return;
    };
    let images = read_images(&gz).unwrap();
    let n = 64;
    let mut file = IdxHeader::bytes_for(n as u32).to_vec();
    for x in &images[8000..8000 + n] {
        file.extend(x.iter().map(|&v| v as u8));
    }
    let o = options(32);
    let r = common::roundtrip_with(&file, &o, &DecodeOptions::default(), initial_bound(&o));
    let bpp = 8.0 * r.compressed_bytes as f64 / (n * PIXELS) as f64;
    assert!(bpp < 1.46, "all-in {bpp} bits per pixel");
    let gap = r.net_bits - r.neg_elbo_bits;
    let sigma = common::rate_sigma(&r);
    assert!(
        gap.abs() <= 6.0 * sigma + common::ans_tolerance(&r),
        "net {} vs -ELBO {}: gap {gap}, sigma {sigma}",
        r.net_bits,
        r.neg_elbo_bits
    );
    eprintln!(
        "64 held-out images: {bpp:.4} bits/pixel all-in, net {:.4}, -ELBO {:.4}",
        r.net_bits / (r.blocks as f64 * PIXELS as f64),
        r.neg_elbo_bits / (r.blocks as f64 * PIXELS as f64)
    );
}
