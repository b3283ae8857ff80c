//! Shared test helpers: the one round-trip helper, the corpus, synthetic data.
#![allow(dead_code)]

use std::path::PathBuf;

use bbcodec::model::MixtureConfig;
use bbcodec::{
    compress, decompress, DecodeOptions, EncodeOptions, Estimator, ModelConfig, PosteriorKind,
    RateReport,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `../shared/corpus` next to the project, if present. Tests that need it report
/// `SKIPPED` on stderr when it is absent; with `BBCODEC_REQUIRE_CORPUS=1` (set by
/// `.ci/run` where the corpus is present) its absence is a failure instead, so CI
/// cannot silently skip them.
pub fn corpus_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var_os("BBCODEC_REQUIRE_CORPUS").is_none(),
        "BBCODEC_REQUIRE_CORPUS is set but {} is absent",
        d.display()
    );
    eprintln!("SKIPPED: ../shared/corpus is absent");
    None
}

/// Every file of the corpus (name, bytes); empty (and a note) when it is absent.
pub fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let Some(d) = corpus_dir() else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// One corpus file, if present.
pub fn corpus_file(name: &str) -> Option<Vec<u8>> {
    corpus_dir().and_then(|d| std::fs::read(d.join(name)).ok())
}

/// ANS tolerance of `|net_bits - coded_bits|`: the measured stack growth against the
/// exact code length of what was pushed and popped.
///
/// `num_valid_bits` reads the stack to within 1 bit at each end of a chunk (2 bits per
/// chunk), and each push or pop with probability `p` on a state `x >= 2^32` is off its
/// ideal cost by at most `log2(1 + p/x)`; with `x` spread over `[2^32, 2^64)` the mean
/// magnitude is below `1e-4` bits per symbol.
pub fn ans_tolerance(r: &RateReport) -> f64 {
    2.0 * r.chunks as f64 + 1e-4 * r.input_bytes as f64
}

/// Standard deviation of `coded_bits - neg_elbo_bits`: the popped latents' noise and,
/// for continuous latents, the Monte Carlo error of the `-ELBO` estimate (independent
/// draws, so the variances add).
pub fn rate_sigma(r: &RateReport) -> f64 {
    (r.net_stderr_bits * r.net_stderr_bits + r.neg_elbo_stderr_bits * r.neg_elbo_stderr_bits).sqrt()
}

/// Sampling tolerance of `|coded_bits - neg_elbo_bits|`: `30 sigma` ([`rate_sigma`]).
///
/// If the popped latents are fair samples of the fitted `Q`s (what the pop decorrelator
/// in `chain` is for), `coded_bits` is a sum of independent block terms with mean
/// `-ELBO` and variance `sum Var_Q[ell]` (the report's `net_stderr_bits` squared). The
/// per-block distribution is heavy-tailed: BBVI leaves ~1e-3 of mass on latents that
/// cost ~1000 bits more, so a Gaussian 5-sigma rule fails far more often than 1e-6. By
/// Chebyshev, `P(|gap| > 30 sigma) <= 1/900` whatever the distribution. The second term
/// is float rounding: `net_bits` and `neg_elbo_bits` are sums of up to ~1e6 f64 block
/// terms in different orders, each sum off by at most `n * 2^-53` of its magnitude,
/// below `1e-9` of it together.
pub fn sampling_tolerance(r: &RateReport) -> f64 {
    30.0 * rate_sigma(r) + 1e-9 * r.neg_elbo_bits.abs()
}

/// Both tolerances together, for `|net_bits - neg_elbo_bits|`.
pub fn rate_tolerance(r: &RateReport) -> f64 {
    ans_tolerance(r) + sampling_tolerance(r)
}

/// Compress, decompress, compare, and check the rate identities. Returns the report.
pub fn roundtrip(data: &[u8], opts: &EncodeOptions) -> RateReport {
    roundtrip_with(data, opts, &DecodeOptions::default(), 64.0)
}

/// [`roundtrip`] with decode options and a bound on the chunk-start cost per chunk
/// (64 bits for byte models, whose chunk starts code blocks until the stack holds 64
/// bits; more for models whose first block alone fills the stack, where the start is
/// one block coded with its MAP latent).
pub fn roundtrip_with(
    data: &[u8],
    opts: &EncodeOptions,
    dopts: &DecodeOptions,
    initial_per_chunk: f64,
) -> RateReport {
    let (file, enc) = compress(data, opts).expect("compress");
    let (back, dec) = decompress(&file, dopts).expect("decompress");
    assert_eq!(back.len(), data.len(), "length differs");
    assert!(back == data, "bytes differ");
    assert_eq!(enc.compressed_bytes, file.len() as u64);
    assert_eq!(dec.compressed_bytes, file.len() as u64);
    // The decoder re-measures the same stack, block by block.
    assert_eq!(enc.net_bits, dec.net_bits);
    assert_eq!(enc.neg_elbo_bits.to_bits(), dec.neg_elbo_bits.to_bits());
    assert_eq!(enc.initial_bits, dec.initial_bits);
    // Deterministic: the stack grew by the code length of what was coded.
    let ans = (enc.net_bits - enc.coded_bits).abs();
    assert!(
        ans <= ans_tolerance(&enc),
        "net {} vs coded {}",
        enc.net_bits,
        enc.coded_bits
    );
    // Statistical: the popped latents are samples of Q.
    let gap = (enc.net_bits - enc.neg_elbo_bits).abs();
    assert!(
        gap <= rate_tolerance(&enc),
        "net {} vs -ELBO {}: gap {gap} > tolerance {}",
        enc.net_bits,
        enc.neg_elbo_bits,
        rate_tolerance(&enc)
    );
    // (`overhead - KL` is the same number as `net - (-ELBO)`, checked above.) The
    // predicted overhead is a KL divergence: never negative where `-log2 P(x)` is exact
    // (Gibbs' inequality; 1e-9 relative is float rounding of the sums), and negative
    // only within the Monte Carlo error of `-ELBO` where it is an IWAE estimate (which
    // is an upper bound on `-log2 P(x)` in expectation, so KL is if anything too small).
    let floor = if enc.neg_log_px_method == "exact" {
        -1e-9 * enc.neg_elbo_bits.abs().max(1.0)
    } else {
        -30.0 * enc.neg_elbo_stderr_bits - 1e-9 * enc.neg_elbo_bits.abs().max(1.0)
    };
    assert!(enc.kl_bits >= floor, "KL {} below {floor}", enc.kl_bits);
    // Every bit of the file is accounted for, against the file's own structure: the
    // stored parameters and raw chunks are what the records hold, and what the report
    // calls container is the framing the records leave (everything but parameters,
    // words and raw bytes) plus the unused top bits of each chunk's last ANS words,
    // which hold between 0 and 64 bits (the state is two words).
    check_accounting(&file, &enc);
    check_accounting(&file, &dec);
    // Chunk starts cost less than the bound each.
    assert!(
        enc.initial_bits < initial_per_chunk * enc.chunks.max(1) as f64,
        "initial {}",
        enc.initial_bits
    );
    enc
}

/// What the records of a file hold: (parameter bytes, ANS words, raw bytes, coded
/// chunks), read with the container's reader.
pub fn stored_parts(file: &[u8]) -> (u64, u64, u64, u64) {
    use bbcodec::container::{MemberReader, Record};
    let mut input = file;
    let mut reader = MemberReader::new(&mut input, &[]).expect("a valid header");
    let (mut params, mut words, mut raw, mut coded) = (0, 0, 0, 0);
    while let Some(r) = reader.next_record().expect("a valid record") {
        match r {
            Record::Coded {
                params: p,
                segments,
                ..
            } => {
                params += p.len() as u64;
                words += segments.iter().map(|s| s.words.len() as u64).sum::<u64>();
                coded += 1;
            }
            Record::Raw { data, .. } => raw += data.len() as u64,
        }
    }
    (params, words, raw, coded)
}

/// The report's size terms against the file's records (see [`roundtrip_with`]).
pub fn check_accounting(file: &[u8], r: &RateReport) {
    let (params, words, raw, coded) = stored_parts(file);
    assert_eq!(r.header_bits, 8.0 * params as f64, "header_bits");
    assert_eq!(r.raw_bits, 8.0 * raw as f64, "raw_bits");
    let framing = 8.0 * (file.len() as u64 - params - 4 * words - raw) as f64;
    // The words hold the chunk starts and the bits-back blocks, and at most 64 unused
    // bits per chunk.
    let unused = 32.0 * words as f64 - (r.net_bits + r.bootstrap_bits);
    assert!(
        (0.0..=64.0 * coded as f64).contains(&unused),
        "{unused} unused bits in {words} words of {coded} chunks"
    );
    // So the container is the framing plus those unused bits, never less, and never
    // negative.
    assert!(
        r.container_bits >= framing - 1e-6
            && r.container_bits <= framing + 64.0 * coded as f64 + 1e-6,
        "container {} bits, framing {framing} bits, {coded} coded chunks",
        r.container_bits
    );
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; n];
    r.fill_bytes(&mut v);
    v
}

/// Blocks drawn from a known mixture of `k` byte distributions (each concentrated on a
/// different random subset of 24 symbols), `block` bytes per block.
pub fn mixture_data(blocks: usize, block: usize, k: usize, seed: u64) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let comps: Vec<Vec<u8>> = (0..k)
        .map(|_| (0..24).map(|_| (r.next_u32() & 0xFF) as u8).collect())
        .collect();
    let mut out = Vec::with_capacity(blocks * block);
    for _ in 0..blocks {
        let c = &comps[(r.next_u32() as usize) % k];
        for _ in 0..block {
            // 15/16: one of the component's symbols; 1/16: any byte.
            let u = r.next_u32();
            if u & 15 == 0 {
                out.push((u >> 8) as u8);
            } else {
                out.push(c[(u >> 8) as usize % c.len()]);
            }
        }
    }
    out
}

/// The default options with the mixture's posterior fitted by BBVI (score-function
/// estimator, the default iterations and samples) instead of enumerated.
pub fn bbvi() -> EncodeOptions {
    let mut o = bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture);
    o.fit.posterior = PosteriorKind::Bbvi(Estimator::ScoreFunction);
    o
}

/// [`bbvi`] options with a given block size, chunk size and fixed component count.
pub fn options(block: u32, chunk: u32, k: Option<u8>) -> EncodeOptions {
    let mixture = MixtureConfig {
        fixed_components: k,
        max_components: k.map_or(32, |k| k.max(32)),
    };
    EncodeOptions {
        block_size: block,
        chunk_size: chunk,
        model: ModelConfig::Mixture(mixture),
        ..bbvi()
    }
}

/// A version 1 file header (layout in `bbcodec::container::v1`) with a correct CRC,
/// written here byte by byte: the fields a test wants to forge or to replay behind.
#[derive(Clone, Copy, Debug)]
pub struct V1Header {
    /// Model byte (0 mixture, 1 logistic, 2 mnist).
    pub model: u8,
    /// Posterior byte (0 bbvi, 1 exact, 2 map).
    pub posterior: u8,
    /// Estimator byte.
    pub estimator: u8,
    /// Block size.
    pub block: u32,
    /// Chunk size.
    pub chunk: u32,
    /// BBVI iterations.
    pub iters: u32,
    /// BBVI samples.
    pub samples: u32,
    /// BBVI learning rate.
    pub lr: f32,
    /// Bytes 28..32, the model's fields.
    pub fields: [u8; 4],
}

impl Default for V1Header {
    /// The mixture with its exact posterior, as version 1 wrote it by default.
    fn default() -> Self {
        Self {
            model: 0,
            posterior: 1,
            estimator: 0,
            block: 64,
            chunk: 1 << 18,
            iters: 64,
            samples: 64,
            lr: 0.7,
            fields: [32, 0, 0, 0],
        }
    }
}

impl V1Header {
    /// The 44 header bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = b"BBCd\x01".to_vec();
        b.extend_from_slice(&[self.model, self.posterior, self.estimator]);
        for v in [
            self.block,
            self.chunk,
            self.iters,
            self.samples,
            self.lr.to_bits(),
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.fields);
        b.extend_from_slice(&0x6262_636f_6465_6331u64.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }
}

/// The names in `dir`, sorted.
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
