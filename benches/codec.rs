//! Benchmarks: raw ANS push/pop, one BBVI fit per block per estimator and family (the
//! mixture's estimators, the linear-Gaussian and the image model), the bits-back chain
//! alone with the exact posterior, the mixture's parameter search, and end-to-end encode/decode throughput (on a corpus file when `../shared/corpus` is present).
//! `cargo test` runs each once as a smoke test; `cargo bench` measures.

use std::path::PathBuf;

use bbcodec::categorical::QuantizedCategorical;
use bbcodec::inference::{posterior_fit, Estimator, FitConfig, PosteriorKind};
use bbcodec::rng::BlockRng;
use bbcodec::{compress, decompress, DecodeOptions};
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn sample() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/alice29.txt");
    std::fs::read(p).unwrap_or_else(|_| {
        (0..150_000u32)
            .map(|i| {
                b"the quick brown fox jumps over the lazy dog "[(i % 44) as usize]
                    ^ ((i / 4096) as u8 & 1)
            })
            .collect()
    })
}

fn ans(c: &mut Criterion) {
    let model = QuantizedCategorical::from_int_weights(&(1..=256u64).collect::<Vec<_>>()).unwrap();
    let symbols: Vec<usize> = (0..100_000).map(|i| (i * 7919) % 256).collect();
    let mut g = c.benchmark_group("ans");
    g.throughput(Throughput::Elements(symbols.len() as u64));
    g.bench_function("push", |b| {
        b.iter(|| {
            let mut coder = DefaultAnsCoder::new();
            for &s in symbols.iter().rev() {
                coder.encode_symbol(s, &model).unwrap();
            }
            coder.into_compressed().unwrap()
        })
    });
    let mut coder = DefaultAnsCoder::new();
    for &s in symbols.iter().rev() {
        coder.encode_symbol(s, &model).unwrap();
    }
    let words = coder.into_compressed().unwrap();
    g.bench_function("pop", |b| {
        b.iter(|| {
            let mut coder = DefaultAnsCoder::from_compressed(words.clone()).unwrap();
            let mut acc = 0usize;
            for _ in 0..symbols.len() {
                acc += coder.decode_symbol(&model).unwrap();
            }
            acc
        })
    });
    g.finish();
}

fn fit(c: &mut Criterion) {
    let lj: Vec<f64> = (0..16)
        .map(|k| -400.0 - ((k * 37) % 11) as f64 * 3.5)
        .collect();
    let mut g = c.benchmark_group("posterior_fit_k16");
    for (name, posterior) in [
        ("score", PosteriorKind::Bbvi(Estimator::ScoreFunction)),
        (
            "score-eq8",
            PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
        ),
        ("naive", PosteriorKind::Bbvi(Estimator::Naive)),
        ("exact", PosteriorKind::Exact),
        ("map", PosteriorKind::Map),
    ] {
        let cfg = FitConfig {
            posterior,
            ..FitConfig::default()
        };
        g.bench_with_input(BenchmarkId::from_parameter(name), &cfg, |b, cfg| {
            b.iter(|| posterior_fit(&lj, cfg, &mut BlockRng::for_block(1, 2, 3), None))
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let data = sample();
    let mut g = c.benchmark_group("end_to_end");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, posterior) in [
        ("bbvi", PosteriorKind::Bbvi(Estimator::ScoreFunction)),
        ("exact", PosteriorKind::Exact),
    ] {
        let mut o = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture);
        o.fit.posterior = posterior;
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| compress(&data, &o).unwrap())
        });
        let (file, _) = compress(&data, &o).unwrap();
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| decompress(&file, &DecodeOptions::default()).unwrap())
        });
        // Plain decompression (`decode -q`): no rate accounting.
        let plain = DecodeOptions {
            skip_accounting: true,
            ..Default::default()
        };
        g.bench_function(format!("decode_{name}_plain"), |b| {
            b.iter(|| decompress(&file, &plain).unwrap())
        });
    }
    g.finish();
}

/// The bits-back chain alone with the exact posterior, on a mixture fitted once: what
/// coding costs per core without the encoder's parameter search, the parameter coding
/// and the container.
fn chain(c: &mut Criterion) {
    use bbcodec::model::mixture::{MixtureFitOptions, MixtureModel};
    use bbcodec::DiscreteBitsBackCoder;
    let data = sample();
    let symbols: Vec<u16> = data.iter().map(|&b| b as u16).collect();
    let blocks: Vec<&[u16]> = symbols.chunks(64).collect();
    let model = MixtureModel::fit(&blocks, 256, &MixtureFitOptions::default());
    let config = FitConfig {
        posterior: PosteriorKind::Exact,
        ..FitConfig::default()
    };
    let mut g = c.benchmark_group("chain_exact");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for accounting in [true, false] {
        let coder = DiscreteBitsBackCoder::new(&model, 64, config).with_accounting(accounting);
        let name = if accounting { "" } else { "_plain" };
        g.bench_function(format!("encode{name}"), |b| {
            b.iter(|| coder.encode(&symbols, 0).unwrap())
        });
        let enc = coder.encode(&symbols, 0).unwrap();
        g.bench_function(format!("decode{name}"), |b| {
            b.iter(|| {
                coder
                    .decode(&enc.words, symbols.len(), enc.bootstrap_blocks, 0)
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// The encoder's parameter search for the mixture (K chosen by size, EM on a subsample,
/// refined on every block) on one chunk: one core (`sequential`, the candidates one
/// after the other until the search stops) and the current pool (`pool`, all candidates
/// at once).
fn mixture_search(c: &mut Criterion) {
    use bbcodec::model::mixture::{fit_params, MixtureFitOptions};
    let data = sample();
    let symbols: Vec<u16> = data.iter().map(|&b| b as u16).collect();
    let blocks: Vec<&[u16]> = symbols.chunks(64).collect();
    let mut g = c.benchmark_group("mixture_search");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, parallel) in [("sequential", false), ("pool", true)] {
        let options = MixtureFitOptions {
            parallel,
            ..Default::default()
        };
        g.bench_function(name, |b| b.iter(|| fit_params(&blocks, 256, &options)));
    }
    g.finish();
}

fn gaussian_fits(c: &mut Criterion) {
    use bbcodec::inference::gaussian::{reparam_fit, ReparamConfig};
    use bbcodec::model::LinearGaussian;
    let (d, n) = (4, 64);
    let w: Vec<f64> = (0..n * d)
        .map(|i| (((i * 37) % 17) as f64 - 8.0) / 3.0)
        .collect();
    let b: Vec<f64> = (0..n).map(|j| 100.0 + j as f64).collect();
    let m = LinearGaussian {
        d,
        n,
        w,
        b,
        noise_sd: 2.0,
        alphabet: 256,
    };
    let x: Vec<f64> = m
        .mean(&[0.5, -1.0, 0.2, 0.8])
        .iter()
        .map(|v| v.round())
        .collect();
    let mut g = c.benchmark_group("linear_gaussian_fit_d4_n64");
    g.bench_function("cavi_20_sweeps", |bch| bch.iter(|| m.cavi(&x, 20)));
    let cfg = ReparamConfig {
        iterations: 64,
        samples: 4,
        learning_rate: 0.1,
    };
    g.bench_function("reparam_64x4", |bch| {
        bch.iter(|| {
            reparam_fit(
                bbcodec::inference::gaussian::DiagGaussian::standard(d),
                &cfg,
                &mut BlockRng::for_block(1, 2, 3),
                &mut |z, gr| m.log_density_grad(&x, z, gr),
                None,
            )
        })
    });
    g.finish();
}

/// The image model on one held-out MNIST image: the amortized encoder, one gradient
/// of `log p(x | z)`, the default per-image fit (32 reparameterization steps from the
/// encoder's output), and the pixel coding distributions of one image.
fn image_fit(c: &mut Criterion) {
    use bbcodec::inference::gaussian::{reparam_fit, ReparamConfig};
    use bbcodec::model::mnist::{builtin_mnist_model, PIXELS};
    use bbcodec::model::ContinuousLatentModel;
    let file =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/mnist4.idx"))
            .unwrap();
    let x = bbcodec::model::mnist::idx::read_images(&file)
        .unwrap()
        .remove(1);
    let m = builtin_mnist_model().unwrap();
    let d = m.latent_dim();
    let mut g = c.benchmark_group("mnist_model");
    g.bench_function("encoder", |b| b.iter(|| m.initial_posterior(&x)));
    let q0 = m.initial_posterior(&x).unwrap();
    let mut grad = vec![0.0; d];
    g.bench_function("log_lik_grad", |b| {
        b.iter(|| m.log_lik_grad(&x, &q0.mu, &mut grad))
    });
    let cfg = ReparamConfig {
        iterations: 32,
        samples: 1,
        learning_rate: 0.05,
    };
    g.bench_function("fit_32x1", |b| {
        b.iter(|| {
            reparam_fit(
                q0.clone(),
                &cfg,
                &mut BlockRng::for_block(1, 2, 3),
                &mut |z, gr| m.log_lik_grad(&x, z, gr),
                None,
            )
        })
    });
    g.bench_function("code_pixels", |b| {
        b.iter(|| {
            let mut lik = m.block_likelihood(&q0.mu, PIXELS);
            let mut bits = 0.0;
            for j in 0..PIXELS {
                bits += lik.position(j, &x[..j]).unwrap().log2_prob(x[j] as usize);
            }
            bits
        })
    });
    g.finish();
}

/// The context-mixing predictor on one thread: predict and learn every bit of
/// alice29.txt, its tables sized for the file (allocation included), with the specs of
/// level 1 and of levels 4-9, each in the build of its shape.
fn cm_predictor(c: &mut Criterion) {
    use bbcodec::model::cm::{Predictor, FULL, LEAN};
    let data = sample();
    let mut g = c.benchmark_group("cm_predictor");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, spec) in [("level1", LEAN), ("full", FULL)] {
        g.bench_function(format!("predict_and_learn_{name}"), |b| {
            b.iter(|| {
                let mut p = Predictor::with_spec(Predictor::bits_for(data.len(), 22), spec);
                let (mut acc, mut t) = (0u64, 0);
                let _ = p.run::<std::convert::Infallible>(8 * data.len(), |p1| {
                    acc += p1 as u64;
                    let bit = (data[t >> 3] >> (7 - (t & 7))) as u32 & 1;
                    t += 1;
                    Ok(bit)
                });
                acc
            })
        });
    }
    g.finish();
}

/// The cm file coder at levels 1 and 6 on alice29.txt, one thread, the BBVI fit on
/// both sides (decoding without the rate report). Its speed as a ratio to zpaq -m5's,
/// run alternately on the same file, is `scripts/vs-zpaq.sh`'s.
fn cm_codec(c: &mut Criterion) {
    use bbcodec::model::CmConfig;
    let data = sample();
    let mut g = c.benchmark_group("cm_codec");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for level in [1u8, 6] {
        let mut o = bbcodec::EncodeOptions::with_model(bbcodec::ModelConfig::Cm(CmConfig {
            level,
            ..CmConfig::default()
        }));
        o.threads = 1;
        g.bench_function(format!("encode_level{level}"), |b| {
            b.iter(|| compress(&data, &o).unwrap())
        });
        let (file, _) = compress(&data, &o).unwrap();
        let plain = DecodeOptions {
            skip_accounting: true,
            threads: 1,
            ..Default::default()
        };
        g.bench_function(format!("decode_level{level}"), |b| {
            b.iter(|| decompress(&file, &plain).unwrap())
        });
    }
    g.finish();
}

/// Importance-weighted bits-back on 32 MNIST images (the four shipped ones eight times),
/// one chunk, so that past the chunk start the particles ramp up to `N` (one more each
/// image; coupled particles, `cis-N`, need no ramp): encode (its report's IWAE on 16
/// draws) and decode (no report) per particle count, one thread.
fn importance_weighted(c: &mut Criterion) {
    let idx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/mnist4.idx");
    let four = std::fs::read(idx).unwrap();
    let mut data = four[..16].to_vec();
    data[4..8].copy_from_slice(&32u32.to_be_bytes());
    for _ in 0..8 {
        data.extend_from_slice(&four[16..]);
    }
    let mut g = c.benchmark_group("iw_mnist32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(32));
    for (name, posterior) in [
        ("1", PosteriorKind::ImportanceWeighted(1)),
        ("4", PosteriorKind::ImportanceWeighted(4)),
        ("16", PosteriorKind::ImportanceWeighted(16)),
        ("cis-4", PosteriorKind::CoupledImportanceWeighted(4)),
        ("cis-16", PosteriorKind::CoupledImportanceWeighted(16)),
    ] {
        let mut o = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mnist);
        o.fit.posterior = posterior;
        o.threads = 1;
        // The report's reference with 16 draws whatever N (its default, 16 N, would
        // measure the accounting more than the coding).
        o.iwae_samples = 16;
        g.bench_with_input(BenchmarkId::new("encode", name), &o, |b, o| {
            b.iter(|| compress(&data, o).unwrap())
        });
        let (file, _) = compress(&data, &o).unwrap();
        let plain = DecodeOptions {
            skip_accounting: true,
            threads: 1,
            ..Default::default()
        };
        g.bench_with_input(BenchmarkId::new("decode", name), &file, |b, f| {
            b.iter(|| decompress(f, &plain).unwrap())
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    importance_weighted,
    cm_predictor,
    cm_codec,
    ans,
    fit,
    gaussian_fits,
    chain,
    mixture_search,
    end_to_end,
    image_fit
);
criterion_main!(benches);
